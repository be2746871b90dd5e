//! Whole request bodies in, events and rejections out.

use dw_domain::{Event, LineError};
use serde_json::value::RawValue;

use crate::formats::{Format, Source, to_canonical};
use crate::validate::{HOPELESS_AFTER, Limits, Stopped, bounded, parse_event, parse_event_value};

/// A parsed body: the valid events in input order and the rejected lines.
#[derive(Debug, Default)]
pub struct ParsedBatch {
    /// Valid events, in input order.
    pub events: Vec<Event>,
    /// Invalid lines, in input order: the first [`Limits::max_listed_errors`].
    pub rejected: Vec<LineError>,
    /// Invalid lines beyond those listed.
    pub unlisted: u64,
    /// Non-blank lines (or array elements) seen.
    pub lines: u64,
    /// Why parsing stopped before the body's end, if it did.
    pub stopped: Option<Stopped>,
}

impl ParsedBatch {
    /// Whether another item may be read: under [`Limits::max_items`], and
    /// not hopeless ([`HOPELESS_AFTER`] items with none valid). Marks why not.
    pub fn may_read_another(&mut self, limits: &Limits) -> bool {
        if self.stopped.is_some() {
            return false;
        }
        if self.lines >= limits.max_items as u64 {
            self.stopped = Some(Stopped::TooManyItems(limits.max_items));
        } else if self.events.is_empty() && self.lines >= HOPELESS_AFTER {
            self.stopped = Some(Stopped::Hopeless(self.lines));
        }
        self.stopped.is_none()
    }

    /// Keeps an item's outcome: the event, or its rejection (listed, cut,
    /// while fewer than [`Limits::max_listed_errors`] are; counted after).
    pub fn keep(&mut self, outcome: Result<Event, LineError>, limits: &Limits) {
        match outcome {
            Ok(event) => self.events.push(event),
            Err(error) => self.reject(error, limits),
        }
    }

    /// Keeps a rejection (see [`ParsedBatch::keep`]).
    pub fn reject(&mut self, error: LineError, limits: &Limits) {
        if self.rejected.len() < limits.max_listed_errors {
            self.rejected.push(bounded(error));
        } else {
            self.unlisted += 1;
        }
    }

    /// Rejections in all, listed or not.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.len() as u64 + self.unlisted
    }
}

/// Parses newline-delimited JSON: one event per line; blank lines are skipped
/// but counted, so reported line numbers match the body.
pub fn parse_ndjson(body: &[u8], limits: &Limits) -> ParsedBatch {
    parse_ndjson_as(&Source::default(), body, limits)
}

/// Parses a JSON array of events. "Line" numbers in errors are 1-based element
/// numbers; an error in the array syntax itself rejects the whole body (line 0).
pub fn parse_json_array(body: &[u8], limits: &Limits) -> ParsedBatch {
    parse_json_as(&Source::default(), body, limits)
}

/// One record from `source` (its JSON text, `line` of its body or file) as a
/// validated event: the canonical event is validated as it is, a gateway's
/// record is mapped to one first ([`crate::formats`]).
pub fn parse_record(source: &Source, text: &[u8], line: u64, limits: &Limits) -> Result<Event, LineError> {
    if source.format == Format::Canonical {
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
    parse_event_value(to_canonical(source, record, line)?, line, limits)
}

/// Parses newline-delimited records from `source`, one per line.
pub fn parse_ndjson_as(source: &Source, body: &[u8], limits: &Limits) -> ParsedBatch {
    let mut batch = ParsedBatch::default();
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if !batch.may_read_another(limits) {
            break;
        }
        batch.lines += 1;
        let outcome = parse_record(source, line, i as u64 + 1, limits);
        batch.keep(outcome, limits);
    }
    batch
}

/// Parses a JSON array of records from `source` ("line" numbers in errors are
/// 1-based element numbers; an error in the array syntax itself rejects the
/// whole body, line 0). A gateway format's body may also be one record.
pub fn parse_json_as(source: &Source, body: &[u8], limits: &Limits) -> ParsedBatch {
    let mut batch = ParsedBatch::default();
    if source.format != Format::Canonical && body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        batch.lines = 1;
        let outcome = parse_record(source, body, 1, limits);
        batch.keep(outcome, limits);
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
        if !batch.may_read_another(limits) {
            break;
        }
        batch.lines += 1;
        let outcome = parse_record(source, element.get().as_bytes(), i as u64 + 1, limits);
        batch.keep(outcome, limits);
    }
    batch
}

