use super::*;
use serde_json::json;

fn parse(value: Value) -> Result<Event, LineError> {
    parse_event(value.to_string().as_bytes(), 7, &Limits::default())
}

fn minimal() -> Value {
    json!({"account_id": "acct_1", "timestamp": "2026-11-01T12:00:00.123Z", "model": "gpt-x",
           "request": {"prompt": "hello"}})
}

fn field_error(value: Value) -> (Option<String>, String) {
    let err = parse(value).expect_err("should be rejected");
    assert_eq!(err.line, 7);
    (err.field, err.error)
}

#[test]
fn the_design_example_parses_completely() {
    let event = parse(json!({
        "event_id": "req_7f3a", "account_id": "acct_42", "api_key_id": "key_1", "org_id": "org_9",
        "timestamp": "2026-11-01T12:00:00.123Z", "model": "gpt-x", "endpoint": "chat.completions",
        "request": {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                                 {"role": "assistant", "content": "hello"}, {"role": "user", "content": "explain"}],
                    "temperature": 0.7, "top_p": 1.0, "max_tokens": 1024, "n": 1, "logprobs": false, "seed": null},
        "response": {"content": "sure", "finish_reason": "stop"},
        "usage": {"prompt_tokens": 12, "completion_tokens": 300},
        "client": {"ip": "203.0.113.5", "user_agent": "python-requests/2.31"},
        "conversation_id": "thread_3", "metadata": {"tier": "pro"}
    }))
    .unwrap();
    assert_eq!(event.event_id, "req_7f3a");
    assert_eq!(event.event_id_source, EventIdSource::Given);
    assert_eq!(event.account_id, "acct_42");
    assert_eq!(event.timestamp, time::macros::datetime!(2026-11-01 12:00:00.123 UTC));
    assert_eq!(event.request.prompt, "explain");
    assert_eq!(event.request.system_prompt.as_deref(), Some("be brief"));
    assert_eq!(event.request.messages.as_ref().map(Vec::len), Some(4));
    assert_eq!(event.request.params.temperature, Some(0.7));
    assert_eq!(event.request.params.max_tokens, Some(1024));
    assert_eq!(event.request.params.logprobs, Some(false));
    assert_eq!(event.request.params.seed, None);
    assert_eq!(event.response.as_ref().and_then(|r| r.content.as_deref()), Some("sure"));
    assert_eq!(event.usage.completion_tokens, Some(300));
    assert_eq!(event.client.ip, Some("203.0.113.5".parse().unwrap()));
    assert_eq!(event.conversation_id.as_deref(), Some("thread_3"));
    assert_eq!(event.metadata, json!({"tier": "pro"}).as_object().unwrap().clone());
}

#[test]
fn missing_parameters_are_unknown_not_false() {
    let event = parse(minimal()).unwrap();
    assert_eq!(event.request.params, SamplingParams::default());
    assert_eq!(event.request.params.logprobs, None);
    assert_eq!(event.response, None);
    assert_eq!(event.usage, Usage::default());
    assert_eq!(event.request.history_logged, None, "not said: the messages are taken as sent");
    let mut last_only = minimal();
    last_only["request"]["history_logged"] = json!(false);
    assert_eq!(parse(last_only).unwrap().request.history_logged, Some(false));
}

#[test]
fn each_required_field_is_named_when_missing() {
    for key in ["account_id", "timestamp", "model", "request"] {
        let mut value = minimal();
        value.as_object_mut().unwrap().remove(key);
        let (field, error) = field_error(value);
        assert_eq!(field.as_deref(), Some(key));
        assert_eq!(error, "is required");
    }
    let (field, error) =
        field_error(json!({"account_id": "a", "timestamp": "2026-11-01T12:00:00Z", "model": "m", "request": {}}));
    assert_eq!(field.as_deref(), Some("request"));
    assert!(error.contains("request.messages or request.prompt"));
}

