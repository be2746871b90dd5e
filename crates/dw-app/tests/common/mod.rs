//! Helpers shared by the use-case tests.

#![allow(dead_code)]

use dw_app::IngestBatch;
use dw_domain::{Event, IngestSource};

/// Validated events from JSON lines, as ingest would make them.
pub fn parse(lines: &[String]) -> Vec<Event> {
    let limits = dw_ingest::Limits::default();
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| dw_ingest::parse_event(line.as_bytes(), i as u64 + 1, &limits).expect("valid test event"))
        .collect()
}

/// A CLI batch of `events`.
pub fn batch(events: Vec<Event>) -> IngestBatch {
    IngestBatch {
        lines: events.len() as u64,
        events,
        rejected: Vec::new(),
        rejected_unlisted: 0,
        bytes: 0,
        source: IngestSource::Cli,
        api_key_id: None,
        origin: None,
        history_logged: None,
    }
}
