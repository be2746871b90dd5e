//! A real LiteLLM proxy's generic API logger payload (LiteLLM 1.108.14, six
//! calls: a chat completion with parameters, a Responses API call, a stream,
//! three failures; captured in `../shared/fixtures/client-captures/`) mapped
//! to canonical events, field by field.

use dw_ingest::{Format, Limits, Source, parse_json_as, parse_ndjson_as};

const CAPTURE: &str = include_str!("fixtures/litellm-1.108.14-generic_api.json_array.json");

#[test]
fn every_call_of_the_capture_becomes_an_event_with_its_key_end_user_client_and_parameters() {
    let batch = parse_json_as(&Source::from(Format::Litellm), CAPTURE.as_bytes(), &Limits::default());
    assert!(batch.rejected.is_empty(), "{:?}", batch.rejected);
    assert_eq!((batch.lines, batch.events.len()), (6, 6));

    let chat = &batch.events[0];
    assert_eq!(chat.event_id, "51ca2635-c6ff-4b67-9d76-3d7944293edf");
    assert_eq!(chat.account_id, "litellm_proxy_master_key");
    assert_eq!(chat.timestamp.unix_timestamp(), 1_795_882_847);
    assert_eq!(chat.timestamp.microsecond(), 871_075);
    assert_eq!(chat.model, "gpt-4o-mini");
    assert_eq!(chat.endpoint.as_deref(), Some("/v1/chat/completions"));
    assert_eq!(chat.request.prompt, "Explain step by step: 17*23");
    assert_eq!(chat.request.system_prompt.as_deref(), Some("be terse"));
    let p = &chat.request.params;
    assert_eq!(
        (p.temperature, p.max_tokens, p.n, p.logprobs, p.top_logprobs, p.seed),
        (Some(0.0), Some(64), Some(2), Some(true), Some(5), Some(7))
    );
    let response = chat.response.as_ref().unwrap();
    assert_eq!(response.content.as_deref(), Some("fake answer 0"));
    assert_eq!(response.finish_reason.as_deref(), Some("stop"));
    assert_eq!((chat.usage.prompt_tokens, chat.usage.completion_tokens), (Some(12), Some(5)));
    assert_eq!(chat.client.ip, Some("203.0.113.9".parse().unwrap()));
    assert_eq!(chat.client.user_agent.as_deref(), Some("distill-bot/0.1"));
    assert_eq!(chat.metadata["user"], "end-user-9");
    assert_eq!(chat.metadata["source"], "litellm");
    let kept = &chat.metadata["litellm"];
    assert_eq!(kept["model"], "openai/gpt-4o-mini");
    assert_eq!(kept["custom_llm_provider"], "openai");
    assert_eq!(kept["user_api_key_user_id"], "default_user_id");
    assert_eq!(kept["status"], "success");

    // The Responses API call: its output text, its own end user.
    let responses = &batch.events[1];
    assert_eq!(responses.endpoint.as_deref(), Some("/v1/responses"));
    assert_eq!(responses.request.prompt, "Summarize the plot of Hamlet");
    assert_eq!(responses.response.as_ref().unwrap().content.as_deref(), Some("This is a mocked completion."));
    assert_eq!(responses.response.as_ref().unwrap().finish_reason.as_deref(), Some("stop"));
    assert_eq!(responses.metadata["user"], "hash_abc");
    assert_eq!(responses.request.params.temperature, None, "a parameter not logged is unknown, not 0");

    // A failed call: the request is kept (it was asked), with no response and the error in metadata.
    let failed = &batch.events[3];
    assert_eq!(failed.model, "broken-upstream");
    assert_eq!(failed.request.prompt, "fail");
    assert!(failed.response.is_none());
    assert_eq!(failed.metadata["litellm"]["status"], "failure");
    assert!(failed.metadata["litellm"]["error"].as_str().unwrap().contains("InternalServerError"));
    let ids: std::collections::BTreeSet<&str> = batch.events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), 6, "retries of one failing request are separate calls");
}

#[test]
fn one_payload_alone_and_payloads_as_lines_are_read_too() {
    let calls: Vec<serde_json::Value> = serde_json::from_str(CAPTURE).unwrap();
    let one = serde_json::to_vec(&calls[2]).unwrap();
    let batch = parse_json_as(&Source::from(Format::Litellm), &one, &Limits::default());
    assert_eq!((batch.events.len(), batch.rejected.len()), (1, 0));
    assert_eq!(batch.events[0].request.prompt, "stream please");
    let lines: String = calls.iter().map(|c| format!("{c}\n")).collect();
    let batch = parse_ndjson_as(&Source::from(Format::Litellm), lines.as_bytes(), &Limits::default());
    assert_eq!((batch.events.len(), batch.rejected.len()), (6, 0));
}

#[test]
fn a_payload_without_a_key_hash_or_a_start_is_rejected_naming_the_field() {
    let calls: Vec<serde_json::Value> = serde_json::from_str(CAPTURE).unwrap();
    let mut no_key = calls[0].clone();
    no_key["metadata"].as_object_mut().unwrap().remove("user_api_key_hash");
    let mut no_start = calls[1].clone();
    no_start.as_object_mut().unwrap().remove("startTime");
    let mut no_messages = calls[2].clone();
    no_messages.as_object_mut().unwrap().remove("messages");
    let body = serde_json::to_vec(&vec![no_key, calls[0].clone(), no_start, no_messages]).unwrap();
    let batch = parse_json_as(&Source::from(Format::Litellm), &body, &Limits::default());
    assert_eq!(batch.events.len(), 1);
    let fields: Vec<(u64, Option<&str>)> = batch.rejected.iter().map(|r| (r.line, r.field.as_deref())).collect();
    assert_eq!(fields[0], (1, Some("metadata.user_api_key_hash")));
    assert_eq!(fields[1], (3, Some("startTime")));
    assert_eq!(fields[2].0, 4, "{:?}", batch.rejected[2]);
    assert!(
        batch.rejected[2].error.contains("prompt") || batch.rejected[2].error.contains("messages"),
        "{:?}",
        batch.rejected[2]
    );
    // Not a payload at all.
    let batch = parse_json_as(&Source::from(Format::Litellm), b"[1, \"x\"]", &Limits::default());
    assert_eq!(batch.rejected.len(), 2);
    assert!(batch.rejected[0].error.contains("StandardLoggingPayload"), "{:?}", batch.rejected[0]);
}

#[test]
fn formats_are_named_and_an_unknown_name_lists_the_known_ones() {
    assert_eq!("litellm".parse::<Format>(), Ok(Format::Litellm));
    assert_eq!("canonical".parse::<Format>(), Ok(Format::Canonical));
    let unknown = "otlp-json".parse::<Format>().unwrap_err();
    assert!(unknown.contains("canonical, litellm"), "{unknown}");
}
