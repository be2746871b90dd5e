//! One JSON value in, one canonical [`Event`] out, or a [`LineError`] that
//! names the field.
//!
//! Rules (the same as `docs/event-format.md`):
//! - required: `account_id`, `timestamp` (RFC 3339), `model`, and a prompt:
//!   `request.messages` (non-empty) or `request.prompt`;
//! - `null` means absent for every optional field;
//! - fields the format does not define are kept, by their dotted path, in
//!   `metadata._unknown`;
//! - NUL characters, which PostgreSQL cannot store, are replaced by U+FFFD.

use dw_domain::{Client, Event, EventIdSource, LineError, Message, Request, Response, SamplingParams, Usage};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::content_hash::content_hash;

/// Size limits applied to input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest single event (one NDJSON line or array element), in bytes.
    pub max_event_bytes: usize,
    /// Largest request body after decompression, in bytes.
    pub max_body_bytes: usize,
    /// Most items (lines, array elements, spans, records) one body may
    /// hold; a body with more is refused whole, before any is stored.
    pub max_items: usize,
    /// Most rejections listed for one body (the rest are counted), each
    /// error text cut to [`MAX_ERROR_CHARS`].
    pub max_listed_errors: usize,
    /// The timestamps accepted, when the caller bounds them (the HTTP API
    /// and `distillwatch ingest` without `--backfill`); `None` takes any
    /// timestamp in the years 1970..=2200 (simulations, evaluations, backfills).
    pub timestamps: Option<TimestampWindow>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_event_bytes: 1 << 20,
            max_body_bytes: 64 << 20,
            max_items: 100_000,
            max_listed_errors: 100,
            timestamps: None,
        }
    }
}

/// Where "now" comes from when timestamps are checked against a window:
/// the system clock, or a fixed instant (tests; replaying a past capture).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clock {
    /// The system's clock.
    #[default]
    System,
    /// This instant, whatever the system's clock says.
    Fixed(OffsetDateTime),
}

impl Clock {
    /// The instant that stands for now.
    pub fn now(self) -> OffsetDateTime {
        match self {
            Clock::System => OffsetDateTime::now_utc(),
            Clock::Fixed(at) => at,
        }
    }
}

/// How far from now an event's timestamp may be (`ingest.timestamp_past_days`,
/// `ingest.timestamp_future_days`): an event from 1975 or 2150 is a unit
/// mistake or an attempt to make storage partitions, not traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampPolicy {
    /// Days before now accepted.
    pub past_days: u32,
    /// Days after now accepted (clocks disagree).
    pub future_days: u32,
    /// What stands for now.
    pub clock: Clock,
}

impl Default for TimestampPolicy {
    fn default() -> Self {
        Self { past_days: 400, future_days: 1, clock: Clock::System }
    }
}

impl TimestampPolicy {
    /// The window around the clock's now.
    pub fn window(&self) -> TimestampWindow {
        let now = self.clock.now();
        TimestampWindow {
            now,
            earliest: now - time::Duration::days(i64::from(self.past_days)),
            latest: now + time::Duration::days(i64::from(self.future_days)),
            past_days: self.past_days,
            future_days: self.future_days,
        }
    }
}

/// The timestamps one body accepts, fixed when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampWindow {
    /// The instant the window was taken around.
    pub now: OffsetDateTime,
    /// The earliest timestamp accepted.
    pub earliest: OffsetDateTime,
    /// The latest timestamp accepted.
    pub latest: OffsetDateTime,
    /// The policy's days, for the error text.
    pub past_days: u32,
    /// The policy's days, for the error text.
    pub future_days: u32,
}

