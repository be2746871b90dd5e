//! Conversation shape: people converse and re-ask, harvesters fire
//! independent tasks.

use std::collections::HashSet;

use dw_domain::RequestRecord;

use super::{Family, Signal, share_of};

pub(super) fn signals(requests: &[RequestRecord]) -> Vec<Signal> {
    vec![single_turn_share(requests), repeat_share(requests)]
}

/// Share of requests with no earlier turn in the request.
fn single_turn_share(requests: &[RequestRecord]) -> Signal {
    let (count, examples) = share_of(requests, |r| r.prior_turns == 0);
    Signal::computed(
        "single_turn_share",
        Family::ConversationShape,
        count as f64 / requests.len().max(1) as f64,
        format!("{count} of {} requests single-turn", requests.len()),
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
        Family::ConversationShape,
        repeats as f64 / requests.len().max(1) as f64,
        format!("{repeats} of {} requests repeat an earlier prompt", requests.len()),
        examples,
    )
}
