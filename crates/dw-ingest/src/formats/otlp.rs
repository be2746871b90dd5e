//! OTLP traces (`POST /v1/traces`, protobuf or JSON) mapped to canonical
//! events: one event per span of a model call, in the GenAI semantic
//! conventions of both generations, and in Langfuse's attributes.
//!
//! A span is a model call when it says which model or provider it called
//! (`gen_ai.operation.name`, `gen_ai.system`, `gen_ai.provider.name`,
//! `gen_ai.request.model`) or is a Langfuse `generation`. Other spans (an
//! HTTP server's, a framework's) are the calls' context: they are read for
//! the account and the session, and never stored. A model-call span becomes:
//!
//! - `account_id`: the first of `metadata.user_api_key_hash` (LiteLLM's
//!   virtual key), `user.id`, `enduser.id` found on the span, its ancestors
//!   in the same request, or the resource; the end user (`metadata.user`):
//!   `metadata.user_api_key_end_user_id`, else `user.id` or `enduser.id`
//!   when the account came from a key hash;
//! - `event_id`: `gen_ai.response.id`, else `litellm.call_id`, else
//!   `otlp:TRACE:SPAN`;
//! - `timestamp`: the span's start; `model`: `gen_ai.request.model`, else
//!   `gen_ai.response.model`, `litellm.model_group`, Langfuse's model name;
//! - `request.messages`: `gen_ai.system_instructions` then
//!   `gen_ai.input.messages` (the current convention: parts, their text
//!   joined), else the span's `gen_ai.*.message` events (the older one),
//!   else `langfuse.observation.input`;
//! - `response`: `gen_ai.output.messages` (its first message), else a
//!   `gen_ai.choice` event, else `langfuse.observation.output`; the finish
//!   reason from the message or `gen_ai.response.finish_reasons`;
//! - parameters from `gen_ai.request.*` (or Langfuse's model parameters),
//!   `usage` from `gen_ai.usage.*` (or Langfuse's usage details), `client`
//!   from `client.address` and `user_agent.original` (or LiteLLM's
//!   `metadata.requester_ip_address` and `metadata.user_agent`),
//!   `conversation_id` from `gen_ai.conversation.id` or `session.id`;
//! - `metadata.otlp`: trace and span ids, service, scope, provider and
//!   operation.
//!
//! A model-call span whose content is not on it (the older convention's
//! default exports the messages as log records, in another request) is a
//! [`SpanHalf`]; the GenAI records of a logs export ([`parse_logs`]) are
//! [`LogHalf`]s; [`join`] makes one event of the two. Waiting for the other
//! half is the app's and the store's (`dw_app::otlp`), not this module's.
//!
//! A parent span ends after its children, so an SDK's batch exporter often
//! sends it in a later request: a model-call span whose account is named only
//! on an ancestor missing from its request is an [`Orphan`], waiting for that
//! ancestor, and every span of a request says what it knows of the account of
//! the spans below it ([`Lineage`]); [`resolve`] settles an orphan against a
//! later request's lineage (the account found, or the next ancestor up to wait
//! for, or the root reached with no account).

use std::collections::HashMap;

use dw_domain::LineError;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{Map, Value, json};

use crate::batch::ParsedBatch;
use crate::validate::{Limits, parse_event_value};

/// How an OTLP/HTTP body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (OTLP's JSON mapping: hex ids, 64-bit integers as strings).
    Json,
}

impl Encoding {
    /// The encoding a `Content-Type` names, if OTLP/HTTP has it.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        match content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase().as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Self::Protobuf),
            "application/json" => Some(Self::Json),
            _ => None,
        }
    }

    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// What became of an export request's spans.
#[derive(Debug, Default)]
pub struct TracesParsed {
    /// The model-call spans as events, and the ones rejected ("line" is the
    /// span's 1-based position in the request).
    pub batch: ParsedBatch,
    /// Spans in the request.
    pub spans: u64,
    /// Spans that are not model calls (context, not stored).
    pub context_spans: u64,
    /// Model-call spans whose messages are not on them (the older
    /// convention exports them as log records): each waits for its logs.
    pub awaiting: Vec<SpanHalf>,
    /// Model-call spans whose account is on an ancestor not in the request.
    pub orphans: Vec<Orphan>,
    /// What each span of the request knows of the account of the spans below
    /// it, by (trace id, span id), hex.
    pub lineage: HashMap<(String, String), Lineage>,
}

