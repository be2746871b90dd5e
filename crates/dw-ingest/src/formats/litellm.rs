//! LiteLLM's `StandardLoggingPayload` (the proxy's generic API logger and
//! its other callbacks), mapped to the canonical event.
//!
//! - `event_id`: `litellm_call_id` (one per call, retries included), else `id`;
//! - `account_id`: the virtual key's hash, `metadata.user_api_key_hash` (the
//!   proxy's unit of access: one key per customer or app); the key's user,
//!   team and organization, and its alias, are kept in `metadata.litellm`;
//! - `metadata.user`: the end user (`end_user`, else
//!   `metadata.user_api_key_end_user_id`), as the canonical event keeps it;
//! - `timestamp`: `startTime` (Unix seconds);
//! - `model`: `model_group` (what the client asked for), else `model`; the
//!   deployment's `model` and provider are kept in `metadata.litellm`;
//! - `request.messages`: `messages` (a bare string is one user message);
//!   parameters from `model_parameters`;
//! - `response`: the first choice of a chat completion, or the output text of
//!   a Responses API call; a failed call keeps its error in `metadata.litellm`
//!   and has no response;
//! - `usage`: `prompt_tokens`, `completion_tokens`;
//! - `client`: `requester_ip_address` and `user_agent` (top level, else in
//!   `metadata`).

use dw_domain::LineError;
use serde_json::{Map, Value, json};

/// The parameters the canonical request carries, as LiteLLM names them in
/// `model_parameters` (the same OpenAI names).
const PARAMETERS: [&str; 8] =
    ["temperature", "top_p", "max_tokens", "max_completion_tokens", "n", "logprobs", "top_logprobs", "seed"];

/// The key facts kept in `metadata.litellm` from the payload's top level.
const KEPT: [&str; 9] = [
    "call_type",
    "status",
    "custom_llm_provider",
    "model",
    "model_id",
    "api_base",
    "trace_id",
    "session_id",
    "request_tags",
];

/// The key's owners kept in `metadata.litellm` from `metadata`.
const OWNERS: [&str; 6] = [
    "user_api_key_alias",
    "user_api_key_user_id",
    "user_api_key_team_id",
    "user_api_key_team_alias",
    "user_api_key_org_id",
    "user_api_key_request_route",
];

