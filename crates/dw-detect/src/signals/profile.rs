//! What the provider knows of the account: how new it was when it started
//! sending the window's traffic.

use dw_domain::{AccountAttributes, RequestRecord};

use super::Signal;

const DAY_MS: f64 = 86_400_000.0;

/// Days from the account's opening to its first request in the window.
pub(super) fn account_age(requests: &[RequestRecord], attributes: Option<&AccountAttributes>) -> Signal {
    const NAME: &str = "account_age_days";
    let Some(attributes) = attributes else {
        return Signal::not_computed(NAME, "no account attributes imported");
    };
    let Some(created) = attributes.created_at_ms else {
        return Signal::not_computed(NAME, "the account's opening time was not imported");
    };
    let Some(first) = requests.first() else {
        return Signal::not_computed(NAME, "no requests");
    };
    let days = ((first.ts_ms - created) as f64 / DAY_MS).max(0.0);
    Signal::computed(
        NAME,
        days,
        format!("opened {days:.1} days before its first request in the window"),
        vec![first.event_id.clone()],
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::request;
    use super::*;

    #[test]
    fn age_counts_from_opening_to_the_first_request_and_unknown_is_said() {
        let requests = vec![request(0, 10 * 86_400_000, "x"), request(1, 12 * 86_400_000, "y")];
        let attributes =
            AccountAttributes { account_id: "a".into(), created_at_ms: Some(7 * 86_400_000), ..Default::default() };
        let signal = account_age(&requests, Some(&attributes));
        assert_eq!(signal.value, Some(3.0));
        assert_eq!(signal.detail, "opened 3.0 days before its first request in the window");
        assert_eq!(account_age(&requests, None).detail, "not computed: no account attributes imported");
        let without = AccountAttributes { created_at_ms: None, ..attributes };
        assert_eq!(account_age(&requests, Some(&without)).value, None);
    }
}
