//! OTLP export requests kept in files (`distillwatch ingest --format otlp`):
//! what an OpenTelemetry Collector's file exporter writes (one JSON export
//! request per line), one pretty-printed JSON request, or one binary
//! protobuf request. Traces and logs requests may be mixed in one file;
//! JSON says which each is (`resourceSpans` or `resourceLogs`), protobuf is
//! read as traces, or as logs when it holds no spans and the file's name
//! says logs.
//!
//! A file of one request per line is read as a stream ([`read_otlp_stream`]):
//! each request's calls are handed over as soon as it is read, so that a
//! loader can store them while the next requests are decoded, and memory
//! holds one request and what waits for its other half, not the file.
//!
//! Span numbers ("line" in rejections) count the spans of the whole file,
//! in order, so that each names one span.

use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::ops::ControlFlow;

use super::otlp::{
    Encoding, Lineage, LogHalf, Orphan, Resolved, SpanHalf, parse_logs, parse_traces_keeping, resolve, unnamed,
    validated,
};
use crate::batch::ParsedBatch;
use crate::validate::Limits;
use crate::{Event, LineError, Stopped};

/// What a file of export requests holds.
#[derive(Debug, Default)]
pub struct OtlpFile {
    /// Export requests read.
    pub requests: u64,
    /// The spans that carry their messages, as events, and the ones rejected
    /// (those not yet handed over by [`OtlpFile::take_read`]; `lines` counts
    /// every span of the file read so far).
    pub batch: ParsedBatch,
    /// Model-call spans that wait for their log records.
    pub awaiting: Vec<SpanHalf>,
    /// GenAI log records, gathered by span.
    pub logs: Vec<LogHalf>,
    /// Model-call spans whose account is on an ancestor not in the file
    /// (those whose ancestor a later request of the file carries are
    /// settled here).
    pub orphans: Vec<Orphan>,
    /// What the file's spans know of the account of the spans below them,
    /// when the reader was asked to keep it (calls of earlier exports wait
    /// for an ancestor); empty otherwise.
    pub lineage: HashMap<(String, String), Lineage>,
    /// Whether every span's lineage is kept in [`OtlpFile::lineage`].
    keep_lineage: bool,
}

impl OtlpFile {
    /// The events and rejections read since the last call, handed over; span
    /// numbering carries on.
    pub fn take_read(&mut self) -> (Vec<Event>, Vec<LineError>) {
        // The next batch is likely as large: its room is made once, not by doubling.
        let room = Vec::with_capacity(self.batch.events.capacity());
        (std::mem::replace(&mut self.batch.events, room), std::mem::take(&mut self.batch.rejected))
    }

    /// Whether the next request's lineage is needed: to keep, or to settle
    /// the calls of earlier requests that wait for an ancestor.
    fn wants_lineage(&self) -> bool {
        self.keep_lineage || !self.orphans.is_empty()
    }

    /// Reads one JSON export request (the file's `line`) and adds what it holds.
    fn read_json(&mut self, body: &[u8], line: u64, limits: &Limits) -> Result<(), String> {
        let at = |e: String| format!("line {line}: {e}");
        match request_kind(body).map_err(|e| at(format!("not a JSON export request: {e}")))? {
            RequestKind::Logs => self.add_logs(parse_logs(body, Encoding::Json, limits).map_err(at)?).map_err(at),
            RequestKind::Traces => {
                let traces = parse_traces_keeping(body, Encoding::Json, limits, self.wants_lineage()).map_err(at)?;
                self.add_traces(traces, limits).map_err(at)
            }
            RequestKind::Neither => {
                Err(at("neither resourceSpans nor resourceLogs: not an OTLP export request".into()))
            }
        }
    }

    /// Reads one binary protobuf request: traces, or logs when it holds no
    /// spans and the file's name says logs.
    fn read_protobuf(&mut self, body: &[u8], name: &str, limits: &Limits) -> Result<(), String> {
        let traces = parse_traces_keeping(body, Encoding::Protobuf, limits, self.wants_lineage())?;
        if traces.spans == 0 && name.to_ascii_lowercase().contains("log") {
            self.add_logs(parse_logs(body, Encoding::Protobuf, limits)?)
        } else {
            self.add_traces(traces, limits)
        }
    }

