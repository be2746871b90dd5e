//! OpenAI-style request/response pairs and Batch API files, field by field.

use dw_ingest::{Format, Limits, Source, parse_ndjson_as, parse_openai_batch};
use serde_json::json;

fn chat_pair() -> serde_json::Value {
    json!({
        "request": {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "Explain photosynthesis in two sentences."}
            ],
            "temperature": 0.2, "max_completion_tokens": 256, "seed": 7,
            "safety_identifier": "user-hash-42",
            "metadata": {"team": "growth"}
        },
        "response": {
            "id": "chatcmpl-Ab12", "object": "chat.completion", "created": 1764892800, "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Plants turn light into sugar."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 24, "completion_tokens": 9, "total_tokens": 33},
            "system_fingerprint": "fp_0ba0d124f1", "service_tier": "default"
        }
    })
}

fn responses_pair() -> serde_json::Value {
    json!({
        "request": {
            "model": "gpt-4.1", "instructions": "Answer tersely.",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "What is 17 * 23?"}]}],
            "max_output_tokens": 64, "user": "u-9"
        },
        "response": {
            "id": "resp_67cc", "object": "response", "created_at": 1764892860, "status": "incomplete",
            "incomplete_details": {"reason": "max_output_tokens"}, "model": "gpt-4.1-2025-04-14",
            "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "391"}]}],
            "usage": {"input_tokens": 20, "output_tokens": 2, "total_tokens": 22}
        }
    })
}

fn lines(records: &[serde_json::Value]) -> Vec<u8> {
    records.iter().map(|r| format!("{r}\n")).collect::<String>().into_bytes()
}

#[test]
fn chat_completions_and_responses_pairs_become_events_field_by_field() {
    let source = Source { format: Format::Openai, account: Some("acct_api_key_7".into()) };
    let batch = parse_ndjson_as(&source, &lines(&[chat_pair(), responses_pair()]), &Limits::default());
    assert!(batch.rejected.is_empty(), "{:?}", batch.rejected);
    let [chat, responses] = &batch.events[..] else { panic!("{:?}", batch.events) };

    assert_eq!(chat.event_id, "chatcmpl-Ab12");
    assert_eq!(chat.account_id, "acct_api_key_7");
    assert_eq!(chat.model, "gpt-4o-mini");
    assert_eq!(chat.timestamp.unix_timestamp(), 1764892800);
    assert_eq!(chat.endpoint.as_deref(), Some("/v1/chat/completions"));
    assert_eq!(chat.request.prompt, "Explain photosynthesis in two sentences.");
    assert_eq!(chat.request.system_prompt.as_deref(), Some("You are a helpful assistant."));
    assert_eq!(chat.request.history_logged, None, "the request body is every message");
    assert_eq!(chat.request.params.temperature, Some(0.2));
    assert_eq!(chat.request.params.max_tokens, Some(256), "max_completion_tokens is the output cap");
    assert_eq!(chat.request.params.seed, Some(7));
    let response = chat.response.as_ref().unwrap();
    assert_eq!(response.content.as_deref(), Some("Plants turn light into sugar."));
    assert_eq!(response.finish_reason.as_deref(), Some("stop"));
    assert_eq!((chat.usage.prompt_tokens, chat.usage.completion_tokens), (Some(24), Some(9)));
    let metadata = &chat.metadata;
    assert_eq!(metadata["user"], "user-hash-42", "the end user, since the source named the account");
    assert_eq!(metadata["openai"]["request_metadata"]["team"], "growth");
    assert_eq!(metadata["openai"]["system_fingerprint"], "fp_0ba0d124f1");

    assert_eq!(responses.event_id, "resp_67cc");
    assert_eq!(responses.endpoint.as_deref(), Some("/v1/responses"));
    assert_eq!(responses.request.system_prompt.as_deref(), Some("Answer tersely."));
    assert_eq!(responses.request.prompt, "What is 17 * 23?");
    assert_eq!(responses.request.params.max_tokens, Some(64));
    let response = responses.response.as_ref().unwrap();
    assert_eq!((response.content.as_deref(), response.finish_reason.as_deref()), (Some("391"), Some("length")));
    assert_eq!(responses.usage.completion_tokens, Some(2));
    assert_eq!(responses.metadata["user"], "u-9");
}