/// A model-call span that names no account and whose ancestors are not all
/// in its request: the event it will be once the ancestor that names one
/// comes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Orphan {
    /// Its trace id, hex.
    pub trace_id: String,
    /// Its span id, hex.
    pub span_id: String,
    /// The ancestor it waits for (the first one missing so far), hex.
    pub waiting_for: String,
    /// The canonical event, without `account_id`.
    pub event: Value,
    /// Whether its messages are still to come from log records.
    pub awaits_logs: bool,
    /// Its position in its export request.
    pub line: u64,
}

/// What a span, its ancestors in its request and its resource say of the
/// account of the spans below it.
#[derive(Debug, Clone, PartialEq)]
pub enum Lineage {
    /// They name it (and the end user, when the account is a key's hash).
    Account {
        /// The account.
        account_id: String,
        /// The end user, `metadata.user`.
        end_user: Option<String>,
        /// What else they name for the calls below.
        inherited: Inherited,
    },
    /// They name none, and an ancestor is not in the request.
    Above {
        /// That ancestor's span id, hex.
        span_id: String,
        /// What they name for the calls below.
        inherited: Inherited,
    },
    /// They name none, up to the trace's root.
    Unnamed,
}

/// What a span and its ancestors name for the calls below them, besides
/// the account.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Inherited {
    /// The session, for calls that name none.
    pub conversation_id: Option<String>,
    /// The client's address, for calls that name no client.
    pub client_ip: Option<String>,
    /// The client's user agent, likewise.
    pub user_agent: Option<String>,
}

impl Inherited {
    /// Fills what an event does not name yet.
    fn fill(&self, event: &mut Value) {
        let Some(object) = event.as_object_mut() else { return };
        if let Some(session) = self.conversation_id.as_ref().filter(|_| !object.contains_key("conversation_id")) {
            object.insert("conversation_id".into(), Value::String(session.clone()));
        }
        if !object.contains_key("client") {
            super::insert_client(object, self.client_ip.clone(), self.user_agent.clone());
        }
    }
}

/// What became of an orphan against a request's lineage.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// Its account found: a whole event (`line` of its own request).
    Event(Value, u64),
    /// Its account found, its messages still to come from log records.
    AwaitsLogs(SpanHalf),
    /// Still waiting (for the same ancestor, or for one further up).
    Waiting(Orphan),
    /// No ancestor up to the root names an account.
    Unnamed(Orphan),
}

/// The rejection of an orphan no ancestor up to the root names an account for.
pub fn unnamed(orphan: &Orphan) -> LineError {
    LineError::field(
        orphan.line,
        format!("span {}: user.id", orphan.span_id),
        "is required: no span up to the trace's root, nor the resource, names the account (user.id, enduser.id or \
         LiteLLM's metadata.user_api_key_hash)",
    )
}

/// Settles an orphan against a later request's lineage.
pub fn resolve(mut orphan: Orphan, lineage: &HashMap<(String, String), Lineage>) -> Resolved {
    match lineage.get(&(orphan.trace_id.clone(), orphan.waiting_for.clone())) {
        None => Resolved::Waiting(orphan),
        Some(Lineage::Above { span_id, inherited }) => {
            orphan.waiting_for = span_id.clone();
            inherited.fill(&mut orphan.event);
            Resolved::Waiting(orphan)
        }
        Some(Lineage::Unnamed) => Resolved::Unnamed(orphan),
        Some(Lineage::Account { account_id, end_user, inherited }) => {
            let mut event = orphan.event;
            inherited.fill(&mut event);
            if let Some(object) = event.as_object_mut() {
                object.insert("account_id".into(), Value::String(account_id.clone()));
            }
            if let (Some(user), Some(metadata)) = (end_user, event.get_mut("metadata").and_then(Value::as_object_mut)) {
                metadata.insert("user".into(), Value::String(user.clone()));
            }
            if orphan.awaits_logs {
                Resolved::AwaitsLogs(SpanHalf {
                    trace_id: orphan.trace_id,
                    span_id: orphan.span_id,
                    event,
                    line: orphan.line,
                })
            } else {
                Resolved::Event(event, orphan.line)
            }
        }
    }
}

/// A model-call span without its messages: the event it will be once its
/// log records come ([`join`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SpanHalf {
    /// Its trace id, hex.
    pub trace_id: String,
    /// Its span id, hex.
    pub span_id: String,
    /// The canonical event, without messages or response.
    pub event: Value,
    /// Its position in its export request.
    pub line: u64,
}

/// The GenAI log records of one span: its messages and its first choice.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogHalf {
    /// Its trace id, hex.
    pub trace_id: String,
    /// Its span id, hex.
    pub span_id: String,
    /// The records' content as `{"messages": [...], "choice": {...}}`
    /// ([`merge_logs`] adds later records to earlier ones).
    pub content: Value,
}

