//! What became of a batch of events.

use serde::{Deserialize, Serialize};

/// What a source logs of each conversation it relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HistoryLogging {
    /// Every message, as sent: earlier turns and the system prompt are there
    /// when the client sent them.
    #[default]
    Full,
    /// The last user message only (many gateways): earlier turns and the
    /// system prompt are unknown, never absent, and the signals that read
    /// them are not computed.
    LastMessage,
}

impl HistoryLogging {
    /// Both, in the order they are documented.
    pub const ALL: [HistoryLogging; 2] = [HistoryLogging::Full, HistoryLogging::LastMessage];

    /// The name as stored and typed.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryLogging::Full => "full",
            HistoryLogging::LastMessage => "last_message",
        }
    }

    /// What the events of such a source say of themselves when they do not
    /// say: `request.history_logged: false` for a last-message source,
    /// nothing (taken as sent) for a full one.
    pub fn history_logged(self) -> Option<bool> {
        match self {
            HistoryLogging::Full => None,
            HistoryLogging::LastMessage => Some(false),
        }
    }
}

impl std::fmt::Display for HistoryLogging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for HistoryLogging {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HistoryLogging::ALL
            .into_iter()
            .find(|h| h.as_str() == s)
            .ok_or_else(|| format!("expected \"full\" or \"last_message\", found {s:?}"))
    }
}

/// One rejected line (or array element) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineError {
    /// 1-based line number (NDJSON, files) or element number (JSON arrays);
    /// 0 when the error concerns the whole body.
    pub line: u64,
    /// The dotted path of the offending field, when one field is to blame.
    pub field: Option<String>,
    /// What is wrong, in words.
    pub error: String,
}

impl LineError {
    /// An error about one field of one line.
    pub fn field(line: u64, field: impl Into<String>, error: impl Into<String>) -> Self {
        Self { line, field: Some(field.into()), error: error.into() }
    }

    /// An error about a whole line.
    pub fn line(line: u64, error: impl Into<String>) -> Self {
        Self { line, field: None, error: error.into() }
    }
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}: {}: {}", self.line, field, self.error),
            None => write!(f, "line {}: {}", self.line, self.error),
        }
    }
}

/// The outcome of ingesting one batch.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IngestOutcome {
    /// Events stored by this batch.
    pub accepted: u64,
    /// Valid events already stored before (or repeated within the batch).
    pub duplicates: u64,
    /// Lines that were not valid events, with the reason for each (at most
    /// the listed number: see `rejected_unlisted`).
    pub rejected: Vec<LineError>,
    /// Invalid lines beyond those listed in `rejected`.
    #[serde(default)]
    pub rejected_unlisted: u64,
    /// Replacements made by redaction at ingest (`ingest.redact`).
    #[serde(default)]
    pub redacted: u64,
}

impl IngestOutcome {
    /// Adds another batch's outcome to this one.
    pub fn absorb(&mut self, other: IngestOutcome) {
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.rejected.extend(other.rejected);
        self.rejected_unlisted += other.rejected_unlisted;
        self.redacted += other.redacted;
    }
}

/// How a batch reached distillwatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestSource {
    /// `POST /v1/events`.
    Http,
    /// `distillwatch ingest`.
    Cli,
}

impl IngestSource {
    /// The name stored in the ingest log.
    pub fn as_str(self) -> &'static str {
        match self {
            IngestSource::Http => "http",
            IngestSource::Cli => "cli",
        }
    }
}
