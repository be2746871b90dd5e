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

pub mod access;
pub mod event;
pub mod ingest;

pub use access::{ApiKey, Role, UnknownRole};
pub use event::{Client, Event, EventIdSource, Message, Request, Response, SamplingParams, Usage};
pub use ingest::{IngestOutcome, IngestSource, LineError};
