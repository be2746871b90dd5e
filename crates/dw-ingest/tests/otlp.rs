//! OTLP traces from real clients' captures (`../shared/fixtures/client-captures/`, copied under
//! `tests/fixtures/`), protobuf and JSON, mapped field by field.

use dw_ingest::Limits;
use dw_ingest::formats::otlp::{
    Encoding, join, logs_response, merge_logs, parse_logs, parse_traces, traces_response, validated,
};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap()
}

#[test]
fn the_current_genai_convention_with_the_account_on_a_parent_span() {
    let parsed =
        parse_traces(&fixture("otel-openai-v2-latest.traces.json"), Encoding::Json, &Limits::default()).unwrap();
    assert_eq!((parsed.spans, parsed.context_spans), (2, 1), "the session span is context");
    assert!(parsed.batch.rejected.is_empty(), "{:?}", parsed.batch.rejected);
    let event = &parsed.batch.events[0];
    assert_eq!(event.event_id, "chatcmpl-fake1");
    assert_eq!(event.model, "gpt-4o-mini");
    assert_eq!(event.request.prompt, "Explain step by step: 17*23");
    assert_eq!(event.request.system_prompt.as_deref(), Some("be terse"));
    let p = &event.request.params;
    assert_eq!((p.temperature, p.max_tokens, p.seed, p.n), (Some(0.0), Some(64), Some(7), Some(2)));
    let response = event.response.as_ref().unwrap();
    assert_eq!((response.content.as_deref(), response.finish_reason.as_deref()), (Some("fake answer 0"), Some("stop")));
    assert_eq!((event.usage.prompt_tokens, event.usage.completion_tokens), (Some(12), Some(5)));
    assert_eq!(event.timestamp.unix_timestamp(), 1_795_882_376);
    assert_eq!(event.metadata["source"], "otlp");
    assert_eq!(event.metadata["otlp"]["provider"], "openai");
    assert_eq!(event.metadata["otlp"]["trace_id"], "331518782d41f978db80ff0085f1d08e");
    assert!(!event.account_id.is_empty(), "the parent span's user.id");
    assert!(event.conversation_id.is_some(), "the parent span's session.id");
}

#[test]
fn the_json_exporter_puts_account_client_and_agent_on_the_span() {
    let parsed =
        parse_traces(&fixture("otlp-json-exporter-0.66b1.traces.json"), Encoding::Json, &Limits::default()).unwrap();
    assert!(parsed.batch.rejected.is_empty(), "{:?}", parsed.batch.rejected);
    let event = &parsed.batch.events[0];
    assert!(event.client.ip.is_some() && event.client.user_agent.is_some(), "{:?}", event.client);
    assert!(!event.request.prompt.is_empty());
}

#[test]
fn the_older_conventions_span_waits_for_its_log_records_and_joins_them() {
    let logs = parse_logs(&fixture("otel-openai-v2-default.logs.json"), Encoding::Json, &Limits::default()).unwrap();
    assert_eq!((logs.records, logs.other_records, logs.halves.len()), (4, 0, 1));
    for (name, encoding) in [
        ("otel-openai-v2-default.traces.json", Encoding::Json),
        ("otel-openai-v2-default.traces.pb", Encoding::Protobuf),
    ] {
        let parsed = parse_traces(&fixture(name), encoding, &Limits::default()).unwrap();
        assert_eq!((parsed.batch.events.len(), parsed.batch.rejected.len()), (0, 0), "{name}");
        let [span] = &parsed.awaiting[..] else { panic!("{name}: {:?}", parsed.awaiting) };
        assert_eq!(
            (span.trace_id.as_str(), span.span_id.as_str()),
            ("8921adf04c009af6b6d5ad86b1d8a237", "05ebf7e121e2be45")
        );
        let half = &logs.halves[0];
        assert_eq!((&half.trace_id, &half.span_id), (&span.trace_id, &span.span_id), "the records are that span's");
        let event = validated(join(&span.event, &half.content), span.line, &Limits::default()).unwrap();
        assert_eq!(event.request.system_prompt.as_deref(), Some("be terse"));
        assert_eq!(event.request.prompt, "Explain step by step: 17*23");
        let response = event.response.as_ref().unwrap();
        assert_eq!(
            (response.content.as_deref(), response.finish_reason.as_deref()),
            (Some("fake answer 0"), Some("stop"))
        );
        assert_eq!(event.model, "gpt-4o-mini");
        assert_eq!(event.metadata["otlp"]["system"], "openai");
        assert_eq!(event.metadata["otlp"]["content_from"], "log records");
        assert_eq!(event.request.params.seed, Some(7));
    }
    // Records of one span split over two requests gather in the order received, the first choice kept.
    let first = serde_json::json!({"messages": [{"role": "user", "content": "a"}], "choice": null});
    let second = serde_json::json!({"messages": [], "choice": {"content": "b", "finish_reason": "stop"}});
    let merged = merge_logs(&first, &second);
    assert_eq!(merged["messages"][0]["content"], "a");
    assert_eq!(merged["choice"]["content"], "b");
    assert!(parse_logs(b"{\"resourceLogs\": 1}", Encoding::Json, &Limits::default()).is_err());
    let partial: serde_json::Value = serde_json::from_slice(&logs_response(1, "why", Encoding::Json)).unwrap();
    assert_eq!(partial["partialSuccess"]["rejectedLogRecords"], "1");
}

