//! Ingest: bytes or lines in, validated [`Event`]s out.
//!
//! Pure and synchronous. The HTTP handler and the CLI both come through here,
//! so the two paths accept and reject exactly the same input:
//!
//! 1. [`decode_body`] undoes `gzip`/`zstd` content encoding, stopping at the
//!    body limit so that a compression bomb costs at most that much memory.
//! 2. [`parse_ndjson`] or [`parse_json_array`] split the body into events and
//!    [`parse_event`] validates each one against the canonical event format
//!    (documented in `docs/event-format.md` and [`EVENT_SCHEMA`]). A file is
//!    read the same way, line by line, through [`LineReader`].
//! 3. Every invalid line becomes a [`LineError`] naming its line and field; the
//!    valid ones go on to the store.
//!
//! Gateways' own formats ([`formats`]: LiteLLM's logging payload) are mapped
//! to the canonical event first ([`parse_ndjson_as`], [`parse_json_as`]), then
//! validated the same way.
//!
//! Reference-set items (a suspect model's outputs) come in the same way, one
//! JSON object per line, through [`parse_reference_ndjson`].
//!
//! An event without an `event_id` gets one from [`content_hash`], so that
//! re-sending the same bytes never stores the event twice.

mod attributes;
mod batch;
mod body;
mod content_hash;
pub mod formats;
mod lines;
mod luhn;
pub mod redact;
mod reference;
mod validate;

pub use attributes::{ParsedAttributes, parse_attributes_csv};
pub use batch::{
    ParsedBatch, parse_json_array, parse_json_as, parse_ndjson, parse_ndjson_as, parse_openai_batch, parse_record,
};
pub use body::{BodyError, ContentEncoding, decode_body};
pub use content_hash::content_hash;
pub use formats::{Format, Source};
pub use lines::{LineReader, ReadLine};
pub use redact::{Redacted, Redaction};
pub use reference::{ParsedReferenceItems, REFERENCE_ITEM_FIELDS, parse_reference_item, parse_reference_ndjson};
pub use validate::{
    Clock, HOPELESS_AFTER, Limits, MAX_ERROR_CHARS, Stopped, TimestampPolicy, TimestampWindow, bounded, parse_event,
    parse_event_value,
};

pub use dw_domain::{Event, LineError};

/// The JSON Schema (draft 2020-12) of the canonical event, as served by
/// `GET /v1/schema/event`.
pub const EVENT_SCHEMA: &str = include_str!("event.schema.json");
