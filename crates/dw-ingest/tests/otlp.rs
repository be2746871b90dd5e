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

/// The fixture `name`'s request with only the spans `keep` picks, each first passed through `edit`.
fn spans_of(
    name: &str,
    keep: impl Fn(&serde_json::Value) -> bool,
    edit: impl Fn(&mut serde_json::Value),
) -> serde_json::Value {
    let mut request: serde_json::Value = serde_json::from_slice(&fixture(name)).unwrap();
    for resource in request["resourceSpans"].as_array_mut().unwrap() {
        for scope in resource["scopeSpans"].as_array_mut().unwrap() {
            let spans = scope["spans"].as_array_mut().unwrap();
            spans.retain(&keep);
            spans.iter_mut().for_each(&edit);
        }
    }
    request
}

#[test]
fn a_parent_span_exported_after_its_child_names_the_childs_account() {
    use dw_ingest::formats::otlp::{Resolved, resolve, unnamed};
    let limits = Limits::default();
    let name = "otel-openai-v2-latest.traces.json";
    let whole = parse_traces(&fixture(name), Encoding::Json, &limits).unwrap().batch.events.remove(0);
    let is_call = |s: &serde_json::Value| s["name"] == "chat gpt-4o-mini";
    let body = |v: serde_json::Value| serde_json::to_vec(&v).unwrap();
    // The call alone: its account is on its parent, not in the request, so it waits for it.
    let child = parse_traces(&body(spans_of(name, is_call, |_| ())), Encoding::Json, &limits).unwrap();
    assert!(child.batch.events.is_empty() && child.batch.rejected.is_empty(), "{:?}", child.batch.rejected);
    assert_eq!(child.orphans.len(), 1);
    let orphan = child.orphans[0].clone();
    assert_eq!((orphan.waiting_for.as_str(), orphan.awaits_logs, orphan.line), ("5ffeda9322baacd2", false, 1));
    assert!(orphan.event.get("account_id").is_none());
    // Its own request settles nothing.
    assert_eq!(resolve(orphan.clone(), &child.lineage), Resolved::Waiting(orphan.clone()));
    // The parent, exported later, names the account and the session: the event is the one a whole export gives.
    let parent = parse_traces(&body(spans_of(name, |s| !is_call(s), |_| ())), Encoding::Json, &limits).unwrap();
    assert_eq!((parent.spans, parent.context_spans, parent.orphans.len()), (1, 1, 0));
    match resolve(orphan.clone(), &parent.lineage) {
        Resolved::Event(event, line) => assert_eq!(validated(event, line, &limits).unwrap(), whole),
        other => panic!("{other:?}"),
    }
    // A parent that names no account but has a parent of its own: the call now waits for that one...
    let middle = spans_of(
        name,
        |s| !is_call(s),
        |s| {
            s["attributes"].as_array_mut().unwrap().retain(|a| a["key"] != "user.id");
            s["parentSpanId"] = "00000000000000aa".into();
        },
    );
    let middle = parse_traces(&body(middle), Encoding::Json, &limits).unwrap();
    let Resolved::Waiting(moved) = resolve(orphan.clone(), &middle.lineage) else { panic!() };
    assert_eq!(moved.waiting_for, "00000000000000aa");
    // ... and the root, exported last, names it.
    let root = spans_of(
        name,
        |s| !is_call(s),
        |s| {
            s["spanId"] = "00000000000000aa".into();
            s["attributes"] = serde_json::json!([{"key": "enduser.id", "value": {"stringValue": "acct-root"}}]);
        },
    );
    let root = parse_traces(&body(root), Encoding::Json, &limits).unwrap();
    let Resolved::Event(event, line) = resolve(moved.clone(), &root.lineage) else { panic!() };
    let event = validated(event, line, &limits).unwrap();
    assert_eq!(event.account_id, "acct-root");
    assert_eq!(event.conversation_id, whole.conversation_id, "the session from the middle span, on the call");
    // A root that names no account: the call is refused, naming the span and the field.
    let bare = spans_of(name, |s| !is_call(s), |s| s["attributes"] = serde_json::json!([]));
    let bare = parse_traces(&body(bare), Encoding::Json, &limits).unwrap();
    let Resolved::Unnamed(lost) = resolve(orphan, &bare.lineage) else { panic!() };
    let error = unnamed(&lost);
    assert_eq!((error.line, error.field.as_deref()), (1, Some("span 3b335c2706ed7d56: user.id")));
    // In one file, a later request's parent settles an earlier request's call.
    let file = format!("{}\n{}\n", spans_of(name, is_call, |_| ()), spans_of(name, |s| !is_call(s), |_| ()));
    let read = dw_ingest::formats::parse_otlp_file(file.as_bytes(), "export.jsonl", &limits).unwrap();
    assert!(read.orphans.is_empty() && read.batch.rejected.is_empty(), "{:?}", read.batch.rejected);
    assert_eq!(read.batch.events, vec![whole.clone()]);
    assert_eq!(read.lineage.len(), 2, "every span's lineage kept, for calls of earlier exports");
    // Read as a stream that keeps no lineage (nothing waits in the store): the later request's is still
    // worked out while the call waits, and the call is settled the same; nothing is kept.
    let streamed = dw_ingest::formats::read_otlp_stream(file.as_bytes(), "export.jsonl", &limits, false, |_| {
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!((streamed.batch.events, streamed.orphans.len()), (vec![whole], 0));
    assert!(streamed.lineage.is_empty());
}