/// What became of a logs export request.
#[derive(Debug, Default)]
pub struct LogsParsed {
    /// The GenAI records, gathered by span.
    pub halves: Vec<LogHalf>,
    /// Log records in the request.
    pub records: u64,
    /// Records that are not a GenAI message or choice of a span (kept out).
    pub other_records: u64,
    /// Why the records were not read, if they were not.
    pub stopped: Option<crate::Stopped>,
}

/// An event checked by the canonical validator, under the event size limit.
pub fn validated(event: Value, line: u64, limits: &Limits) -> Result<dw_domain::Event, LineError> {
    // Written out only when it might be over: most events are far under.
    let size = if json_len_bound(&event) <= limits.max_event_bytes { 0 } else { json_len(&event) };
    if size > limits.max_event_bytes {
        return Err(LineError::line(
            line,
            format!("span is {size} bytes as an event, over the limit of {}", limits.max_event_bytes),
        ));
    }
    parse_event_value(event, line, limits)
}

/// At least the length of a JSON value's compact text, without writing it:
/// every string byte counted as its longest escape (`\u00XX`), every number
/// as the longest a number is written, and two bytes of punctuation per
/// value and per key.
fn json_len_bound(value: &Value) -> usize {
    const NUMBER: usize = 24;
    match value {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => NUMBER,
        Value::String(s) => 6 * s.len() + 2,
        Value::Array(items) => 2 + items.iter().map(|v| json_len_bound(v) + 1).sum::<usize>(),
        Value::Object(map) => 2 + map.iter().map(|(k, v)| 6 * k.len() + 4 + json_len_bound(v)).sum::<usize>(),
    }
}

/// The length of a JSON value's compact text, counted as it is written out,
/// never held.
fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).expect("a JSON value always serializes, and counting never fails");
    count.0
}

/// Decodes a logs export request and gathers its GenAI records by span;
/// `Err` when the body is not an `ExportLogsServiceRequest` at all.
pub fn parse_logs(body: &[u8], encoding: Encoding, limits: &Limits) -> Result<LogsParsed, String> {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    let request: ExportLogsServiceRequest = decode(body, encoding, "ExportLogsServiceRequest")?;
    let mut out = LogsParsed::default();
    let records: usize = request.resource_logs.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len()).sum();
    if records > limits.max_items {
        out.records = records as u64;
        out.stopped = Some(crate::Stopped::TooManyItems(limits.max_items));
        return Ok(out);
    }
    let mut by_span: Vec<LogHalf> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for resource in &request.resource_logs {
        for scope in &resource.scope_logs {
            for record in &scope.log_records {
                out.records += 1;
                let attrs = attributes(&record.attributes);
                // The event's name: the record's own field (newer SDKs) or its `event.name` attribute.
                let name = Some(record.event_name.clone())
                    .filter(|n| !n.is_empty())
                    .or_else(|| text(&attrs, "event.name"))
                    .unwrap_or_default();
                let mut body = record.body.as_ref().map_or(Value::Null, json_of);
                let content = if name == "gen_ai.choice" {
                    let mut message = body.get_mut("message").map(Value::take).unwrap_or(Value::Null);
                    let reason = body.get("finish_reason").and_then(Value::as_str).map(finish_reason);
                    json!({"messages": [], "choice": {"content": take_content(&mut message), "finish_reason": reason}})
                } else if let Some(role) = name.strip_prefix("gen_ai.").and_then(|n| n.strip_suffix(".message")) {
                    let role = body.get("role").and_then(Value::as_str).unwrap_or(role).to_owned();
                    match take_content(&mut body) {
                        Some(content) => json!({"messages": [{"role": role, "content": content}], "choice": null}),
                        None => Value::Null,
                    }
                } else {
                    Value::Null
                };
                if content.is_null() || record.span_id.is_empty() {
                    out.other_records += 1;
                    continue;
                }
                let (trace_id, span_id) = (hex::encode(&record.trace_id), hex::encode(&record.span_id));
                match index.get(&(trace_id.clone(), span_id.clone())) {
                    Some(i) => by_span[*i].content = merge_logs(&by_span[*i].content, &content),
                    None => {
                        index.insert((trace_id.clone(), span_id.clone()), by_span.len());
                        by_span.push(LogHalf { trace_id, span_id, content });
                    }
                }
            }
        }
    }
    out.halves = by_span;
    Ok(out)
}

/// Two gatherings of one span's records as one: messages in the order
/// received, the first choice kept.
pub fn merge_logs(earlier: &Value, later: &Value) -> Value {
    let messages: Vec<Value> = [earlier, later]
        .iter()
        .flat_map(|v| v.get("messages").and_then(Value::as_array).cloned().unwrap_or_default())
        .collect();
    let choice = [earlier, later].iter().find_map(|v| v.get("choice").filter(|c| !c.is_null()).cloned());
    json!({"messages": messages, "choice": choice})
}

