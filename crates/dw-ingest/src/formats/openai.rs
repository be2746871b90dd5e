//! OpenAI-style request and response pairs, mapped to the canonical event:
//! one `{"request": …, "response": …}` per line, the request as sent to
//! Chat Completions (`messages`) or to Responses (`input`, `instructions`),
//! the response as returned (a `chat.completion` or a `response`); and the
//! Batch API's input and output files, joined by `custom_id` into such
//! pairs ([`batch_pair`]).
//!
//! - `account_id`: the account the source names (`--account`, `?account=`),
//!   else the request's `safety_identifier`, else its `user`; when the source
//!   names the account, the request's end user (`safety_identifier`, else
//!   `user`) is kept as `metadata.user`;
//! - `event_id`: the response's `id`, else the batch line's `custom_id`;
//! - `timestamp`: the response's `created` (Chat Completions) or
//!   `created_at` (Responses), in Unix seconds, else the pair's own
//!   `timestamp` (RFC 3339, for logs that time the request themselves);
//! - `model`: the request's `model`, else the response's;
//! - `request.messages`: `messages`, or `instructions` as the system message
//!   followed by `input` (a string is one user message; items keep their
//!   role, their text parts joined); parameters as named, `max_output_tokens`
//!   as `max_tokens`;
//! - `response`: the first choice, or the output text with the status as a
//!   finish reason; `usage` from either API's names;
//! - `metadata.openai`: the request's `metadata`, the response's
//!   `system_fingerprint` and `service_tier`.

use dw_domain::LineError;
use serde_json::{Map, Value, json};

/// The request parameters the canonical event carries, as OpenAI names them.
const PARAMETERS: [&str; 8] =
    ["temperature", "top_p", "max_tokens", "max_completion_tokens", "n", "logprobs", "top_logprobs", "seed"];

pub(super) fn to_canonical(record: Value, line: u64, account: Option<&str>) -> Result<Value, LineError> {
    let Value::Object(mut pair) = record else {
        return Err(LineError::line(line, "expected an object {\"request\": …, \"response\": …}"));
    };
    let Some(Value::Object(request)) = pair.remove("request") else {
        return Err(LineError::field(line, "request", "is required: the request body as sent to the API (an object)"));
    };
    let response = match pair.remove("response") {
        None | Some(Value::Null) => None,
        Some(Value::Object(response)) => Some(response),
        Some(_) => return Err(LineError::field(line, "response", "must be the response body (an object) or null")),
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let end_user = text(request.get("safety_identifier")).or_else(|| text(request.get("user")));
    let (account, end_user) = match account {
        Some(account) => (account.to_owned(), end_user),
        None => (
            end_user.ok_or_else(|| {
                LineError::field(
                    line,
                    "request.user",
                    "is required when the source names no account: give --account (or ?account=), or log the \
                     request's safety_identifier or user",
                )
            })?,
            None,
        ),
    };
    let created = response.as_ref().and_then(|r| r.get("created").or_else(|| r.get("created_at")));
    let timestamp = match (created, pair.get("timestamp")) {
        (Some(seconds), _) => {
            let at = seconds.as_f64().and_then(super::litellm::timestamp_of).ok_or_else(|| {
                LineError::field(line, "response.created", format!("{seconds} is not a time in Unix seconds"))
            })?;
            Value::String(at)
        }
        (None, Some(at)) => at.clone(),
        (None, None) => {
            return Err(LineError::field(
                line,
                "response.created",
                "is required (or a timestamp on the pair): when the call was answered, in Unix seconds",
            ));
        }
    };
    let model = text(request.get("model"))
        .or_else(|| response.as_ref().and_then(|r| text(r.get("model"))))
        .ok_or_else(|| LineError::field(line, "request.model", "is required (the request's or the response's)"))?;

    let mut event = Map::new();
    let id = response.as_ref().and_then(|r| text(r.get("id"))).or_else(|| text(pair.get("custom_id")));
    event.extend(id.map(|id| ("event_id".to_owned(), Value::String(id))));
    event.insert("account_id".into(), Value::String(account));
    event.insert("timestamp".into(), timestamp);
    event.insert("model".into(), Value::String(model));
    let responses_api = request.contains_key("input") && !request.contains_key("messages");
    let endpoint = if responses_api { "/v1/responses" } else { "/v1/chat/completions" };
    event.insert("endpoint".into(), json!(text(pair.get("url")).unwrap_or_else(|| endpoint.to_owned())));

    let mut canonical = Map::new();
    let messages = if responses_api {
        responses_messages(request.get("instructions"), request.get("input"))
    } else {
        request.get("messages").cloned().unwrap_or(Value::Null)
    };
    canonical.insert("messages".into(), messages);
    for name in PARAMETERS {
        if let Some(v) = request.get(name).filter(|v| !v.is_null()) {
            canonical.insert(name.into(), v.clone());
        }
    }
    if let Some(v) = request.get("max_output_tokens").filter(|v| !v.is_null()) {
        canonical.insert("max_tokens".into(), v.clone());
    }
    event.insert("request".into(), Value::Object(canonical));

    let mut kept = Map::new();
    if let Some(meta) = request.get("metadata").filter(|v| v.is_object()) {
        kept.insert("request_metadata".into(), meta.clone());
    }
    if let Some(response) = &response {
        if let Some(out) = super::litellm::response(Some(&Value::Object(response.clone()))) {
            event.insert("response".into(), out);
        }
        if let Some(usage) = response.get("usage").and_then(Value::as_object) {
            let count = |a: &str, b: &str| usage.get(a).or_else(|| usage.get(b)).filter(|v| v.is_u64()).cloned();
            let mut out = Map::new();
            out.extend(count("prompt_tokens", "input_tokens").map(|v| ("prompt_tokens".to_owned(), v)));
            out.extend(count("completion_tokens", "output_tokens").map(|v| ("completion_tokens".to_owned(), v)));
            if !out.is_empty() {
                event.insert("usage".into(), Value::Object(out));
            }
        }
        for name in ["system_fingerprint", "service_tier"] {
            if let Some(v) = response.get(name).filter(|v| v.is_string()) {
                kept.insert(name.into(), v.clone());
            }
        }
    }
    let mut metadata = Map::new();
    metadata.extend(end_user.map(|u| ("user".to_owned(), Value::String(u))));
    metadata.insert("source".into(), json!("openai"));
    if !kept.is_empty() {
        metadata.insert("openai".into(), Value::Object(kept));
    }
    event.insert("metadata".into(), Value::Object(metadata));
    Ok(Value::Object(event))
}

/// A Responses API request's `instructions` and `input` as chat messages.
fn responses_messages(instructions: Option<&Value>, input: Option<&Value>) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = instructions.and_then(Value::as_str).filter(|s| !s.is_empty()) {
        messages.push(json!({"role": "system", "content": system}));
    }
    match input {
        Some(Value::String(text)) => messages.push(json!({"role": "user", "content": text})),
        Some(Value::Array(items)) => {
            for item in items {
                let Some(role) = item.get("role").and_then(Value::as_str) else { continue };
                let content = match item.get("content") {
                    Some(Value::String(text)) => text.clone(),
                    Some(Value::Array(parts)) => parts
                        .iter()
                        .filter_map(|p| p.get("text").and_then(Value::as_str))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    _ => continue,
                };
                let role = if role == "developer" { "system" } else { role };
                messages.push(json!({"role": role, "content": content}));
            }
        }
        _ => {}
    }
    Value::Array(messages)
}