impl TimestampWindow {
    /// `Err` with the reason when `at` is outside the window.
    fn check(&self, at: OffsetDateTime, line: u64) -> Result<(), LineError> {
        let days = |d: time::Duration| d.whole_days();
        if at < self.earliest {
            return Err(LineError::field(
                line,
                "timestamp",
                format!(
                    "{} is {} days before now ({}), outside the {} days accepted (ingest.timestamp_past_days); \
                     load older events with `distillwatch ingest --backfill`",
                    rfc3339(at),
                    days(self.now - at),
                    rfc3339(self.now),
                    self.past_days
                ),
            ));
        }
        if at > self.latest {
            return Err(LineError::field(
                line,
                "timestamp",
                format!(
                    "{} is {} days after now ({}), beyond the {} days accepted (ingest.timestamp_future_days): \
                     is the sender's clock or unit right?",
                    rfc3339(at),
                    days(at - self.now),
                    rfc3339(self.now),
                    self.future_days
                ),
            ));
        }
        Ok(())
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

/// The longest error text kept of one rejection, in characters.
pub const MAX_ERROR_CHARS: usize = 500;

/// After this many items with not one valid, a body is taken to be no
/// events of its format at all, and parsing stops.
pub const HOPELESS_AFTER: u64 = 1_000;

/// Why parsing a body stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It holds more items than [`Limits::max_items`].
    TooManyItems(usize),
    /// Its first [`HOPELESS_AFTER`] items were all invalid.
    Hopeless(u64),
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stopped::TooManyItems(limit) => {
                write!(
                    f,
                    "the body holds more than {limit} items (ingest.max_items_per_body): split it into smaller batches"
                )
            }
            Stopped::Hopeless(after) => write!(
                f,
                "parsing stopped after {after} items with not one valid: the body is not events of this format"
            ),
        }
    }
}

/// A rejection with its text cut to [`MAX_ERROR_CHARS`] (the sender's own
/// text can be quoted in it).
pub fn bounded(mut error: LineError) -> LineError {
    if error.error.chars().count() > MAX_ERROR_CHARS {
        error.error = error.error.chars().take(MAX_ERROR_CHARS).chain("…".chars()).collect();
    }
    if let Some(field) = &mut error.field
        && field.chars().count() > 200
    {
        *field = field.chars().take(200).chain("…".chars()).collect();
    }
    error
}

/// The longest id-like string accepted (`account_id`, `event_id`, `model`, ...).
const MAX_ID_LEN: usize = 512;
/// Timestamps outside these years are almost certainly unit mistakes
/// (milliseconds read as seconds and the like).
const YEARS: std::ops::RangeInclusive<i32> = 1970..=2200;

/// Parses and validates one event from its JSON text.
pub fn parse_event(text: &[u8], line: u64, limits: &Limits) -> Result<Event, LineError> {
    if text.len() > limits.max_event_bytes {
        return Err(LineError::line(
            line,
            format!("event is {} bytes, over the limit of {} bytes", text.len(), limits.max_event_bytes),
        ));
    }
    let value: Value = serde_json::from_slice(text)
        .map_err(|e| LineError::line(line, format!("invalid JSON at column {}: {}", e.column(), strip_position(&e))))?;
    parse_event_value(value, line, limits)
}

/// serde_json appends " at line L column C" to its messages; the line is ours to report.
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Validates one already-parsed JSON value; its timestamp must be inside
/// the limits' window, when they have one.
pub fn parse_event_value(value: Value, line: u64, limits: &Limits) -> Result<Event, LineError> {
    let event = event_from_value(value, line)?;
    if let Some(window) = &limits.timestamps {
        window.check(event.timestamp, line)?;
    }
    Ok(event)
}