    fn add_traces(&mut self, traces: super::otlp::TracesParsed, limits: &Limits) -> Result<(), String> {
        if let Some(stop) = traces.batch.stopped {
            return Err(stop.to_string());
        }
        let offset = self.batch.lines;
        self.requests += 1;
        self.batch.lines += traces.spans;
        self.batch.events.extend(traces.batch.events);
        for mut rejection in traces.batch.rejected {
            rejection.line += offset;
            self.batch.reject(rejection, limits);
        }
        self.batch.unlisted += traces.batch.unlisted;
        self.awaiting.extend(traces.awaiting.into_iter().map(|mut half| {
            half.line += offset;
            half
        }));
        // Orphans of earlier requests settled by this one's spans, then this one's own.
        let mut waiting = Vec::new();
        for orphan in std::mem::take(&mut self.orphans) {
            match resolve(orphan, &traces.lineage) {
                Resolved::Event(event, line) => self.batch.keep(validated(event, line, limits), limits),
                Resolved::AwaitsLogs(half) => self.awaiting.push(half),
                Resolved::Waiting(orphan) => waiting.push(orphan),
                Resolved::Unnamed(orphan) => self.batch.reject(unnamed(&orphan), limits),
            }
        }
        waiting.extend(traces.orphans.into_iter().map(|mut orphan| {
            orphan.line += offset;
            orphan
        }));
        self.orphans = waiting;
        if self.keep_lineage {
            self.lineage.extend(traces.lineage);
        }
        Ok(())
    }

    fn add_logs(&mut self, logs: super::otlp::LogsParsed) -> Result<(), String> {
        if let Some(stop) = logs.stopped {
            return Err(Stopped::to_string(&stop));
        }
        self.requests += 1;
        self.logs.extend(logs.halves);
        Ok(())
    }
}

/// Reads a file's export requests held in memory; `Err` names the request
/// (its line) that is not one.
pub fn parse_otlp_file(bytes: &[u8], name: &str, limits: &Limits) -> Result<OtlpFile, String> {
    read_otlp_stream(bytes, name, limits, true, |_| ControlFlow::Continue(()))
}

/// Reads a file's export requests from a stream, calling `after_each` after
/// every request read (to hand over [`OtlpFile::take_read`]; `Break` stops
/// the reading); `Err` names the request (its line) that is not one, or
/// what could not be read. A file of one request per line is read a line at
/// a time (each at most `limits.max_body_bytes`); a pretty-printed request
/// or a protobuf one is read whole. `keep_lineage`: keep what every span
/// names for the calls below it ([`OtlpFile::lineage`]), for calls of
/// earlier exports that wait for an ancestor; without it a span's lineage is
/// worked out only while a call of the file waits for one.
pub fn read_otlp_stream<R: BufRead>(
    mut input: R,
    name: &str,
    limits: &Limits,
    keep_lineage: bool,
    mut after_each: impl FnMut(&mut OtlpFile) -> ControlFlow<()>,
) -> Result<OtlpFile, String> {
    let mut file = OtlpFile { keep_lineage, ..OtlpFile::default() };
    let io = |e: std::io::Error| format!("cannot read the file: {e}");
    // The first byte that is not white space tells JSON from protobuf; what
    // comes before it is kept (protobuf's first byte is often a newline's).
    let mut lead = Vec::new();
    let first = loop {
        let buf = input.fill_buf().map_err(io)?;
        if buf.is_empty() {
            return Ok(file);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => break buf[i],
            None => {
                lead.extend_from_slice(buf);
                let n = buf.len();
                input.consume(n);
            }
        }
    };
    if first != b'{' {
        // Binary protobuf: one request.
        let mut bytes = lead;
        input.read_to_end(&mut bytes).map_err(io)?;
        file.read_protobuf(&bytes, name, limits)?;
        let _ = after_each(&mut file);
        return Ok(file);
    }
    // One buffer for every line: a Collector's lines are megabytes each.
    let cap = limits.max_body_bytes as u64 + 2;
    let mut body = Vec::new();
    let mut line = lead.iter().filter(|b| **b == b'\n').count() as u64;
    let mut pretty: Option<Vec<u8>> = None;
    loop {
        body.clear();
        let read = (&mut input).take(cap).read_until(b'\n', &mut body).map_err(io)?;
        if read == 0 {
            break;
        }
        line += 1;
        let ended = body.last() == Some(&b'\n');
        while matches!(body.last(), Some(b'\n' | b'\r')) {
            body.pop();
        }
        if (!ended && read as u64 == cap) || body.len() > limits.max_body_bytes {
            return Err(format!(
                "line {line}: an export request over ingest.max_body_bytes ({} bytes)",
                limits.max_body_bytes
            ));
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Some(text) = pretty.as_mut() {
            text.push(b'\n');
            text.extend_from_slice(&body);
            continue;
        }
        // A first line that is not a whole JSON value opens one pretty-printed request.
        if file.requests == 0 && serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
            pretty = Some(body.clone());
            continue;
        }
        file.read_json(&body, line, limits)?;
        if after_each(&mut file).is_break() {
            return Ok(file);
        }
    }
    if let Some(text) = pretty {
        file.read_json(&text, 1, limits)?;
        let _ = after_each(&mut file);
    }
    Ok(file)
}

