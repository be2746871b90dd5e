//! Log formats other than the canonical event, mapped to it.
//!
//! One seam: a [`Format`] names the shape a source writes; [`to_canonical`]
//! turns one record of that shape into a canonical event (a JSON object),
//! which then goes through the same validation as any event
//! ([`crate::parse_event_value`]), so errors name their line and field the
//! same way. What a format carries that the canonical event has no field
//! for is kept under `metadata`, never dropped.

mod litellm;
mod openai;
pub mod otlp;
mod otlp_files;
mod otlp_json;

pub use openai::batch_pair;
pub use otlp_files::{OtlpFile, parse_otlp_file, read_otlp_stream};

use dw_domain::LineError;
use serde_json::Value;

/// A source's log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The canonical event (`docs/event-format.md`).
    #[default]
    Canonical,
    /// LiteLLM's `StandardLoggingPayload`, as its generic API logger posts
    /// it (one object or an array of them).
    Litellm,
    /// OpenAI-style `{"request": …, "response": …}` pairs (Chat Completions
    /// or Responses), one per line.
    Openai,
}

impl Format {
    /// Every format, by name.
    pub const ALL: [Format; 3] = [Format::Canonical, Format::Litellm, Format::Openai];

    /// Its name (`?format=`, `--format`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Canonical => "canonical",
            Format::Litellm => "litellm",
            Format::Openai => "openai",
        }
    }

    /// Whether a record of this format carries the whole conversation
    /// (earlier turns and the system prompt), so detection can tell a
    /// single-turn request from a log that kept the last message only.
    pub fn logs_history(self) -> bool {
        match self {
            // The canonical event says so itself (`request.history_logged`).
            Format::Canonical => true,
            // The proxy logs the messages as the client sent them.
            Format::Litellm => true,
            // The request body as sent: every message.
            Format::Openai => true,
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Format::ALL.into_iter().find(|f| f.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
            format!("unknown format {name:?} (known: {})", known.join(", "))
        })
    }
}

/// Where records come from: their format, and what the source says of them
/// that the records may not (the account a log of one API key is of).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    /// The records' format.
    pub format: Format,
    /// The account every record is of, when the source names one
    /// (`--account`, `?account=`): formats whose records carry no account of
    /// their own (`openai`) need it or an end user on each request.
    pub account: Option<String>,
}

impl From<Format> for Source {
    fn from(format: Format) -> Self {
        Self { format, account: None }
    }
}

/// One record from `source` as a canonical event, or why it cannot be one
/// (its `line` and the field at fault).
pub fn to_canonical(source: &Source, record: Value, line: u64) -> Result<Value, LineError> {
    match source.format {
        Format::Canonical => Ok(record),
        Format::Litellm => litellm::to_canonical(record, line),
        Format::Openai => openai::to_canonical(record, line, source.account.as_deref()),
    }
}

/// Sets a canonical event's `client` from an address and a user agent, when
/// the source logged either.
fn insert_client(event: &mut serde_json::Map<String, Value>, ip: Option<String>, agent: Option<String>) {
    if ip.is_none() && agent.is_none() {
        return;
    }
    let mut client = serde_json::Map::new();
    client.extend(ip.map(|v| ("ip".to_owned(), Value::String(v))));
    client.extend(agent.map(|v| ("user_agent".to_owned(), Value::String(v))));
    event.insert("client".into(), Value::Object(client));
}
