//! Harvest shape: requests built to buy as much output as possible.

use dw_domain::RequestRecord;

use super::{Signal, share_of};

/// A `max_tokens` at or above this asks for a long answer.
pub const LONG_BUDGET_TOKENS: i32 = 2000;

pub(super) fn signals(requests: &[RequestRecord]) -> Vec<Signal> {
    vec![
        known_share(requests, "long_budget_share", "max_tokens", |r| r.max_tokens.map(|m| m >= LONG_BUDGET_TOKENS)),
        known_share(requests, "multi_sample_share", "n", |r| r.n.map(|n| n > 1)),
        known_share(requests, "logprobs_share", "logprobs", |r| r.logprobs),
        length_stop_share(requests),
        output_ratio(requests),
    ]
}

/// Share of requests where a parameter is true, among those whose log
/// carried it; not computed when none did.
fn known_share(
    requests: &[RequestRecord],
    name: &'static str,
    parameter: &str,
    test: impl Fn(&RequestRecord) -> Option<bool>,
) -> Signal {
    let known = requests.iter().filter(|r| test(r).is_some()).count();
    if known == 0 {
        return Signal::not_computed(name, format!("no request logged `{parameter}`"));
    }
    let (count, examples) = share_of(requests, |r| test(r) == Some(true));
    Signal::computed(
        name,
        count as f64 / known as f64,
        format!("{count} of {known} requests that logged `{parameter}`"),
        examples,
    )
}

fn length_stop_share(requests: &[RequestRecord]) -> Signal {
    let known = requests.iter().filter(|r| r.finish_reason.is_some()).count();
    if known == 0 {
        return Signal::not_computed("length_stop_share", "no finish reasons logged");
    }
    let (count, examples) = share_of(requests, |r| r.finish_reason.as_deref() == Some("length"));
    Signal::computed(
        "length_stop_share",
        count as f64 / known as f64,
        format!("{count} of {known} answers stopped at max_tokens"),
        examples,
    )
}

/// Median completion tokens per prompt token.
fn output_ratio(requests: &[RequestRecord]) -> Signal {
    let mut ratios: Vec<f64> = requests
        .iter()
        .filter_map(|r| Some(f64::from(r.completion_tokens?) / f64::from(r.prompt_tokens?.max(1))))
        .collect();
    if ratios.is_empty() {
        return Signal::not_computed("output_ratio", "no token counts logged");
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    Signal::computed(
        "output_ratio",
        median,
        format!("median {median:.1} completion tokens per prompt token over {} requests", ratios.len()),
        Vec::new(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::request;
    use super::*;

    #[test]
    fn parameters_not_logged_are_unknown_not_false() {
        let mut requests: Vec<_> = (0..4).map(|i| request(i, 0, "p")).collect();
        let signals = signals(&requests);
        assert!(signals.iter().all(|s| s.value.is_none()), "{signals:?}");
        requests[0].logprobs = Some(true);
        requests[1].logprobs = Some(false);
        let logprobs = signals_named(&requests, "logprobs_share");
        assert_eq!(logprobs.value, Some(0.5), "two of four logged it; one of those asked");
        assert_eq!(logprobs.examples, vec!["e0"]);
    }

    fn signals_named(requests: &[RequestRecord], name: &str) -> Signal {
        signals(requests).into_iter().find(|s| s.name == name).unwrap()
    }
}