/// One Batch API request line and its output line (absent when the batch
/// did not answer it) as one `{"request", "response", "custom_id", "url"}`
/// pair for [`to_canonical`], or why they cannot be one (the `line` of the
/// input file).
pub fn batch_pair(input: &Value, output: Option<&Value>, line: u64) -> Result<Value, LineError> {
    let custom_id = input.get("custom_id").and_then(Value::as_str).unwrap_or("");
    let request = input
        .get("body")
        .filter(|b| b.is_object())
        .ok_or_else(|| LineError::field(line, "body", "is required: the request body of the batch line"))?;
    let Some(output) = output else {
        return Err(LineError::field(
            line,
            "custom_id",
            format!("{custom_id:?} has no line in the output file (the batch did not answer it)"),
        ));
    };
    let response = output.pointer("/response/body").filter(|b| b.is_object()).cloned();
    let status = output.pointer("/response/status_code").and_then(Value::as_u64);
    let mut pair = Map::new();
    pair.insert("custom_id".into(), json!(custom_id));
    if let Some(url) = input.get("url") {
        pair.insert("url".into(), url.clone());
    }
    pair.insert("request".into(), request.clone());
    match response.filter(|_| status.is_none_or(|s| s == 200)) {
        Some(body) => {
            pair.insert("response".into(), body);
        }
        None => {
            // A failed line has no answer and no time of its own: it is named, not stored.
            let code = output.pointer("/error/code").or_else(|| output.pointer("/response/body/error/code"));
            return Err(LineError::field(
                line,
                "response",
                format!(
                    "custom_id {custom_id:?} failed (status {}, error {}): a request the batch did not answer is \
                     not stored",
                    status.map_or_else(|| "none".to_owned(), |s| s.to_string()),
                    code.and_then(Value::as_str).unwrap_or("unknown")
                ),
            ));
        }
    }
    Ok(Value::Object(pair))
}
