//! Conversation shape: people converse and re-ask, harvesters fire
//! independent tasks.

use std::collections::HashSet;

use dw_domain::RequestRecord;

use super::{Signal, share_of};

pub(super) fn signals(requests: &[RequestRecord]) -> Vec<Signal> {
    vec![single_turn_share(requests), repeat_share(requests)]
}

/// Share of requests with no earlier turn in the request, among those whose
/// log keeps the conversation. When most of them come from a source that
/// logs the last message only, the signal is not computed: an unlogged
/// history is unknown, not a single turn.
fn single_turn_share(requests: &[RequestRecord]) -> Signal {
    let known = requests.iter().filter(|r| r.prior_turns.is_some()).count();
    if known * 2 < requests.len() {
        return Signal::not_computed(
            "single_turn_share",
            format!("the log keeps only the last message of {} of {} requests", requests.len() - known, requests.len()),
        );
    }
    let (count, examples) = share_of(requests, |r| r.prior_turns == Some(0));
    Signal::computed(
        "single_turn_share",
        count as f64 / known.max(1) as f64,
        format!("{count} of {known} requests single-turn"),
        examples,
    )
}

/// Share of requests whose prompt (case and spacing aside) the account had
/// already sent in the window: developers and evaluation re-runs re-ask,
/// and so do harvesters sampling several answers to one prompt.
fn repeat_share(requests: &[RequestRecord]) -> Signal {
    let mut seen = HashSet::new();
    let mut repeats = 0;
    let mut examples = Vec::new();
    for r in requests {
        let key: String = r.prompt.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        if !seen.insert(key) {
            repeats += 1;
            if examples.len() < 3 {
                examples.push(r.event_id.clone());
            }
        }
    }
    Signal::computed(
        "repeat_share",
        repeats as f64 / requests.len().max(1) as f64,
        format!("{repeats} of {} requests repeat an earlier prompt", requests.len()),
        examples,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::test_support::request;

    #[test]
    fn an_unlogged_history_is_unknown_not_single_turn() {
        let mut requests: Vec<RequestRecord> = (0..10).map(|i| request(i, i as i64, "p")).collect();
        for r in &mut requests[..4] {
            r.prior_turns = Some(2);
        }
        let logged = single_turn_share(&requests);
        assert_eq!((logged.value, logged.detail.as_str()), (Some(0.6), "6 of 10 requests single-turn"));
        // Six of the ten from a source that keeps the last message only.
        for r in &mut requests[4..] {
            r.prior_turns = None;
        }
        let unknown = single_turn_share(&requests);
        assert_eq!(unknown.value, None);
        assert_eq!(unknown.detail, "not computed: the log keeps only the last message of 6 of 10 requests");
        // A few such requests among many logged ones: read on the logged ones.
        requests[4].prior_turns = Some(0);
        requests[5].prior_turns = Some(0);
        let some = single_turn_share(&requests);
        assert_eq!((some.value, some.detail.as_str()), (Some(2.0 / 6.0), "2 of 6 requests single-turn"));
    }
}