#[test]
fn langfuse_generations_in_protobuf_and_json() {
    for (name, encoding) in [("langfuse-v5.traces.json", Encoding::Json), ("langfuse-v5.traces.pb", Encoding::Protobuf)]
    {
        let parsed = parse_traces(&fixture(name), encoding, &Limits::default()).unwrap();
        assert!(parsed.batch.rejected.is_empty(), "{name}: {:?}", parsed.batch.rejected);
        let event = &parsed.batch.events[0];
        assert_eq!(event.account_id, "acct_42", "{name}");
        assert_eq!(event.conversation_id.as_deref(), Some("sess_7"));
        assert_eq!(event.model, "gpt-4o-mini");
        assert_eq!(event.request.prompt, "Explain step by step: 17*23");
        let p = &event.request.params;
        assert_eq!(
            (p.temperature, p.max_tokens, p.n, p.logprobs, p.top_logprobs),
            (Some(0.0), Some(64), Some(2), Some(true), Some(5))
        );
        assert_eq!(event.response.as_ref().unwrap().content.as_deref(), Some("391"));
        assert_eq!((event.usage.prompt_tokens, event.usage.completion_tokens), (Some(12), Some(5)));
    }
}

#[test]
fn litellms_otel_callback_files_calls_under_the_virtual_key() {
    let parsed =
        parse_traces(&fixture("litellm-1.108.14-otel.traces.json"), Encoding::Json, &Limits::default()).unwrap();
    assert!(!parsed.batch.events.is_empty(), "{:?}", parsed.batch.rejected);
    let first = &parsed.batch.events[0];
    assert_eq!(first.account_id, "litellm_proxy_master_key");
    assert_eq!(first.metadata["user"], "hash_abc");
    assert_eq!(first.request.prompt, "Summarize the plot of Hamlet");
    assert_eq!(first.response.as_ref().unwrap().content.as_deref(), Some("This is a mocked completion."));
    assert_eq!(first.response.as_ref().unwrap().finish_reason.as_deref(), Some("stop"), "completed, in chat words");
    assert_eq!(first.client.ip, Some("203.0.113.9".parse().unwrap()));
    assert!(parsed.context_spans > 10, "the proxy's own spans are context: {}", parsed.context_spans);
}

#[test]
fn a_body_that_is_not_an_export_request_is_an_error_and_responses_follow_the_contract() {
    assert!(parse_traces(b"{\"resourceSpans\": 7}", Encoding::Json, &Limits::default()).is_err());
    assert!(parse_traces(b"\xff\xff\xff", Encoding::Protobuf, &Limits::default()).is_err());
    assert_eq!(traces_response(0, "", Encoding::Json), b"{}");
    let partial: serde_json::Value =
        serde_json::from_slice(&traces_response(2, "2 spans rejected", Encoding::Json)).unwrap();
    assert_eq!(
        partial,
        serde_json::json!({"partialSuccess": {"rejectedSpans": "2", "errorMessage": "2 spans rejected"}})
    );
    assert!(traces_response(0, "", Encoding::Protobuf).is_empty(), "an empty message encodes to nothing");
    // More spans than a body may hold: refused whole, nothing mapped.
    let limits = Limits { max_items: 1, ..Limits::default() };
    let parsed = parse_traces(&fixture("otel-openai-v2-latest.traces.json"), Encoding::Json, &limits).unwrap();
    assert_eq!(parsed.batch.stopped, Some(dw_ingest::Stopped::TooManyItems(1)));
    assert!(parsed.batch.events.is_empty() && parsed.awaiting.is_empty());
}