#[test]
fn without_a_named_account_the_end_user_is_the_account_and_without_either_the_field_is_named() {
    let batch = parse_ndjson_as(&Source::from(Format::Openai), &lines(&[chat_pair()]), &Limits::default());
    assert_eq!(batch.events[0].account_id, "user-hash-42");
    assert!(batch.events[0].metadata.get("user").is_none());

    let mut anonymous = chat_pair();
    anonymous["request"].as_object_mut().unwrap().remove("safety_identifier");
    let mut no_time = chat_pair();
    no_time["response"].as_object_mut().unwrap().remove("created");
    let body = lines(&[anonymous, no_time, json!({"response": {}}), json!([1])]);
    let batch = parse_ndjson_as(&Source::from(Format::Openai), &body, &Limits::default());
    let errors: Vec<String> = batch.rejected.iter().map(ToString::to_string).collect();
    assert_eq!(batch.events.len(), 0);
    assert!(errors[0].starts_with("line 1: request.user: is required when the source names no account"), "{errors:?}");
    assert!(errors[1].starts_with("line 2: response.created: is required"), "{errors:?}");
    assert!(errors[2].starts_with("line 3: request: is required"), "{errors:?}");
    assert!(errors[3].starts_with("line 4: expected an object"), "{errors:?}");
}

#[test]
fn a_batch_input_file_is_joined_with_its_output_file_by_custom_id() {
    let request = |id: &str, text: &str| {
        json!({"custom_id": id, "method": "POST", "url": "/v1/chat/completions",
               "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], "temperature": 0}})
    };
    let answer = |id: &str, text: &str| {
        json!({"id": format!("batch_req_{id}"), "custom_id": id,
               "response": {"status_code": 200, "request_id": "req_1", "body": {
                   "id": format!("chatcmpl-{id}"), "object": "chat.completion", "created": 1764900000, "model": "gpt-4o-mini",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 5, "completion_tokens": 3}}},
               "error": null})
    };
    let failed = json!({"id": "batch_req_c", "custom_id": "c", "response": null,
                        "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}});
    // Output lines come in any order; one answers a request the input does not have.
    let input = lines(&[
        request("a", "Name a prime."),
        request("b", "Name a colour."),
        request("c", "Name a river."),
        request("d", "x"),
    ]);
    let output = lines(&[answer("b", "Blue."), failed, answer("a", "Seven."), answer("z", "?")]);
    let batch = parse_openai_batch(&input, &output, Some("acct_batch"), &Limits::default());
    assert_eq!(batch.lines, 4);
    let ids: Vec<&str> = batch.events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["chatcmpl-a", "chatcmpl-b"], "in input order");
    assert_eq!(batch.events[0].response.as_ref().unwrap().content.as_deref(), Some("Seven."));
    assert_eq!(batch.events[1].account_id, "acct_batch");
    assert_eq!(batch.events[1].request.params.temperature, Some(0.0));
    let errors: Vec<String> = batch.rejected.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors[0].starts_with("line 3: response: custom_id \"c\" failed (status none, error batch_expired)"),
        "{errors:?}"
    );
    assert!(errors[1].starts_with("line 4: custom_id: \"d\" has no line in the output file"), "{errors:?}");
    assert!(
        errors[2].starts_with("line 0: custom_id: \"z\" is in the output file but not in the input file"),
        "{errors:?}"
    );
}

/// Found by fuzzing (`scripts/fuzz.sh`, target `openai_batch`): a `created` of 1e39 seconds overflowed the
/// conversion to nanoseconds (a panic in debug builds, a wrapped date in release ones). It is refused,
/// naming the field.
#[test]
fn a_creation_time_past_any_date_is_refused_not_wrapped() {
    for created in [json!(1.0e39), json!(-1.0e39), json!(1e300)] {
        let mut pair = chat_pair();
        pair["response"]["created"] = created.clone();
        let batch = parse_ndjson_as(&Source::from(Format::Openai), &lines(&[pair]), &Limits::default());
        assert_eq!(batch.events.len(), 0, "{created}");
        assert_eq!(batch.rejected[0].field.as_deref(), Some("response.created"), "{created}: {:?}", batch.rejected);
    }
}

/// Found by fuzzing (`openai_batch`): answers whose `custom_id` no request has were listed past
/// `max_listed_errors`. They are listed under the bound like every rejection, and the rest counted.
#[test]
fn unmatched_answers_are_listed_under_the_bound_and_the_rest_counted() {
    let output: String = (0..30)
        .map(|i| format!("{}\n", json!({"custom_id": format!("x{i}"), "response": {"status_code": 200, "body": {}}})))
        .collect();
    let limits = Limits { max_listed_errors: 5, ..Limits::default() };
    let batch = dw_ingest::parse_openai_batch(b"", output.as_bytes(), Some("acct"), &limits);
    assert_eq!((batch.rejected.len(), batch.unlisted), (5, 25));
}
