//! Writing a simulation: canonical events (the documented ingest format, one
//! JSON object per line) and one label row per account.

use std::io::Write;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::traffic::{SimEvent, tokens};
use crate::{Simulation, rfc3339_millis};

#[derive(Serialize)]
struct OutEvent<'a> {
    event_id: String,
    account_id: &'a str,
    api_key_id: String,
    timestamp: String,
    model: &'static str,
    endpoint: &'static str,
    request: Map<String, Value>,
    response: OutResponse<'a>,
    usage: OutUsage,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<OutClient<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation_id: Option<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    metadata: Map<String, Value>,
}

#[derive(Serialize)]
struct OutResponse<'a> {
    content: &'a str,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct OutUsage {
    prompt_tokens: u32,
    completion_tokens: u32,
}

#[derive(Serialize)]
struct OutClient<'a> {
    ip: String,
    user_agent: &'a str,
}

/// What a gateway's log keeps of each request. Providers log different
/// fields; the evaluation re-runs a suite without each (an ablation), the
/// events written as that gateway would have logged them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedFields {
    /// The client's address and user agent.
    pub client: bool,
    /// The request's sampling parameters (temperature, top_p, max_tokens,
    /// n, logprobs, top_logprobs, seed); finish reason and usage are kept.
    pub parameters: bool,
    /// The whole conversation (system prompt and earlier turns); without
    /// it, the last user message only.
    pub conversation: bool,
}

impl Default for LoggedFields {
    fn default() -> Self {
        Self { client: true, parameters: true, conversation: true }
    }
}

/// Writes the events as JSON Lines. Event ids come from the seed, so the
/// same simulation writes the same file. Returns the number written.
pub fn write_events<W: Write>(sim: &Simulation, out: W) -> std::io::Result<u64> {
    write_logged_events(sim, LoggedFields::default(), out)
}

/// [`write_events`] with only the `logged` fields.
pub fn write_logged_events<W: Write>(sim: &Simulation, logged: LoggedFields, mut out: W) -> std::io::Result<u64> {
    let mut ids = ChaCha8Rng::seed_from_u64(sim.config.seed);
    ids.set_stream(u64::MAX);
    for event in &sim.events {
        let account = &sim.accounts[event.account as usize];
        let line = OutEvent {
            event_id: format!("req_{:016x}", ids.random::<u64>()),
            account_id: &account.id,
            api_key_id: format!("key_{}", account.id.trim_start_matches("acct_")),
            timestamp: rfc3339_millis(event.ts_ms),
            model: event.exchange.model.name(),
            endpoint: if event.exchange.legacy_completion { "completions" } else { "chat.completions" },
            request: request_json(event, logged),
            response: OutResponse {
                content: &event.exchange.response,
                finish_reason: if event.cut_at_limit { "length" } else { "stop" },
            },
            usage: usage(event),
            client: logged.client.then(|| OutClient { ip: event.ip.to_string(), user_agent: &event.user_agent }),
            conversation_id: event.exchange.conversation.map(|c| format!("conv_{c:016x}")),
            metadata: metadata(event),
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(sim.events.len() as u64)
}

fn request_json(event: &SimEvent, logged: LoggedFields) -> Map<String, Value> {
    let exchange = &event.exchange;
    let mut request = Map::new();
    if exchange.legacy_completion {
        request.insert("prompt".into(), Value::from(&*exchange.prompt));
    } else {
        let mut messages = Vec::new();
        if logged.conversation {
            if let Some(system) = &exchange.system {
                messages.push(message("system", system));
            }
            for (i, turn) in exchange.history.iter().enumerate() {
                messages.push(message(if i % 2 == 0 { "user" } else { "assistant" }, turn));
            }
        }
        messages.push(message("user", &exchange.prompt));
        request.insert("messages".into(), Value::Array(messages));
    }
    if !logged.conversation {
        // What such a source declares, so that the history is read as unknown.
        request.insert("history_logged".into(), Value::Bool(false));
    }
    let params = &exchange.params;
    if !logged.parameters {
        return request;
    }
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            request.insert(key.into(), value);
        }
    };
    // f32 parameters are written with the digits a client sends (0.7, not 0.699999988).
    put("temperature", params.temperature.map(|v| Value::from((f64::from(v) * 100.0).round() / 100.0)));
    put("top_p", params.top_p.map(|v| Value::from((f64::from(v) * 100.0).round() / 100.0)));
    put("max_tokens", params.max_tokens.map(Value::from));
    put("n", params.n.map(Value::from));
    put("logprobs", params.logprobs.map(Value::from));
    put("top_logprobs", params.top_logprobs.map(Value::from));
    put("seed", params.seed.map(Value::from));
    request
}

fn message(role: &str, content: &str) -> Value {
    let mut m = Map::new();
    m.insert("role".into(), Value::from(role));
    m.insert("content".into(), Value::from(content));
    Value::Object(m)
}

fn usage(event: &SimEvent) -> OutUsage {
    let exchange = &event.exchange;
    let prompt = tokens(&exchange.prompt)
        + exchange.system.as_deref().map_or(0, tokens)
        + exchange.history.iter().map(|t| tokens(t)).sum::<u32>();
    let completion = tokens(&exchange.response) * exchange.params.n.unwrap_or(1);
    OutUsage { prompt_tokens: prompt, completion_tokens: completion }
}

fn metadata(event: &SimEvent) -> Map<String, Value> {
    let mut metadata = Map::new();
    if let Some(user) = event.exchange.end_user {
        // The `user` field platforms pass to identify their own end users.
        metadata.insert("user".into(), Value::from(format!("u_{user:08x}")));
    }
    metadata
}

/// Writes `account_id,label,kind,campaign`, one row per account, sorted by id.
pub fn write_labels<W: Write>(sim: &Simulation, mut out: W) -> std::io::Result<()> {
    writeln!(out, "account_id,label,kind,campaign")?;
    let mut accounts: Vec<_> = sim.accounts.iter().collect();
    accounts.sort_by(|a, b| a.id.cmp(&b.id));
    for account in accounts {
        writeln!(
            out,
            "{},{},{},{}",
            crate::labels::csv_field(&account.id),
            account.label(),
            account.kind.name(),
            crate::labels::csv_field(account.campaign.as_deref().unwrap_or(""))
        )?;
    }
    out.flush()
}
