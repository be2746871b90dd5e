//! The parts of a stored event that detection reads: one compact record per
//! request, without the completion text or the message history.

use std::net::IpAddr;

/// One request as an audit sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// The account.
    pub account_id: String,
    /// The event's id, quoted as evidence.
    pub event_id: String,
    /// Milliseconds since the Unix epoch (UTC).
    pub ts_ms: i64,
    /// The model asked.
    pub model: String,
    /// The last user message (or the plain prompt).
    pub prompt: String,
    /// System and developer messages, joined.
    pub system_prompt: Option<String>,
    /// User and assistant messages before the last user message: 0 for a
    /// single-turn request; `None` when the log keeps the last message only
    /// (unknown, not single-turn).
    pub prior_turns: Option<u32>,
    /// The conversation, when the log carries one.
    pub conversation_id: Option<String>,
    /// `temperature` as sent (`None`: not in the log).
    pub temperature: Option<f32>,
    /// `max_tokens` as sent.
    pub max_tokens: Option<i32>,
    /// `n` as sent.
    pub n: Option<i32>,
    /// `logprobs` as sent (`None` is unknown, not false).
    pub logprobs: Option<bool>,
    /// Why the completion ended.
    pub finish_reason: Option<String>,
    /// Prompt tokens billed.
    pub prompt_tokens: Option<i32>,
    /// Completion tokens billed.
    pub completion_tokens: Option<i32>,
    /// The client address.
    pub client_ip: Option<IpAddr>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// The platform's own end user, when a reseller or app passes one along
    /// (the `user` field of OpenAI-style requests).
    pub end_user: Option<String>,
    /// The prompt's sentence embedding, when the audit's sample embedded
    /// this request (most requests carry none on a CPU).
    pub prompt_vector: Option<Vec<f32>>,
}
