//! Round trips of the canonical event for any content: what a sender puts
//! in an event is what validation hands on (NUL characters, which PostgreSQL
//! cannot store, become U+FFFD), the id of an event without one depends on
//! its content only, and any body's answer accounts for every line.

use dw_ingest::{Limits, parse_event, parse_ndjson};
use proptest::prelude::*;
use serde_json::json;

fn text() -> impl Strategy<Value = String> {
    // Any characters, NUL, quotes, newlines and astral ones included.
    prop::collection::vec(any::<char>(), 0..80).prop_map(|c| c.into_iter().collect())
}

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.:-]{1,40}"
}

fn no_nul(s: &str) -> String {
    s.replace('\u{0}', "\u{FFFD}")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn what_is_sent_is_what_validation_hands_on(
        account in id(), model in id(), system in text(), user in text(), answer in text(),
        seconds in 0i64..4_000_000_000, temperature in prop::option::of(0.0f32..2.0),
        max_tokens in prop::option::of(1i32..100_000), ip in prop::option::of(any::<[u8; 4]>()),
    ) {
        let at = time::OffsetDateTime::from_unix_timestamp(seconds).unwrap();
        let timestamp = at.format(&time::format_description::well_known::Rfc3339).unwrap();
        let mut event = json!({
            "account_id": account, "timestamp": timestamp, "model": model,
            "request": {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]},
            "response": {"content": answer},
        });
        if let Some(t) = temperature { event["request"]["temperature"] = json!(t); }
        if let Some(m) = max_tokens { event["request"]["max_tokens"] = json!(m); }
        if let Some(ip) = ip { event["client"] = json!({"ip": std::net::Ipv4Addr::from(ip).to_string()}); }
        let text = event.to_string();
        let parsed = parse_event(text.as_bytes(), 1, &Limits::default()).unwrap();
        prop_assert_eq!(&parsed.account_id, &account);
        prop_assert_eq!(&parsed.model, &model);
        prop_assert_eq!(parsed.timestamp, at);
        prop_assert_eq!(&parsed.request.prompt, &no_nul(&user));
        prop_assert_eq!(parsed.request.system_prompt.clone(), Some(no_nul(&system)));
        prop_assert_eq!(parsed.response.as_ref().and_then(|r| r.content.clone()), Some(no_nul(&answer)));
        prop_assert_eq!(parsed.request.params.temperature, temperature);
        prop_assert_eq!(parsed.request.params.max_tokens, max_tokens);
        prop_assert_eq!(parsed.client.ip, ip.map(std::net::IpAddr::from));
        // Without an event_id, the id is the content's: the same again, another for other content.
        let again = parse_event(text.as_bytes(), 9, &Limits::default()).unwrap();
        prop_assert_eq!(&again.event_id, &parsed.event_id);
        let mut other = event.clone();
        other["model"] = json!(format!("{model}x"));
        let other = parse_event(other.to_string().as_bytes(), 1, &Limits::default()).unwrap();
        prop_assert_ne!(&other.event_id, &parsed.event_id);
    }

    #[test]
    fn any_body_is_answered_line_by_line(lines in prop::collection::vec(prop_oneof![
        3 => text(),
        1 => Just(r#"{"account_id":"a","timestamp":"2026-11-01T00:00:00Z","model":"m","request":{"prompt":"p"}}"#.to_owned()),
        1 => Just(String::new()),
    ], 0..40)) {
        let body: String = lines.iter().map(|l| format!("{}\n", l.replace('\n', " "))).collect();
        let limits = Limits::default();
        let batch = parse_ndjson(body.as_bytes(), &limits);
        // Blank as NDJSON readers take it: ASCII white space only (a vertical
        // tab, white space to Unicode, is not JSON's and makes a line to reject).
        let blank = |l: &String| l.bytes().all(|b| b == b'\n' || b.is_ascii_whitespace());
        let non_blank = lines.iter().filter(|l| !blank(l)).count() as u64;
        prop_assert_eq!(batch.lines, non_blank);
        prop_assert_eq!(batch.events.len() as u64 + batch.rejected.len() as u64 + batch.unlisted, non_blank);
        prop_assert!(batch.rejected.iter().all(|e| e.line >= 1 && e.line <= lines.len() as u64));
    }
}