/// A span's event completed by its log records: their messages as the
/// request's, their first choice as the response.
pub fn join(span_event: &Value, logs: &Value) -> Value {
    let mut event = span_event.clone();
    let messages = logs.get("messages").cloned().unwrap_or_else(|| json!([]));
    if let Some(request) = event.get_mut("request").and_then(Value::as_object_mut) {
        request.insert("messages".into(), messages);
    }
    if let Some(choice) = logs.get("choice").filter(|c| !c.is_null()) {
        let mut response = Map::new();
        if let Some(content) = choice.get("content").filter(|c| c.is_string()) {
            response.insert("content".into(), content.clone());
        }
        let reason = choice
            .get("finish_reason")
            .filter(|r| r.is_string())
            .cloned()
            .or_else(|| event.pointer("/response/finish_reason").cloned());
        response.extend(reason.map(|r| ("finish_reason".to_owned(), r)));
        if let Some(object) = event.as_object_mut() {
            object.insert("response".into(), Value::Object(response));
        }
    }
    if let Some(metadata) = event.get_mut("metadata").and_then(|m| m.get_mut("otlp")).and_then(Value::as_object_mut) {
        metadata.insert("content_from".into(), json!("log records"));
    }
    event
}

/// The OTLP response to a logs export of which `rejected` records were
/// refused, in the request's encoding.
pub fn logs_response(rejected: u64, message: &str, encoding: Encoding) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceResponse};
    let response = ExportLogsServiceResponse {
        partial_success: (rejected > 0).then(|| ExportLogsPartialSuccess {
            rejected_log_records: rejected as i64,
            error_message: message.to_owned(),
        }),
    };
    match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        Encoding::Json => {
            let mut out = Map::new();
            if rejected > 0 {
                out.insert(
                    "partialSuccess".into(),
                    json!({"rejectedLogRecords": rejected.to_string(), "errorMessage": message}),
                );
            }
            Value::Object(out).to_string().into_bytes()
        }
    }
}

/// An OTLP message from a body in `encoding`, or why the body is not one
/// (`name` is the message's, for the sender).
fn decode<M: prost::Message + Default + serde::de::DeserializeOwned>(
    body: &[u8],
    encoding: Encoding,
    name: &str,
) -> Result<M, String> {
    match encoding {
        Encoding::Protobuf => M::decode(body).map_err(|e| format!("body is not an OTLP {name} in protobuf: {e}")),
        Encoding::Json => serde_json::from_slice::<M>(body)
            .map_err(|e| format!("body is not an OTLP {name} in JSON (line {}, column {}): {e}", e.line(), e.column())),
    }
}

/// Decodes an export request and maps its spans; `Err` when the body is
/// not an `ExportTraceServiceRequest` in that encoding at all.
pub fn parse_traces(body: &[u8], encoding: Encoding, limits: &Limits) -> Result<TracesParsed, String> {
    parse_traces_keeping(body, encoding, limits, true)
}

/// [`parse_traces`], with each span's [`Lineage`] worked out only when
/// `lineage` is set: a reader that knows no call waits for an ancestor
/// (none from earlier requests, none in the store) needs none, and a
/// file's spans are a hundred thousand of them.
pub fn parse_traces_keeping(
    body: &[u8],
    encoding: Encoding,
    limits: &Limits,
    lineage: bool,
) -> Result<TracesParsed, String> {
    let request = match encoding {
        Encoding::Protobuf => decode(body, encoding, "ExportTraceServiceRequest")?,
        Encoding::Json => super::otlp_json::trace_request(body).map_err(|e| {
            format!(
                "body is not an OTLP ExportTraceServiceRequest in JSON (line {}, column {}): {e}",
                e.line(),
                e.column()
            )
        })?,
    };
    Ok(map_request(request, limits, lineage))
}

/// The OTLP response to an export of which `rejected` spans were refused,
/// in the request's encoding: partial success when any were.
pub fn traces_response(rejected: u64, message: &str, encoding: Encoding) -> Vec<u8> {
    let response = ExportTraceServiceResponse {
        partial_success: (rejected > 0)
            .then(|| ExportTracePartialSuccess { rejected_spans: rejected as i64, error_message: message.to_owned() }),
    };
    match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        Encoding::Json => {
            let mut out = Map::new();
            if rejected > 0 {
                out.insert(
                    "partialSuccess".into(),
                    json!({"rejectedSpans": rejected.to_string(), "errorMessage": message}),
                );
            }
            Value::Object(out).to_string().into_bytes()
        }
    }
}

