//! What every fuzz target checks besides "no panic": the answer accounts
//! for the input (each item is an event or a rejection, never both, never
//! lost), rejections name a line inside the input, and every error text
//! stays within the bound the API promises.

use dw_ingest::{Limits, MAX_ERROR_CHARS, ParsedBatch};

/// Limits as the API's: small enough that the fuzzer reaches them.
pub fn limits() -> Limits {
    Limits {
        max_event_bytes: 64 * 1024,
        max_body_bytes: 1 << 20,
        max_items: 5_000,
        max_listed_errors: 20,
        timestamps: None,
    }
}

/// The invariants of a parsed body: at most one outcome per item (`items`
/// at most, or one for the whole body), every rejection naming a line (or
/// element, or span) from 0 to `last_line`, listed rejections within the
/// limit, error texts bounded.
pub fn check_batch(batch: &ParsedBatch, limits: &Limits, items: u64, last_line: u64) {
    let rejected = batch.rejected.len() as u64 + batch.unlisted;
    assert!(batch.events.len() as u64 + rejected <= items.max(1), "more outcomes than items");
    assert!(batch.rejected.len() <= limits.max_listed_errors, "more rejections listed than the limit");
    for error in &batch.rejected {
        assert!(error.line <= last_line, "a rejection names line {} of {}", error.line, last_line);
        assert!(error.error.chars().count() <= MAX_ERROR_CHARS + 1, "an unbounded error text");
    }
}

/// The physical lines of `data` (what NDJSON line numbers count).
pub fn physical_lines(data: &[u8]) -> u64 {
    data.split(|b| *b == b'\n').count() as u64
}