fn event_from_value(mut value: Value, line: u64) -> Result<Event, LineError> {
    replace_nul(&mut value);
    let Value::Object(_) = &value else {
        return Err(LineError::line(line, format!("expected a JSON object, found {}", kind(&value))));
    };
    // Hash before anything is taken out of the value: the id covers the whole content.
    let given_id = value.get("event_id").filter(|v| !v.is_null()).cloned();
    let (event_id, event_id_source) = match given_id {
        Some(id) => (id_string(id, "event_id", line)?, EventIdSource::Given),
        None => (content_hash(&value), EventIdSource::ContentHash),
    };
    let Value::Object(obj) = value else { unreachable!("checked to be an object above") };
    let mut obj = Fields::of(obj);
    obj.remove("event_id");

    let mut unknown = Map::new();
    let account_id = required_id(&mut obj, "account_id", line)?;
    let timestamp = timestamp(obj.remove("timestamp"), line)?;
    let model = required_id(&mut obj, "model", line)?;
    let endpoint = optional_id(&mut obj, "endpoint", "endpoint", line)?;
    let api_key_id = optional_id(&mut obj, "api_key_id", "api_key_id", line)?;
    let org_id = optional_id(&mut obj, "org_id", "org_id", line)?;
    let conversation_id = optional_id(&mut obj, "conversation_id", "conversation_id", line)?;

    let request = match obj.remove("request") {
        None | Some(Value::Null) => return Err(LineError::field(line, "request", "is required")),
        Some(Value::Object(request)) => parse_request(Fields::of(request), line, &mut unknown)?,
        Some(other) => return Err(expected(line, "request", "an object", &other)),
    };
    let response = match take_object(&mut obj, "response", "response", line)? {
        None => None,
        Some(response) => {
            let mut response = Fields::of(response);
            let parsed = Response {
                content: optional_string(&mut response, "content", "response.content", line)?,
                finish_reason: optional_id(&mut response, "finish_reason", "response.finish_reason", line)?,
            };
            keep_unknown(response, "response.", &mut unknown);
            Some(parsed)
        }
    };
    let usage = match take_object(&mut obj, "usage", "usage", line)? {
        None => Usage::default(),
        Some(usage) => {
            let mut usage = Fields::of(usage);
            let parsed = Usage {
                prompt_tokens: count(&mut usage, "prompt_tokens", "usage.prompt_tokens", 0, line)?,
                completion_tokens: count(&mut usage, "completion_tokens", "usage.completion_tokens", 0, line)?,
            };
            keep_unknown(usage, "usage.", &mut unknown);
            parsed
        }
    };
    let client = match take_object(&mut obj, "client", "client", line)? {
        None => Client::default(),
        Some(client) => {
            let mut client = Fields::of(client);
            let ip = match optional_id(&mut client, "ip", "client.ip", line)? {
                None => None,
                Some(text) => Some(parse_ip(&text).ok_or_else(|| {
                    LineError::field(line, "client.ip", format!("{text:?} is not an IPv4 or IPv6 address"))
                })?),
            };
            let user_agent = optional_string(&mut client, "user_agent", "client.user_agent", line)?;
            keep_unknown(client, "client.", &mut unknown);
            Client { ip, user_agent }
        }
    };
    let mut metadata = take_object(&mut obj, "metadata", "metadata", line)?.unwrap_or_default();
    keep_unknown(obj, "", &mut unknown);
    if !unknown.is_empty() {
        metadata.insert("_unknown".to_owned(), Value::Object(unknown));
    }

    Ok(Event {
        event_id,
        event_id_source,
        account_id,
        timestamp,
        model,
        endpoint,
        api_key_id,
        org_id,
        conversation_id,
        request,
        response,
        usage,
        client,
        metadata,
    })
}

