//! Whole request bodies in, events and rejections out.

use dw_domain::{Event, LineError};
use serde_json::value::RawValue;

use crate::formats::{Format, to_canonical};
use crate::validate::{Limits, parse_event, parse_event_value};

/// A parsed body: the valid events in input order and the rejected lines.
#[derive(Debug, Default)]
pub struct ParsedBatch {
    /// Valid events, in input order.
    pub events: Vec<Event>,
    /// Invalid lines, in input order.
    pub rejected: Vec<LineError>,
    /// Non-blank lines (or array elements) seen.
    pub lines: u64,
}

/// Parses newline-delimited JSON: one event per line; blank lines are skipped
/// but counted, so reported line numbers match the body.
pub fn parse_ndjson(body: &[u8], limits: &Limits) -> ParsedBatch {
    parse_ndjson_as(Format::Canonical, body, limits)
}

/// Parses a JSON array of events. "Line" numbers in errors are 1-based element
/// numbers; an error in the array syntax itself rejects the whole body (line 0).
pub fn parse_json_array(body: &[u8], limits: &Limits) -> ParsedBatch {
    parse_json_as(Format::Canonical, body, limits)
}

/// One record of `format` (its JSON text, `line` of its body or file) as a
/// validated event: the canonical event is validated as it is, a gateway's
/// record is mapped to one first ([`crate::formats`]).
pub fn parse_record(format: Format, text: &[u8], line: u64, limits: &Limits) -> Result<Event, LineError> {
    if format == Format::Canonical {
        return parse_event(text, line, limits);
    }
    if text.len() > limits.max_event_bytes {
        return Err(LineError::line(
            line,
            format!("record is {} bytes, over the limit of {} bytes", text.len(), limits.max_event_bytes),
        ));
    }
    let record: serde_json::Value = serde_json::from_slice(text)
        .map_err(|e| LineError::line(line, format!("invalid JSON at column {}: {e}", e.column())))?;
    parse_event_value(to_canonical(format, record, line)?, line)
}

/// Parses newline-delimited records of `format`, one per line.
pub fn parse_ndjson_as(format: Format, body: &[u8], limits: &Limits) -> ParsedBatch {
    let mut batch = ParsedBatch::default();
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        batch.lines += 1;
        match parse_record(format, line, i as u64 + 1, limits) {
            Ok(event) => batch.events.push(event),
            Err(error) => batch.rejected.push(error),
        }
    }
    batch
}

/// Parses a JSON array of records of `format` ("line" numbers in errors are
/// 1-based element numbers; an error in the array syntax itself rejects the
/// whole body, line 0). A gateway format's body may also be one record.
pub fn parse_json_as(format: Format, body: &[u8], limits: &Limits) -> ParsedBatch {
    let mut batch = ParsedBatch::default();
    if format != Format::Canonical && body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        batch.lines = 1;
        match parse_record(format, body, 1, limits) {
            Ok(event) => batch.events.push(event),
            Err(error) => batch.rejected.push(error),
        }
        return batch;
    }
    let elements: Vec<&RawValue> = match serde_json::from_slice(body) {
        Ok(elements) => elements,
        Err(e) => {
            let what = if e.is_data() {
                "body must be a JSON array of event objects".to_owned()
            } else {
                format!("body is not valid JSON (line {}, column {}): {}", e.line(), e.column(), e)
            };
            batch.rejected.push(LineError::line(0, what));
            return batch;
        }
    };
    for (i, element) in elements.into_iter().enumerate() {
        batch.lines += 1;
        match parse_record(format, element.get().as_bytes(), i as u64 + 1, limits) {
            Ok(event) => batch.events.push(event),
            Err(error) => batch.rejected.push(error),
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"account_id":"a","timestamp":"2026-11-01T12:00:00Z","model":"m","request":{"prompt":"hi"}}"#;

    #[test]
    fn ndjson_keeps_good_lines_and_reports_bad_ones_by_line() {
        let body = format!("{GOOD}\n\n{{\"account_id\":1}}\nnot json\r\n{GOOD}\r\n");
        let batch = parse_ndjson(body.as_bytes(), &Limits::default());
        assert_eq!(batch.events.len(), 2);
        assert_eq!(batch.lines, 4);
        let lines: Vec<u64> = batch.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4]);
        assert_eq!(batch.rejected[0].field.as_deref(), Some("account_id"));
        assert_eq!(batch.rejected[1].field, None);
    }

    #[test]
    fn json_arrays_number_their_elements() {
        let body = format!("[{GOOD}, 7, {GOOD}]");
        let batch = parse_json_array(body.as_bytes(), &Limits::default());
        assert_eq!(batch.events.len(), 2);
        assert_eq!(batch.rejected.len(), 1);
        assert_eq!(batch.rejected[0].line, 2);
    }

    #[test]
    fn a_broken_or_non_array_body_is_one_whole_body_error() {
        for body in ["[{", "{}", "\"x\"", ""] {
            let batch = parse_json_array(body.as_bytes(), &Limits::default());
            assert!(batch.events.is_empty());
            assert_eq!(batch.rejected.len(), 1, "{body}");
            assert_eq!(batch.rejected[0].line, 0);
        }
    }

    #[test]
    fn oversized_elements_are_rejected_alone() {
        let big = format!(
            r#"{{"account_id":"a","timestamp":"2026-11-01T12:00:00Z","model":"m","request":{{"prompt":"{}"}}}}"#,
            "x".repeat(2000)
        );
        let limits = Limits { max_event_bytes: 1000, max_body_bytes: 1 << 20 };
        let batch = parse_ndjson(format!("{GOOD}\n{big}\n").as_bytes(), &limits);
        assert_eq!(batch.events.len(), 1);
        assert_eq!(batch.rejected[0].line, 2);
        assert!(batch.rejected[0].error.contains("over the limit"), "{}", batch.rejected[0].error);
        let batch = parse_json_array(format!("[{big},{GOOD}]").as_bytes(), &limits);
        assert_eq!(batch.events.len(), 1);
        assert_eq!(batch.rejected[0].line, 1);
    }
}