pub(super) fn to_canonical(record: Value, line: u64) -> Result<Value, LineError> {
    let Value::Object(payload) = record else {
        return Err(LineError::line(line, "expected a LiteLLM StandardLoggingPayload object"));
    };
    let meta = payload.get("metadata").and_then(Value::as_object);
    let text = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let account = text(meta.and_then(|m| m.get("user_api_key_hash"))).ok_or_else(|| {
        LineError::field(
            line,
            "metadata.user_api_key_hash",
            "is required: the virtual key's hash is the account (the proxy sends it on every call made with a key)",
        )
    })?;
    let start = payload
        .get("startTime")
        .and_then(Value::as_f64)
        .ok_or_else(|| LineError::field(line, "startTime", "is required: the call's start, in Unix seconds"))?;
    let timestamp = timestamp_of(start).ok_or_else(|| {
        LineError::field(line, "startTime", format!("{start} is not a time between 1970 and 2200 in Unix seconds"))
    })?;
    let model = text(payload.get("model_group"))
        .or_else(|| text(payload.get("model")))
        .ok_or_else(|| LineError::field(line, "model", "is required (model_group or model)"))?;

    let mut event = Map::new();
    if let Some(id) = text(payload.get("litellm_call_id")).or_else(|| text(payload.get("id"))) {
        event.insert("event_id".into(), Value::String(id));
    }
    event.insert("account_id".into(), Value::String(account));
    event.insert("timestamp".into(), Value::String(timestamp));
    event.insert("model".into(), Value::String(model));
    if let Some(route) = text(meta.and_then(|m| m.get("user_api_key_request_route"))) {
        event.insert("endpoint".into(), Value::String(route));
    }
    if let Some(session) = text(payload.get("session_id")) {
        event.insert("conversation_id".into(), Value::String(session));
    }

    let mut request = Map::new();
    request.insert("messages".into(), messages(payload.get("messages")));
    if let Some(params) = payload.get("model_parameters").and_then(Value::as_object) {
        for name in PARAMETERS {
            if let Some(v) = params.get(name).filter(|v| !v.is_null()) {
                request.insert(name.into(), v.clone());
            }
        }
    }
    event.insert("request".into(), Value::Object(request));

    if let Some(response) = response(payload.get("response")) {
        event.insert("response".into(), response);
    }
    let tokens = |name: &str| payload.get(name).filter(|v| v.is_u64()).cloned();
    let (p, c) = (tokens("prompt_tokens"), tokens("completion_tokens"));
    if p.is_some() || c.is_some() {
        let mut usage = Map::new();
        usage.extend(p.map(|v| ("prompt_tokens".to_owned(), v)));
        usage.extend(c.map(|v| ("completion_tokens".to_owned(), v)));
        event.insert("usage".into(), Value::Object(usage));
    }
    let ip =
        text(payload.get("requester_ip_address")).or_else(|| text(meta.and_then(|m| m.get("requester_ip_address"))));
    let agent = text(payload.get("user_agent")).or_else(|| text(meta.and_then(|m| m.get("user_agent"))));
    super::insert_client(&mut event, ip, agent);

    let mut kept = Map::new();
    for name in KEPT {
        if let Some(v) = payload.get(name).filter(|v| !is_empty(v)) {
            kept.insert(name.into(), v.clone());
        }
    }
    for name in OWNERS {
        if let Some(v) = meta.and_then(|m| m.get(name)).filter(|v| !is_empty(v)) {
            kept.insert(name.into(), v.clone());
        }
    }
    if let Some(error) = payload.get("error_str").filter(|v| !is_empty(v)) {
        kept.insert("error".into(), error.clone());
    }
    let mut metadata = Map::new();
    let end_user = text(payload.get("end_user")).or_else(|| text(meta.and_then(|m| m.get("user_api_key_end_user_id"))));
    if let Some(user) = end_user {
        metadata.insert("user".into(), Value::String(user));
    }
    metadata.insert("source".into(), json!("litellm"));
    metadata.insert("litellm".into(), Value::Object(kept));
    event.insert("metadata".into(), Value::Object(metadata));
    Ok(Value::Object(event))
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Unix seconds as RFC 3339 with microseconds, within the canonical years.
pub(super) fn timestamp_of(seconds: f64) -> Option<String> {
    if !seconds.is_finite() {
        return None;
    }
    // A float past i128's range saturates; the product must not wrap (fuzzing
    // found `created: 1e39` overflowing here: a panic in debug builds, a
    // wrapped and possibly plausible date in release ones).
    let micros = (seconds * 1e6).round() as i128;
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1000)?).ok()?;
    if !(1970..=2200).contains(&at.year()) {
        return None;
    }
    at.format(&time::format_description::well_known::Rfc3339).ok()
}

/// The payload's messages as canonical messages: an array is kept as it is
/// (the validator reads it); a bare string is one user message.
fn messages(messages: Option<&Value>) -> Value {
    match messages {
        Some(Value::String(text)) => json!([{"role": "user", "content": text}]),
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

/// The first completion of a chat completion, or the output text of a
/// Responses API call; `None` when the call returned nothing (a failure).
pub(super) fn response(response: Option<&Value>) -> Option<Value> {
    let response = response?.as_object()?;
    if let Some(choice) = response.get("choices").and_then(Value::as_array).and_then(|c| c.first()) {
        let mut out = Map::new();
        if let Some(content) = choice.pointer("/message/content").filter(|v| v.is_string()) {
            out.insert("content".into(), content.clone());
        }
        if let Some(reason) = choice.get("finish_reason").filter(|v| v.is_string()) {
            out.insert("finish_reason".into(), reason.clone());
        }
        return Some(Value::Object(out));
    }
    let output = response.get("output").and_then(Value::as_array)?;
    let text: Vec<&str> = output
        .iter()
        .filter(|item| item.get("type").and_then(Value::as_str) == Some("message"))
        .flat_map(|item| item.get("content").and_then(Value::as_array).into_iter().flatten())
        .filter(|part| part.get("type").and_then(Value::as_str) == Some("output_text"))
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .collect();
    let mut out = Map::new();
    if !text.is_empty() {
        out.insert("content".into(), Value::String(text.join("\n")));
    }
    // The Responses API's status, in the finish reasons of chat completions.
    let reason = match response.get("status").and_then(Value::as_str) {
        Some("completed") => Some("stop"),
        Some("incomplete") => {
            match response.get("incomplete_details").and_then(|d| d.get("reason")).and_then(Value::as_str) {
                Some("max_output_tokens") => Some("length"),
                other => other,
            }
        }
        _ => None,
    };
    out.extend(reason.map(|r| ("finish_reason".to_owned(), json!(r))));
    Some(Value::Object(out))
}