/// An attribute value as JSON.
fn json_of(value: &AnyValue) -> Value {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => Value::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        Some(any_value::Value::IntValue(i)) => json!(i),
        Some(any_value::Value::DoubleValue(d)) => json!(d),
        Some(any_value::Value::ArrayValue(a)) => Value::Array(a.values.iter().map(json_of).collect()),
        Some(any_value::Value::KvlistValue(kv)) => Value::Object(
            kv.values.iter().map(|k| (k.key.clone(), k.value.as_ref().map_or(Value::Null, json_of))).collect(),
        ),
        Some(any_value::Value::BytesValue(b)) => Value::String(hex::encode(b)),
        _ => Value::Null,
    }
}

fn attributes(list: &[KeyValue]) -> Map<String, Value> {
    list.iter().map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(Value::Null, json_of))).collect()
}

/// [`attributes`], moving the keys and values out.
fn attributes_owned(list: Vec<KeyValue>) -> Map<String, Value> {
    list.into_iter().map(|kv| (kv.key, kv.value.map_or(Value::Null, json_of_owned))).collect()
}

/// [`json_of`], moving strings and lists out.
fn json_of_owned(value: AnyValue) -> Value {
    match value.value {
        Some(any_value::Value::StringValue(s)) => Value::String(s),
        Some(any_value::Value::ArrayValue(a)) => Value::Array(a.values.into_iter().map(json_of_owned).collect()),
        Some(any_value::Value::KvlistValue(kv)) => Value::Object(attributes_owned(kv.values)),
        other => json_of(&AnyValue { value: other }),
    }
}

/// A string attribute, parsed as JSON when it holds JSON (the conventions
/// put messages and parameters in JSON strings).
fn parsed(attrs: &Map<String, Value>, key: &str) -> Option<Value> {
    match attrs.get(key)? {
        Value::String(s) => serde_json::from_str(s).ok().or_else(|| Some(Value::String(s.clone()))),
        other => Some(other.clone()),
    }
}