fn parse_request(mut request: Fields, line: u64, unknown: &mut Map<String, Value>) -> Result<Request, LineError> {
    let messages = match request.remove("messages") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut messages = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                messages.push(parse_message(item, i, line, unknown)?);
            }
            if messages.is_empty() {
                return Err(LineError::field(
                    line,
                    "request.messages",
                    "is empty: give at least one message, or request.prompt",
                ));
            }
            Some(messages)
        }
        Some(other) => return Err(expected(line, "request.messages", "an array of messages", &other)),
    };
    let prompt = match request.remove("prompt") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Array(parts)) if parts.iter().all(Value::is_string) => {
            Some(parts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"))
        }
        Some(other) => return Err(expected(line, "request.prompt", "a string", &other)),
    };
    let (prompt, system_prompt) = match (&messages, prompt) {
        (_, Some(prompt)) => (prompt, messages.as_deref().and_then(system_prompt_of)),
        (Some(messages), None) => (prompt_of(messages), system_prompt_of(messages)),
        (None, None) => {
            return Err(LineError::field(line, "request", "needs a prompt: request.messages or request.prompt"));
        }
    };

    let logprobs_value = request.remove("logprobs");
    let mut top_logprobs = count(&mut request, "top_logprobs", "request.top_logprobs", 0, line)?;
    let logprobs = match logprobs_value {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(b),
        // The legacy completions API takes the number of alternatives here.
        Some(Value::Number(n)) if n.as_u64().is_some_and(|v| v <= i32::MAX as u64) => {
            let v = n.as_u64().unwrap_or(0) as i32;
            top_logprobs = top_logprobs.or(Some(v));
            Some(v > 0)
        }
        Some(other) => return Err(expected(line, "request.logprobs", "a boolean", &other)),
    };
    let max_tokens = match count(&mut request, "max_tokens", "request.max_tokens", 0, line)? {
        Some(v) => {
            // Keep the newer name too when both are sent; only one can be the cap.
            if let Some(v2) = request.remove("max_completion_tokens") {
                unknown.insert("request.max_completion_tokens".to_owned(), v2);
            }
            Some(v)
        }
        None => count(&mut request, "max_completion_tokens", "request.max_completion_tokens", 0, line)?,
    };
    let params = SamplingParams {
        temperature: real(&mut request, "temperature", "request.temperature", line)?,
        top_p: real(&mut request, "top_p", "request.top_p", line)?,
        max_tokens,
        n: count(&mut request, "n", "request.n", 1, line)?,
        logprobs,
        top_logprobs,
        seed: match request.remove("seed") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
            Some(other) => return Err(expected(line, "request.seed", "an integer", &other)),
        },
    };
    let history_logged = match request.remove("history_logged") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(b),
        Some(other) => return Err(expected(line, "request.history_logged", "a boolean", &other)),
    };
    keep_unknown(request, "request.", unknown);
    Ok(Request { messages, prompt, system_prompt, params, history_logged })
}

fn parse_message(item: Value, index: usize, line: u64, unknown: &mut Map<String, Value>) -> Result<Message, LineError> {
    let path = format!("request.messages[{index}]");
    let Value::Object(message) = item else {
        return Err(expected(line, &path, "an object with role and content", &item));
    };
    let mut message = Fields::of(message);
    let role = match message.remove("role") {
        Some(Value::String(role)) if !role.is_empty() => role,
        None | Some(Value::Null) => return Err(LineError::field(line, format!("{path}.role"), "is required")),
        Some(other) => return Err(expected(line, &format!("{path}.role"), "a non-empty string", &other)),
    };
    let content = match message.remove("content") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        // Multi-part content: keep the text parts; other parts (images, audio)
        // are kept verbatim among the unknown fields.
        Some(Value::Array(parts)) => {
            let mut texts = Vec::new();
            let mut others = Vec::new();
            for (j, part) in parts.into_iter().enumerate() {
                match part.get("text").and_then(Value::as_str) {
                    Some(text) => texts.push(text.to_owned()),
                    None if part.is_object() => others.push(part),
                    None => {
                        return Err(expected(line, &format!("{path}.content[{j}]"), "a content part object", &part));
                    }
                }
            }
            if !others.is_empty() {
                unknown.insert(format!("{path}.content"), Value::Array(others));
            }
            texts.join("\n")
        }
        Some(other) => return Err(expected(line, &format!("{path}.content"), "a string or an array of parts", &other)),
    };
    keep_unknown(message, &format!("{path}."), unknown);
    Ok(Message { role, content })
}

/// The prompt analysis reads: the last user message, else the last message.
fn prompt_of(messages: &[Message]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .or_else(|| messages.last())
        .map(|m| m.content.clone())
        .unwrap_or_default()
}