#[test]
fn wrong_types_name_the_field_and_what_was_found() {
    let cases = [
        (json!({"account_id": 42}), "account_id", "expected a string, found a number"),
        (json!({"model": ""}), "model", "must not be empty"),
        (json!({"timestamp": 1730000000}), "timestamp", "expected an RFC 3339 string"),
        (json!({"timestamp": "2026-11-01 12:00"}), "timestamp", "is not an RFC 3339 timestamp"),
        (json!({"timestamp": "1900-01-01T00:00:00Z"}), "timestamp", "outside the years"),
        (json!({"request": "hi"}), "request", "expected an object, found a string"),
        (json!({"request": {"messages": []}}), "request.messages", "is empty"),
        (json!({"request": {"messages": [{"content": "x"}]}}), "request.messages[0].role", "is required"),
        (
            json!({"request": {"messages": [{"role": "user", "content": 5}]}}),
            "request.messages[0].content",
            "a string or an array of parts",
        ),
        (
            json!({"request": {"prompt": "x", "temperature": "hot"}}),
            "request.temperature",
            "expected a number, found a string",
        ),
        (json!({"request": {"prompt": "x", "temperature": -1}}), "request.temperature", "out of range"),
        (json!({"request": {"prompt": "x", "max_tokens": 1.5}}), "request.max_tokens", "not an integer"),
        (json!({"request": {"prompt": "x", "n": 0}}), "request.n", "out of range"),
        (json!({"request": {"prompt": "x", "logprobs": "yes"}}), "request.logprobs", "expected a boolean"),
        (json!({"request": {"prompt": "x", "seed": 1.5}}), "request.seed", "expected an integer"),
        (json!({"request": {"prompt": "x", "history_logged": "no"}}), "request.history_logged", "expected a boolean"),
        (json!({"usage": {"prompt_tokens": -3}}), "usage.prompt_tokens", "out of range"),
        (json!({"client": {"ip": "not-an-ip"}}), "client.ip", "is not an IPv4 or IPv6 address"),
        (json!({"metadata": [1]}), "metadata", "expected an object, found an array"),
        (json!({"response": {"content": 3}}), "response.content", "expected a string"),
        (json!({"event_id": {"a": 1}}), "event_id", "expected a string"),
        (json!({"account_id": "x".repeat(600)}), "account_id", "the limit is 512"),
    ];
    for (patch, want_field, want_error) in cases {
        let mut value = minimal();
        for (k, v) in patch.as_object().unwrap() {
            value[k] = v.clone();
        }
        let (field, error) = field_error(value);
        assert_eq!(field.as_deref(), Some(want_field), "{patch}");
        assert!(error.contains(want_error), "{patch}: {error}");
    }
}

#[test]
fn non_objects_and_broken_json_are_line_errors() {
    let err = parse_event(b"[1,2]", 3, &Limits::default()).unwrap_err();
    assert_eq!((err.line, err.field.as_deref()), (3, None));
    assert!(err.error.contains("expected a JSON object"));
    let err = parse_event(b"{\"account_id\": ", 4, &Limits::default()).unwrap_err();
    assert!(err.error.starts_with("invalid JSON at column"), "{}", err.error);
    assert!(!err.error.contains(" at line "), "{}", err.error);
}

#[test]
fn unknown_fields_are_kept_by_path() {
    let mut value = minimal();
    value["vendor"] = json!({"x": 1});
    value["request"]["tools"] = json!([{"type": "function"}]);
    value["request"]["messages"] = json!([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "u"}}], "name": "bob"}]);
    value["usage"] = json!({"prompt_tokens": 1, "total_tokens": 5});
    value["metadata"] = json!({"team": "t"});
    let event = parse(value).unwrap();
    let unknown = event.metadata["_unknown"].as_object().unwrap();
    assert_eq!(unknown["vendor"], json!({"x": 1}));
    assert_eq!(unknown["request.tools"], json!([{"type": "function"}]));
    assert_eq!(unknown["request.messages[0].name"], json!("bob"));
    assert_eq!(unknown["request.messages[0].content"], json!([{"type": "image_url", "image_url": {"url": "u"}}]));
    assert_eq!(unknown["usage.total_tokens"], json!(5));
    assert_eq!(event.metadata["team"], json!("t"));
    // An explicit prompt wins over the messages for analysis.
    assert_eq!(event.request.prompt, "hello");
}

#[test]
fn prompt_comes_from_the_last_user_message() {
    let mut value = minimal();
    value["request"] = json!({"messages": [{"role": "user", "content": "first"}, {"role": "assistant", "content": "x"},
                                           {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "text", "text": "part"}]},
                                           {"role": "assistant", "content": null}]});
    let event = parse(value).unwrap();
    assert_eq!(event.request.prompt, "second\npart");
    assert_eq!(event.request.system_prompt, None);
}