fn text(attrs: &Map<String, Value>, key: &str) -> Option<String> {
    attrs.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn is_model_call(attrs: &Map<String, Value>) -> bool {
    ["gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model"].iter().any(|k| text(attrs, k).is_some())
        || attrs.contains_key("gen_ai.system")
        || text(attrs, "langfuse.observation.type").as_deref() == Some("generation")
}

/// A message's text: a string, or its text parts joined; moved out of the
/// message (the texts are most of a request, and each message is read once).
fn take_content(message: &mut Value) -> Option<String> {
    if let Some(Value::String(s)) = message.get_mut("content") {
        return Some(std::mem::take(s));
    }
    let key = if message.get("parts").is_some() { "parts" } else { "content" };
    let parts = message.get_mut(key)?.as_array_mut()?;
    let mut texts: Vec<String> = parts
        .iter_mut()
        .filter(|p| p.get("type").and_then(Value::as_str).is_none_or(|t| t == "text"))
        .filter_map(|p| {
            let key = if p.get("content").is_some() { "content" } else { "text" };
            match p.get_mut(key) {
                Some(Value::String(s)) => Some(std::mem::take(s)),
                _ => None,
            }
        })
        .collect();
    match texts.len() {
        0 => None,
        1 => texts.pop(),
        _ => Some(texts.join("\n")),
    }
}

/// Messages of either convention as canonical `{role, content}` messages.
fn messages_of(value: Value) -> Vec<Value> {
    match value {
        Value::String(s) => vec![json!({"role": "user", "content": s})],
        Value::Array(items) => items
            .into_iter()
            .filter_map(|mut m| {
                let role = match m.get_mut("role") {
                    Some(Value::String(role)) => std::mem::take(role),
                    _ => return None,
                };
                Some(json!({"role": role, "content": take_content(&mut m)?}))
            })
            .collect(),
        mut object @ Value::Object(_) => {
            take_content(&mut object).map(|c| vec![json!({"role": "user", "content": c})]).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// The finish reason in chat completions' words.
fn finish_reason(reason: &str) -> String {
    match reason {
        "completed" => "stop".to_owned(),
        other => other.to_owned(),
    }
}

/// A request's spans by (trace id, span id), each with its attributes.
type SpansById<'a> = HashMap<(&'a [u8], &'a [u8]), (&'a Span, &'a Map<String, Value>)>;

fn map_request(mut request: ExportTraceServiceRequest, limits: &Limits, lineage: bool) -> TracesParsed {
    let mut out = TracesParsed::default();
    let spans: usize = request.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
    if spans > limits.max_items {
        out.spans = spans as u64;
        out.batch.stopped = Some(crate::Stopped::TooManyItems(limits.max_items));
        return out;
    }
    // Each span's attributes as JSON, moved out of the span, not copied: the
    // messages they carry are most of a request.
    let owned: Vec<Map<String, Value>> = request
        .resource_spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
        .flat_map(|s| &mut s.spans)
        .map(|span| attributes_owned(std::mem::take(&mut span.attributes)))
        .collect();
    let request = request;
    out.batch.events.reserve(spans);
    if lineage {
        out.lineage.reserve(spans);
    }
    // Every span of the request by id: calls find their ancestors here.
    let mut by_id: SpansById<'_> = HashMap::with_capacity(spans);
    let all = request.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans);
    for (span, attrs) in all.zip(&owned) {
        by_id.insert((&span.trace_id, &span.span_id), (span, attrs));
    }
    for resource in &request.resource_spans {
        let resource_attrs = resource.resource.as_ref().map(|r| attributes(&r.attributes)).unwrap_or_default();
        for scope in &resource.scope_spans {
            let scope_name = scope.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
            for span in &scope.spans {
                out.spans += 1;
                let line = out.spans;
                let attrs = by_id[&(&span.trace_id[..], &span.span_id[..])].1;
                // The span, then its ancestors in this request, then the resource; and the first
                // ancestor missing from the request, if the walk stopped at one.
                let mut chain: Vec<&Map<String, Value>> = vec![attrs];
                let mut parent = &span.parent_span_id;
                let mut missing = None;
                while !parent.is_empty() && chain.len() < 64 {
                    let Some((p, p_attrs)) = by_id.get(&(&span.trace_id[..], &parent[..])) else {
                        missing = Some(hex::encode(parent));
                        break;
                    };
                    chain.push(p_attrs);
                    parent = &p.parent_span_id;
                }
                chain.push(&resource_attrs);
                let context = SpanContext { span, attrs, chain: &chain, scope: &scope_name };
                if lineage {
                    let inherited = Inherited {
                        conversation_id: context.session(),
                        client_ip: context.client_ip(),
                        user_agent: context.user_agent(),
                    };
                    let known = match (context.account(), &missing) {
                        (Some((account_id, end_user)), _) => Lineage::Account { account_id, end_user, inherited },
                        (None, Some(above)) => Lineage::Above { span_id: above.clone(), inherited },
                        (None, None) => Lineage::Unnamed,
                    };
                    out.lineage.insert((hex::encode(&span.trace_id), hex::encode(&span.span_id)), known);
                }
                if !is_model_call(attrs) {
                    out.context_spans += 1;
                    continue;
                }
                out.batch.lines += 1;
                match context.to_canonical(line, missing) {
                    Ok(Canonical::Whole(event)) => {
                        let outcome = validated(event, line, limits);
                        out.batch.keep(outcome, limits);
                    }
                    Ok(Canonical::AwaitsLogs(event)) => out.awaiting.push(SpanHalf {
                        trace_id: hex::encode(&span.trace_id),
                        span_id: hex::encode(&span.span_id),
                        event,
                        line,
                    }),
                    Ok(Canonical::Orphan { event, awaits_logs, waiting_for }) => out.orphans.push(Orphan {
                        trace_id: hex::encode(&span.trace_id),
                        span_id: hex::encode(&span.span_id),
                        waiting_for,
                        event,
                        awaits_logs,
                        line,
                    }),
                    Err(error) => out.batch.reject(error, limits),
                }
            }
        }
    }
    out
}

/// A model-call span as an event, or as one still to be completed.
enum Canonical {
    /// Whole.
    Whole(Value),
    /// Its messages and response still to come from log records.
    AwaitsLogs(Value),
    /// Its account still to come from an ancestor (and its messages from
    /// log records, when `awaits_logs`).
    Orphan { event: Value, awaits_logs: bool, waiting_for: String },
}

struct SpanContext<'a> {
    span: &'a Span,
    attrs: &'a Map<String, Value>,
    chain: &'a [&'a Map<String, Value>],
    scope: &'a str,
}

impl SpanContext<'_> {
    /// The first value of `key` on the span, its ancestors or the resource.
    fn inherited(&self, key: &str) -> Option<String> {
        self.chain.iter().find_map(|attrs| text(attrs, key))
    }

    /// The session the span, its ancestors or the resource name.
    fn session(&self) -> Option<String> {
        self.inherited("gen_ai.conversation.id").or_else(|| self.inherited("session.id"))
    }

    /// The client's address they name.
    fn client_ip(&self) -> Option<String> {
        self.inherited("client.address").or_else(|| self.inherited("metadata.requester_ip_address"))
    }

    /// The client's user agent they name.
    fn user_agent(&self) -> Option<String> {
        self.inherited("user_agent.original").or_else(|| self.inherited("metadata.user_agent"))
    }

    /// The account the span, its ancestors or the resource name, and the end
    /// user when the account is a key's hash.
    fn account(&self) -> Option<(String, Option<String>)> {
        let user = self.inherited("user.id").or_else(|| self.inherited("enduser.id"));
        match self.inherited("metadata.user_api_key_hash") {
            Some(hash) => Some((hash, self.inherited("metadata.user_api_key_end_user_id").or(user))),
            None => user.map(|user| (user, None)),
        }
    }

    /// The span as a canonical event, or as one still to be completed: by
    /// its log records, or (when it names no account and `missing`, an
    /// ancestor not in the request, may) by that ancestor.
    fn to_canonical(&self, line: u64, missing: Option<String>) -> Result<Canonical, LineError> {
        let (attrs, span) = (self.attrs, self.span);
        let named = |field: &str| format!("span {} ({}): {field}", hex::encode(&span.span_id), span.name);
        let (account, end_user, waiting_for) = match (self.account(), missing) {
            (Some((account, end_user)), _) => (Some(account), end_user, None),
            (None, Some(above)) => (None, None, Some(above)),
            (None, None) => {
                return Err(LineError::field(
                    line,
                    named("user.id"),
                    "is required: user.id or enduser.id on the span, an ancestor or the resource (or LiteLLM's \
                     metadata.user_api_key_hash) names the account",
                ));
            }
        };
        let model =
            ["gen_ai.request.model", "gen_ai.response.model", "litellm.model_group", "langfuse.observation.model.name"]
                .iter()
                .find_map(|k| text(attrs, k))
                .ok_or_else(|| {
                    LineError::field(line, named("gen_ai.request.model"), "is required: the model called")
                })?;
        let start = span.start_time_unix_nano;
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(start))
            .ok()
            .filter(|t| (1970..=2200).contains(&t.year()) && start > 0)
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .ok_or_else(|| LineError::field(line, named("startTimeUnixNano"), format!("{start} is not a time")))?;

        let mut messages = Vec::new();
        if let Some(system) = parsed(attrs, "gen_ai.system_instructions") {
            let text = match &system {
                Value::String(s) => Some(s.clone()),
                Value::Array(parts) => {
                    let t: Vec<&str> = parts.iter().filter_map(|p| p.get("content").and_then(Value::as_str)).collect();
                    (!t.is_empty()).then(|| t.join("\n"))
                }
                _ => None,
            };
            messages.extend(text.map(|t| json!({"role": "system", "content": t})));
        }
        let events: Vec<(String, Map<String, Value>)> =
            span.events.iter().map(|e| (e.name.clone(), attributes(&e.attributes))).collect();
        if let Some(input) = parsed(attrs, "gen_ai.input.messages") {
            messages.extend(messages_of(input));
        } else if events.iter().any(|(name, _)| name.ends_with(".message") && name.starts_with("gen_ai.")) {
            for (name, event) in &events {
                let role = name.strip_prefix("gen_ai.").and_then(|n| n.strip_suffix(".message"));
                if let (Some(role), Some(content)) = (role, event.get("content").and_then(Value::as_str)) {
                    messages.push(json!({"role": role, "content": content}));
                }
            }
        } else if let Some(input) = parsed(attrs, "langfuse.observation.input") {
            messages.extend(messages_of(input));
        }
        let awaiting = !messages.iter().any(|m| m["role"] == "user");

        let mut event = Map::new();
        let id = text(attrs, "gen_ai.response.id")
            .or_else(|| text(attrs, "litellm.call_id"))
            .unwrap_or_else(|| format!("otlp:{}:{}", hex::encode(&span.trace_id), hex::encode(&span.span_id)));
        event.insert("event_id".into(), Value::String(id));
        event.extend(account.map(|a| ("account_id".to_owned(), Value::String(a))));
        event.insert("timestamp".into(), Value::String(at));
        event.insert("model".into(), Value::String(model));
        if let Some(route) = text(attrs, "http.route") {
            event.insert("endpoint".into(), Value::String(route));
        }
        if let Some(session) = self.session() {
            event.insert("conversation_id".into(), Value::String(session));
        }

        let mut request = Map::new();
        request.insert("messages".into(), Value::Array(messages));
        let number = |key: &str| attrs.get(key).filter(|v| v.is_number()).cloned();
        for (name, key) in [
            ("temperature", "gen_ai.request.temperature"),
            ("top_p", "gen_ai.request.top_p"),
            ("max_tokens", "gen_ai.request.max_tokens"),
            ("seed", "gen_ai.request.seed"),
            ("n", "gen_ai.request.choice.count"),
        ] {
            request.extend(number(key).map(|v| (name.to_owned(), v)));
        }
        if let Some(Value::Object(params)) = parsed(attrs, "langfuse.observation.model.parameters") {
            for name in ["temperature", "top_p", "max_tokens", "n", "logprobs", "top_logprobs", "seed"] {
                if let Some(v) = params.get(name).filter(|v| !v.is_null()) {
                    request.entry(name).or_insert_with(|| v.clone());
                }
            }
        }
        event.insert("request".into(), Value::Object(request));

        let reasons = parsed(attrs, "gen_ai.response.finish_reasons");
        let first_reason = match &reasons {
            Some(Value::Array(r)) => r.first().and_then(Value::as_str).map(finish_reason),
            Some(Value::String(r)) => Some(finish_reason(r)),
            _ => None,
        };
        let output = parsed(attrs, "gen_ai.output.messages")
            .and_then(|o| match o {
                Value::Array(a) => a.into_iter().next(),
                _ => None,
            })
            .or_else(|| events.iter().find(|(n, _)| n == "gen_ai.choice").and_then(|(_, e)| e.get("message").cloned()))
            .or_else(|| parsed(attrs, "langfuse.observation.output"));
        if let Some(mut output) = output {
            let mut response = Map::new();
            let content = match &mut output {
                Value::String(s) => Some(std::mem::take(s)),
                other => take_content(other),
            };
            response.extend(content.map(|c| ("content".to_owned(), Value::String(c))));
            let reason =
                output.get("finish_reason").and_then(Value::as_str).map(finish_reason).or(first_reason.clone());
            response.extend(reason.map(|r| ("finish_reason".to_owned(), Value::String(r))));
            event.insert("response".into(), Value::Object(response));
        }
        let mut usage = Map::new();
        let tokens = |keys: &[&str]| keys.iter().find_map(|k| attrs.get(*k).filter(|v| v.is_u64()).cloned());
        usage.extend(
            tokens(&["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"])
                .map(|v| ("prompt_tokens".to_owned(), v)),
        );
        usage.extend(
            tokens(&["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"])
                .map(|v| ("completion_tokens".to_owned(), v)),
        );
        if let Some(Value::Object(details)) = parsed(attrs, "langfuse.observation.usage_details") {
            if let Some(v) = details.get("input").filter(|v| v.is_u64()) {
                usage.entry("prompt_tokens").or_insert_with(|| v.clone());
            }
            if let Some(v) = details.get("output").filter(|v| v.is_u64()) {
                usage.entry("completion_tokens").or_insert_with(|| v.clone());
            }
        }
        if !usage.is_empty() {
            event.insert("usage".into(), Value::Object(usage));
        }
        super::insert_client(&mut event, self.client_ip(), self.user_agent());

        let mut kept = Map::new();
        kept.insert("trace_id".into(), json!(hex::encode(&span.trace_id)));
        kept.insert("span_id".into(), json!(hex::encode(&span.span_id)));
        kept.insert("span".into(), json!(span.name));
        kept.insert("scope".into(), json!(self.scope));
        for (name, key) in [
            ("service", "service.name"),
            ("provider", "gen_ai.provider.name"),
            ("system", "gen_ai.system"),
            ("operation", "gen_ai.operation.name"),
        ] {
            kept.extend(self.inherited(key).map(|v| (name.to_owned(), Value::String(v))));
        }
        let mut metadata = Map::new();
        metadata.extend(end_user.map(|u| ("user".to_owned(), Value::String(u))));
        metadata.insert("source".into(), json!("otlp"));
        metadata.insert("otlp".into(), Value::Object(kept));
        event.insert("metadata".into(), Value::Object(metadata));
        let event = Value::Object(event);
        Ok(match (waiting_for, awaiting) {
            (None, false) => Canonical::Whole(event),
            (None, true) => Canonical::AwaitsLogs(event),
            (Some(waiting_for), awaits_logs) => Canonical::Orphan { event, awaits_logs, waiting_for },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_events_size_is_its_compact_texts_length() {
        let event = json!({
            "account_id": "a\"b\\c",
            "request": {"messages": [{"role": "user", "content": "naïve \u{1F600}\n\ttab \u{0001}"}]},
            "n": [1, 2.5, -3, null, true],
            "empty": {}
        });
        assert_eq!(json_len(&event), event.to_string().len());
        assert!(json_len_bound(&event) >= json_len(&event));
        // The bound holds where escapes are longest and numbers longest.
        let worst =
            json!(["\u{0001}\u{0002}\"", -1.7976931348623157e308, 5e-324, u64::MAX, i64::MIN, {"\u{0007}": null}]);
        assert!(json_len_bound(&worst) >= json_len(&worst), "{} < {}", json_len_bound(&worst), json_len(&worst));
    }
}