fn system_prompt_of(messages: &[Message]) -> Option<String> {
    let parts: Vec<&str> =
        messages.iter().filter(|m| m.role == "system" || m.role == "developer").map(|m| m.content.as_str()).collect();
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

fn timestamp(value: Option<Value>, line: u64) -> Result<OffsetDateTime, LineError> {
    let text = match value {
        None | Some(Value::Null) => return Err(LineError::field(line, "timestamp", "is required")),
        Some(Value::String(text)) => text,
        Some(other) => {
            return Err(expected(line, "timestamp", "an RFC 3339 string such as 2026-11-01T12:00:00Z", &other));
        }
    };
    let at = OffsetDateTime::parse(&text, &Rfc3339).map_err(|e| {
        LineError::field(
            line,
            "timestamp",
            format!("{text:?} is not an RFC 3339 timestamp ({e}); example: 2026-11-01T12:00:00.123Z"),
        )
    })?;
    if !YEARS.contains(&at.year()) {
        return Err(LineError::field(
            line,
            "timestamp",
            format!("{text:?} is outside the years {}..={}", YEARS.start(), YEARS.end()),
        ));
    }
    Ok(at.to_offset(time::UtcOffset::UTC))
}

fn parse_ip(text: &str) -> Option<std::net::IpAddr> {
    text.parse().ok().or_else(|| text.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

/// An object's fields, taken out one by one: an event has a dozen, and a
/// scan of a dozen beats removing each from the map's tree.
struct Fields(Vec<(String, Value)>);

impl Fields {
    fn of(map: Map<String, Value>) -> Self {
        Self(map.into_iter().collect())
    }

    fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.swap_remove(i).1)
    }
}

fn required_id(obj: &mut Fields, key: &str, line: u64) -> Result<String, LineError> {
    optional_id(obj, key, key, line)?.ok_or_else(|| LineError::field(line, key, "is required"))
}

/// An optional short string: non-empty, at most [`MAX_ID_LEN`] bytes.
fn optional_id(obj: &mut Fields, key: &str, path: &str, line: u64) -> Result<Option<String>, LineError> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => id_string(value, path, line).map(Some),
    }
}

fn id_string(value: Value, path: &str, line: u64) -> Result<String, LineError> {
    match value {
        Value::String(s) if s.trim().is_empty() => Err(LineError::field(line, path, "must not be empty")),
        Value::String(s) if s.len() > MAX_ID_LEN => {
            Err(LineError::field(line, path, format!("is {} bytes long; the limit is {MAX_ID_LEN}", s.len())))
        }
        Value::String(s) => Ok(s),
        other => Err(expected(line, path, "a string", &other)),
    }
}

fn optional_string(obj: &mut Fields, key: &str, path: &str, line: u64) -> Result<Option<String>, LineError> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(expected(line, path, "a string", &other)),
    }
}

fn take_object(obj: &mut Fields, key: &str, path: &str, line: u64) -> Result<Option<Map<String, Value>>, LineError> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(expected(line, path, "an object", &other)),
    }
}

/// A non-negative integer at least `min` that fits in 32 bits.
fn count(obj: &mut Fields, key: &str, path: &str, min: i64, line: u64) -> Result<Option<i32>, LineError> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if v >= min && v <= i64::from(i32::MAX) => Ok(Some(v as i32)),
            Some(v) => Err(LineError::field(line, path, format!("{v} is out of range: expected {min}..={}", i32::MAX))),
            None => Err(LineError::field(line, path, format!("{n} is not an integer"))),
        },
        Some(other) => Err(expected(line, path, "an integer", &other)),
    }
}

fn real(obj: &mut Fields, key: &str, path: &str, line: u64) -> Result<Option<f32>, LineError> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v.is_finite() && v >= 0.0 && v <= f64::from(f32::MAX) => Ok(Some(v as f32)),
            _ => Err(LineError::field(line, path, format!("{n} is out of range: expected a non-negative number"))),
        },
        Some(other) => Err(expected(line, path, "a number", &other)),
    }
}

fn keep_unknown(rest: Fields, prefix: &str, unknown: &mut Map<String, Value>) {
    for (key, value) in rest.0 {
        unknown.insert(format!("{prefix}{key}"), value);
    }
}

fn expected(line: u64, path: &str, what: &str, found: &Value) -> LineError {
    LineError::field(line, path, format!("expected {what}, found {}", kind(found)))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// PostgreSQL can store neither NUL in `text` nor `\u0000` in `jsonb`.
fn replace_nul(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        Value::Array(items) => items.iter_mut().for_each(replace_nul),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                let old = std::mem::take(map);
                for (k, v) in old {
                    map.insert(k.replace('\0', "\u{FFFD}"), v);
                }
            }
            map.values_mut().for_each(replace_nul);
        }
        _ => {}
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
