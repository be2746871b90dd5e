//! The distillwatch vocabulary, shared by every other crate.
//!
//! Pure data: no I/O, no async runtime, no database or HTTP types. Ingest turns
//! bytes into [`Event`]s, the store persists them, the detection crates read them
//! back, and the API reports [`IngestOutcome`]s and [`ApiKey`]s to clients.
//!
//! Layout:
//! - [`event`]: the canonical usage event and its parts.
//! - [`ingest`]: what became of a batch (accepted, duplicates, rejected lines).
//! - [`access`]: API keys and their roles.
//! - [`case`]: flags' subjects, statuses and history actions.
//! - [`job`]: where a queued job (an audit, a reference run) stands.
//! - [`record`]: the compact view of a stored request that detection reads.
//! - [`score`]: an audit's verdict on an account (risk, level, flag, cluster).
//! - [`reference`]: reference sets' items (a suspect model's outputs).
//! - [`csv`]: the CSV dialect of the files distillwatch writes and reads.

pub mod access;
pub mod attributes;
pub mod case;
pub mod csv;
pub mod event;
pub mod ingest;
pub mod job;
mod names;
pub mod record;
pub mod reference;
pub mod score;

pub use access::{ApiKey, Role, UnknownRole};
pub use attributes::AccountAttributes;
pub use case::{CaseAction, FlagStatus, SubjectKind};
pub use event::{Client, Event, EventIdSource, Message, Request, Response, SamplingParams, Usage};
pub use ingest::{HistoryLogging, IngestOutcome, IngestSource, LineError};
pub use job::JobState;
pub use names::UnknownName;
pub use record::RequestRecord;
pub use reference::ReferenceItem;
pub use score::{AccountScore, Contribution, RiskLevel};