/// A Batch API input file and its output file (JSONL, one request and one
/// answer per line) joined by `custom_id` and mapped like `openai` pairs
/// ([`crate::formats::batch_pair`]). "Line" numbers are the input file's;
/// an output line whose `custom_id` no input line has is rejected as line 0
/// of the input, naming the id.
pub fn parse_openai_batch(input: &[u8], output: &[u8], account: Option<&str>, limits: &Limits) -> ParsedBatch {
    let source = Source { format: Format::Openai, account: account.map(str::to_owned) };
    let mut batch = ParsedBatch::default();
    let mut answers: std::collections::HashMap<String, (serde_json::Value, bool)> = Default::default();
    for (i, raw) in output.split(|&b| b == b'\n').enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = serde_json::from_slice::<serde_json::Value>(raw).ok().and_then(|v| {
            let id = v.get("custom_id")?.as_str()?.to_owned();
            Some((id, v))
        });
        match parsed {
            Some((id, value)) => {
                answers.insert(id, (value, false));
            }
            None => batch.reject(
                LineError::line(0, format!("output line {}: not a batch output line with a custom_id", i + 1)),
                limits,
            ),
        }
    }
    for (i, raw) in input.split(|&b| b == b'\n').enumerate() {
        let line = i as u64 + 1;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        batch.lines += 1;
        let result = serde_json::from_slice::<serde_json::Value>(raw)
            .map_err(|e| LineError::line(line, format!("invalid JSON at column {}: {e}", e.column())))
            .and_then(|request| {
                let id = request.get("custom_id").and_then(|v| v.as_str()).ok_or_else(|| {
                    LineError::field(line, "custom_id", "is required: it joins the line to its answer")
                })?;
                let answer = answers.get_mut(id).map(|(value, used)| {
                    *used = true;
                    &*value
                });
                let size = raw.len() + answer.map_or(0, |a| a.to_string().len());
                if size > limits.max_event_bytes {
                    return Err(LineError::line(
                        line,
                        format!(
                            "request and answer are {size} bytes, over the limit of {} bytes",
                            limits.max_event_bytes
                        ),
                    ));
                }
                let pair = crate::formats::batch_pair(&request, answer, line)?;
                parse_event_value(to_canonical(&source, pair, line)?, line, limits)
            });
        batch.keep(result, limits);
    }
    let mut unmatched: Vec<&String> = answers.iter().filter(|(_, (_, used))| !used).map(|(id, _)| id).collect();
    unmatched.sort();
    // Listed under the same bound as every rejection (found by fuzzing: an
    // output file of many unknown ids listed them all, past the limit).
    for id in unmatched {
        batch.reject(
            LineError::field(0, "custom_id", format!("{id:?} is in the output file but not in the input file")),
            limits,
        );
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
        let limits = Limits { max_event_bytes: 1000, max_body_bytes: 1 << 20, ..Limits::default() };
        let batch = parse_ndjson(format!("{GOOD}\n{big}\n").as_bytes(), &limits);
        assert_eq!(batch.events.len(), 1);
        assert_eq!(batch.rejected[0].line, 2);
        assert!(batch.rejected[0].error.contains("over the limit"), "{}", batch.rejected[0].error);
        let batch = parse_json_array(format!("[{big},{GOOD}]").as_bytes(), &limits);
        assert_eq!(batch.events.len(), 1);
        assert_eq!(batch.rejected[0].line, 1);
    }

    #[test]
    fn a_body_of_garbage_lines_is_given_up_early_and_its_errors_are_bounded() {
        // A gzip bomb's payload: millions of one-byte lines. Parsing stops after the hopeless
        // prefix, listing at most the configured number of errors and counting the rest.
        let body = "x\n".repeat(2_000_000);
        let limits = Limits { max_listed_errors: 10, ..Limits::default() };
        let batch = parse_ndjson(body.as_bytes(), &limits);
        assert_eq!(batch.stopped, Some(Stopped::Hopeless(HOPELESS_AFTER)));
        assert_eq!((batch.lines, batch.rejected.len(), batch.unlisted), (HOPELESS_AFTER, 10, HOPELESS_AFTER - 10));
        assert_eq!(batch.rejected_total(), HOPELESS_AFTER);
        // One valid event in front: not hopeless, but the item cap holds.
        let body = format!("{GOOD}\n{}", "x\n".repeat(300));
        let limits = Limits { max_items: 200, max_listed_errors: 5, ..Limits::default() };
        let batch = parse_ndjson(body.as_bytes(), &limits);
        assert_eq!(batch.stopped, Some(Stopped::TooManyItems(200)));
        assert_eq!((batch.lines, batch.events.len(), batch.rejected.len(), batch.unlisted), (200, 1, 5, 194));
        let array = format!("[{}]", vec![GOOD; 201].join(","));
        assert_eq!(parse_json_array(array.as_bytes(), &limits).stopped, Some(Stopped::TooManyItems(200)));
        // A long error text (the sender's own) is cut.
        let long = format!("{{\"account_id\": \"{}\"}}", "y".repeat(5_000));
        let batch = parse_ndjson(long.as_bytes(), &Limits::default());
        assert!(
            batch.rejected[0].error.chars().count() <= crate::MAX_ERROR_CHARS + 1,
            "{}",
            batch.rejected[0].error.len()
        );
    }
}