/// Which kind of export request a JSON text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestKind {
    Traces,
    Logs,
    Neither,
}

/// The kind of export request a JSON text is: told by its first key when
/// that is one of the request's fields (an export request has no other), else
/// by reading it to the end, nothing kept; `Err` when it is not JSON at all.
fn request_kind(body: &[u8]) -> Result<RequestKind, serde_json::Error> {
    if let Some(kind) = first_key(body).and_then(|key| match key {
        b"resourceSpans" | b"resource_spans" => Some(RequestKind::Traces),
        b"resourceLogs" | b"resource_logs" => Some(RequestKind::Logs),
        _ => None,
    }) {
        return Ok(kind);
    }
    let kind: Kind = serde_json::from_slice(body)?;
    Ok(if kind.logs.is_some() {
        RequestKind::Logs
    } else if kind.spans.is_some() {
        RequestKind::Traces
    } else {
        RequestKind::Neither
    })
}

/// The first key of a JSON object's text, when it has no escapes.
fn first_key(body: &[u8]) -> Option<&[u8]> {
    let rest = body.trim_ascii_start().strip_prefix(b"{")?.trim_ascii_start().strip_prefix(b"\"")?;
    let end = rest.iter().position(|b| *b == b'"' || *b == b'\\')?;
    (rest[end] == b'"').then_some(&rest[..end])
}