#[test]
fn events_without_id_get_a_content_hash_and_identical_content_the_same_one() {
    let a = parse(minimal()).unwrap();
    let b = parse_event(
        br#"{ "request": {"prompt": "hello"}, "model": "gpt-x", "timestamp": "2026-11-01T12:00:00.123Z", "account_id": "acct_1" }"#,
        1,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(a.event_id_source, EventIdSource::ContentHash);
    assert_eq!(a.event_id, b.event_id);
    let mut other = minimal();
    other["request"]["prompt"] = json!("hello!");
    assert_ne!(parse(other).unwrap().event_id, a.event_id);
}

#[test]
fn legacy_parameters_are_understood() {
    let mut value = minimal();
    value["request"] = json!({"prompt": ["a", "b"], "logprobs": 5, "max_completion_tokens": 99});
    let event = parse(value).unwrap();
    assert_eq!(event.request.prompt, "a\nb");
    assert_eq!(event.request.params.logprobs, Some(true));
    assert_eq!(event.request.params.top_logprobs, Some(5));
    assert_eq!(event.request.params.max_tokens, Some(99));
}

#[test]
fn offsets_are_normalized_to_utc_and_ports_dropped_from_ips() {
    let mut value = minimal();
    value["timestamp"] = json!("2026-11-01T14:00:00+02:00");
    value["client"] = json!({"ip": "[2001:db8::1]:443"});
    let event = parse(value).unwrap();
    assert_eq!(event.timestamp, time::macros::datetime!(2026-11-01 12:00 UTC));
    assert_eq!(event.client.ip, Some("2001:db8::1".parse().unwrap()));
}

#[test]
fn nul_characters_are_replaced_everywhere() {
    let mut value = minimal();
    value["request"]["prompt"] = json!("a\u{0}b");
    value["metadata"] = json!({"k\u{0}": "v\u{0}"});
    let event = parse(value).unwrap();
    assert_eq!(event.request.prompt, "a\u{FFFD}b");
    assert_eq!(event.metadata["k\u{FFFD}"], json!("v\u{FFFD}"));
}

#[test]
fn timestamps_outside_the_window_are_refused_naming_the_setting() {
    let now = time::macros::datetime!(2026-11-15 00:00 UTC);
    let policy = TimestampPolicy { past_days: 400, future_days: 1, clock: Clock::Fixed(now) };
    let limits = Limits { timestamps: Some(policy.window()), ..Limits::default() };
    let at = |ts: &str| {
        let mut value = minimal();
        value["timestamp"] = json!(ts);
        parse_event(value.to_string().as_bytes(), 3, &limits)
    };
    // Inside: the earliest and latest instants, and now.
    assert!(at("2025-10-11T00:00:00Z").is_ok(), "400 days before is inside");
    assert!(at("2026-11-16T00:00:00Z").is_ok(), "a day after is inside");
    assert!(at("2026-11-15T00:00:00Z").is_ok());
    // Before: 1975 made partitions on demand; one second past the edge is refused too.
    let old = at("1975-06-01T00:00:00Z").unwrap_err();
    assert_eq!((old.line, old.field.as_deref()), (3, Some("timestamp")));
    assert!(old.error.contains("ingest.timestamp_past_days"), "{}", old.error);
    assert!(old.error.contains("--backfill"), "{}", old.error);
    assert!(old.error.contains("1975-06-01T00:00:00Z"), "{}", old.error);
    assert!(at("2025-10-10T23:59:59Z").is_err());
    // After: a clock or unit mistake.
    let future = at("2026-11-16T00:00:01Z").unwrap_err();
    assert!(future.error.contains("ingest.timestamp_future_days"), "{}", future.error);
    assert!(at("2150-01-01T00:00:00Z").unwrap_err().error.contains("days after now"));
    // Without a window (simulations, evaluations, backfills) any year 1970..=2200 goes in.
    assert!(
        parse(json!({"account_id": "a", "timestamp": "1975-06-01T00:00:00Z", "model": "m",
                         "request": {"prompt": "p"}}))
        .is_ok()
    );
}

#[test]
fn the_system_clock_window_is_taken_around_the_real_now() {
    let window = TimestampPolicy::default().window();
    let now = OffsetDateTime::now_utc();
    assert!((window.now - now).abs() < time::Duration::minutes(1));
    assert_eq!(window.now - window.earliest, time::Duration::days(400));
    assert_eq!(window.latest - window.now, time::Duration::days(1));
}
