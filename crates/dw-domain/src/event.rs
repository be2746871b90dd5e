//! The canonical usage event: one model API request and what it returned.
//!
//! Every log format distillwatch reads is turned into this shape. Only the
//! account, timestamp, model and prompt are required; everything else is
//! optional, and a missing value means "not known", never "false" or "zero".

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// One request to a model API, normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The idempotency key: the sender's id, or a hash of the content.
    pub event_id: String,
    /// Whether `event_id` was sent or derived from the content.
    pub event_id_source: EventIdSource,
    /// The account the request was billed to.
    pub account_id: String,
    /// When the request was made (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// The model that was asked.
    pub model: String,
    /// The API endpoint (`chat.completions`, `completions`, `responses`, ...).
    pub endpoint: Option<String>,
    /// The API key the request used (the provider's id, not the key itself).
    pub api_key_id: Option<String>,
    /// The organization that owns the account.
    pub org_id: Option<String>,
    /// The conversation or thread the request belongs to.
    pub conversation_id: Option<String>,
    /// What was asked.
    pub request: Request,
    /// What the model answered, when the log carries it.
    pub response: Option<Response>,
    /// Token counts, when the log carries them.
    pub usage: Usage,
    /// Where the request came from.
    pub client: Client,
    /// The event's own `metadata` object, plus every field the format does not
    /// define, kept under `_unknown` by its dotted path.
    pub metadata: Map<String, Value>,
}

/// Whether an event's id came from the sender or was derived by ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventIdSource {
    /// The sender supplied `event_id`.
    Given,
    /// The sender did not; the id is a hash of the event's content.
    ContentHash,
}

/// The request side of an event.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Request {
    /// Chat messages, in order, when the request was a chat.
    pub messages: Option<Vec<Message>>,
    /// The prompt analysis reads: the last user message of a chat, or the
    /// plain prompt of a completion request.
    pub prompt: String,
    /// The system prompt(s) of a chat, joined by blank lines.
    pub system_prompt: Option<String>,
    /// Sampling parameters as sent.
    pub params: SamplingParams,
    /// Whether the log keeps the whole conversation (`request.history_logged`):
    /// `Some(false)` when the source logs the last user message only, so that
    /// earlier turns and the system prompt are unknown, not absent. `None`
    /// when the source did not say: the messages are taken as sent.
    #[serde(default)]
    pub history_logged: Option<bool>,
}

/// One chat message with its text content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant`, `tool`, `developer`, ...
    pub role: String,
    /// The message text (text parts of a multi-part message joined by newlines).
    pub content: String,
}

/// Sampling parameters; `None` means the log did not say.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SamplingParams {
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Nucleus sampling mass.
    pub top_p: Option<f32>,
    /// Output token cap.
    pub max_tokens: Option<i32>,
    /// Number of completions asked for.
    pub n: Option<i32>,
    /// Whether token log-probabilities were asked for.
    pub logprobs: Option<bool>,
    /// How many alternatives per token, when log-probabilities were asked for.
    pub top_logprobs: Option<i32>,
    /// Sampling seed.
    pub seed: Option<i64>,
}

/// The response side of an event.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Response {
    /// The completion text (the first choice's).
    pub content: Option<String>,
    /// Why generation stopped (`stop`, `length`, ...).
    pub finish_reason: Option<String>,
}

/// Token counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: Option<i32>,
    /// Tokens in the completion(s).
    pub completion_tokens: Option<i32>,
}

/// Where a request came from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Client {
    /// The client's IP address.
    pub ip: Option<std::net::IpAddr>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
}

impl Event {
    /// The first day of the calendar month (UTC) that holds this event: the
    /// key of the storage partition it belongs to.
    pub fn month(&self) -> time::Date {
        month_of(self.timestamp)
    }
}

/// The first day of the UTC calendar month that contains `at`.
pub fn month_of(at: OffsetDateTime) -> time::Date {
    let date = at.to_offset(time::UtcOffset::UTC).date();
    date.replace_day(1).unwrap_or(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn month_is_taken_in_utc() {
        assert_eq!(month_of(datetime!(2026-11-30 23:30 -02:00)), date!(2026 - 12 - 01));
        assert_eq!(month_of(datetime!(2026-12-01 00:30 +02:00)), date!(2026 - 11 - 01));
        assert_eq!(month_of(datetime!(2024-02-29 12:00 UTC)), date!(2024 - 02 - 01));
    }
}