/// Which kind of export request a JSON text is: read to the end, nothing kept.
#[derive(serde::Deserialize)]
struct Kind {
    #[serde(rename = "resourceSpans", alias = "resource_spans", default)]
    spans: Option<serde::de::IgnoredAny>,
    #[serde(rename = "resourceLogs", alias = "resource_logs", default)]
    logs: Option<serde::de::IgnoredAny>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap()
    }

    #[test]
    fn pretty_json_protobuf_and_json_lines_give_the_same_calls() {
        let limits = Limits::default();
        let pretty = parse_otlp_file(&fixture("otel-openai-v2-default.traces.json"), "t.json", &limits).unwrap();
        let binary = parse_otlp_file(&fixture("otel-openai-v2-default.traces.pb"), "t.pb", &limits).unwrap();
        assert_eq!(pretty.requests, 1);
        assert_eq!(pretty.batch.lines, binary.batch.lines);
        assert_eq!(pretty.awaiting.len(), binary.awaiting.len());
        assert!(!pretty.awaiting.is_empty(), "the older convention's spans wait for their logs");

        // The collector's file exporter: one request per line, traces then logs.
        let compact = |name: &str| serde_json::from_slice::<serde_json::Value>(&fixture(name)).unwrap().to_string();
        let lines = format!(
            "{}\n\n{}\n{}\n",
            compact("otel-openai-v2-default.traces.json"),
            compact("otel-openai-v2-default.logs.json"),
            compact("otel-openai-v2-latest.traces.json")
        );
        let file = parse_otlp_file(lines.as_bytes(), "export.jsonl", &limits).unwrap();
        assert_eq!(file.requests, 3);
        assert_eq!(file.awaiting.len(), pretty.awaiting.len());
        assert!(!file.logs.is_empty());
        assert!(!file.batch.events.is_empty(), "the current convention's spans carry their messages");
        // Span numbers run on across the file's requests.
        let latest = parse_otlp_file(compact("otel-openai-v2-latest.traces.json").as_bytes(), "l", &limits).unwrap();
        assert_eq!(file.batch.lines, pretty.batch.lines + latest.batch.lines);
    }

    #[test]
    fn a_stream_of_requests_is_handed_over_request_by_request() {
        let limits = Limits::default();
        let compact = |name: &str| serde_json::from_slice::<serde_json::Value>(&fixture(name)).unwrap().to_string();
        let one = parse_otlp_file(compact("otel-openai-v2-latest.traces.json").as_bytes(), "l", &limits).unwrap();
        let calls = one.batch.events.len();
        assert!(calls > 0);
        let text = format!(
            "{}\n{}\n\n{}\n",
            compact("otel-openai-v2-latest.traces.json"),
            compact("otel-openai-v2-default.logs.json"),
            compact("otel-openai-v2-latest.traces.json")
        );
        // A tiny buffer: requests cross its bounds.
        let mut seen = Vec::new();
        let file =
            read_otlp_stream(std::io::BufReader::with_capacity(7, text.as_bytes()), "x", &limits, false, |file| {
                let (events, rejected) = file.take_read();
                seen.push((file.requests, events.len(), rejected.len(), file.batch.lines));
                ControlFlow::Continue(())
            })
            .unwrap();
        let spans = one.batch.lines;
        assert_eq!(seen, vec![(1, calls, 0, spans), (2, 0, 0, spans), (3, calls, 0, 2 * spans)]);
        assert!(file.batch.events.is_empty() && !file.logs.is_empty());

        // Break stops the reading after the request it follows.
        let file = read_otlp_stream(text.as_bytes(), "x", &limits, false, |_| ControlFlow::Break(())).unwrap();
        assert_eq!((file.requests, file.batch.events.len()), (1, calls));

        // A protobuf request whose first bytes are a newline's, and a file of blank lines first, through a
        // one-byte buffer: nothing before the first other byte is lost, and lines are counted from the top.
        let binary = fixture("otel-openai-v2-default.traces.pb");
        assert_eq!(binary[0], b'\n', "protobuf's first tag (field 1, length-delimited) is a newline's byte");
        let through = |bytes: &[u8], name: &str| {
            read_otlp_stream(std::io::BufReader::with_capacity(1, bytes), name, &limits, false, |_| {
                ControlFlow::Continue(())
            })
        };
        let whole = parse_otlp_file(&binary, "t.pb", &limits).unwrap();
        let read = through(&binary, "t.pb").unwrap();
        assert_eq!((read.batch.lines, read.awaiting.len()), (whole.batch.lines, whole.awaiting.len()));
        let err = through(b"\n\n  \n{\"hello\": 1}\n", "x").unwrap_err();
        assert!(err.starts_with("line 4:"), "{err}");

        // A pretty-printed request through the same tiny buffer is one request.
        let pretty = fixture("otel-openai-v2-latest.traces.json");
        assert!(pretty.starts_with(b"{\n"), "the fixture is pretty-printed");
        let mut calls_seen = 0;
        let file = read_otlp_stream(std::io::BufReader::with_capacity(7, &pretty[..]), "p", &limits, false, |file| {
            calls_seen += file.take_read().0.len();
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!((file.requests, calls_seen), (1, calls));
    }

    #[test]
    fn a_requests_kind_is_told_by_its_first_key_or_by_reading_it() {
        assert_eq!(request_kind(b" {\"resourceSpans\": []}").unwrap(), RequestKind::Traces);
        assert_eq!(request_kind(b"{ \"resource_logs\": []}").unwrap(), RequestKind::Logs);
        // A key with an escape (here "resourceLogs" spelled with one), or another key first: read to the end.
        assert_eq!(request_kind(b"{\"resource\\u004cogs\": []}").unwrap(), RequestKind::Logs);
        assert_eq!(request_kind(b"{\"x\": 1, \"resourceLogs\": []}").unwrap(), RequestKind::Logs);
        assert_eq!(request_kind(b"{\"hello\": 1}").unwrap(), RequestKind::Neither);
        assert!(request_kind(b"{broken").is_err());
    }

    #[test]
    fn what_is_not_an_export_request_is_named_by_line() {
        let limits = Limits::default();
        let err = parse_otlp_file(b"{\"resourceSpans\": []}\n{\"hello\": 1}\n", "x", &limits).unwrap_err();
        assert!(err.starts_with("line 2:") && err.contains("resourceSpans"), "{err}");
        let err = parse_otlp_file(b"{\"resourceSpans\": []}\n{broken\n", "x", &limits).unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        assert_eq!(parse_otlp_file(b"  \n", "x", &limits).unwrap().requests, 0);
        // A line over the body limit is named, not read whole.
        let small = Limits { max_body_bytes: 64, ..limits };
        let long =
            format!("{{\"resourceSpans\": []}}\r\n\n{{\"resourceSpans\": [], \"pad\": \"{}\"}}\n", "x".repeat(100));
        let err = parse_otlp_file(long.as_bytes(), "x", &small).unwrap_err();
        assert!(err.starts_with("line 3:") && err.contains("max_body_bytes"), "{err}");
    }
}
