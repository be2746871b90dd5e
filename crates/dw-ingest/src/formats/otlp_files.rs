//! OTLP export requests kept in files (`distillwatch ingest --format otlp`):
//! what an OpenTelemetry Collector's file exporter writes (one JSON export
//! request per line), one pretty-printed JSON request, or one binary
//! protobuf request. Traces and logs requests may be mixed in one file;
//! JSON says which each is (`resourceSpans` or `resourceLogs`), protobuf is
//! read as traces, or as logs when it holds no spans and the file's name
//! says logs.
//!
//! Span numbers ("line" in rejections) count the spans of the whole file,
//! in order, so that each names one span.

use std::collections::HashMap;

use super::otlp::{
    Encoding, Lineage, LogHalf, Orphan, Resolved, SpanHalf, parse_logs, parse_traces, resolve, unnamed, validated,
};
use crate::Stopped;
use crate::batch::ParsedBatch;
use crate::validate::Limits;

/// What a file of export requests holds.
#[derive(Debug, Default)]
pub struct OtlpFile {
    /// Export requests read.
    pub requests: u64,
    /// The spans that carry their messages, as events, and the ones rejected.
    pub batch: ParsedBatch,
    /// Model-call spans that wait for their log records.
    pub awaiting: Vec<SpanHalf>,
    /// GenAI log records, gathered by span.
    pub logs: Vec<LogHalf>,
    /// Model-call spans whose account is on an ancestor not in the file
    /// (those whose ancestor a later request of the file carries are
    /// settled here).
    pub orphans: Vec<Orphan>,
    /// What the file's spans know of the account of the spans below them.
    pub lineage: HashMap<(String, String), Lineage>,
}

/// Reads a file's export requests; `Err` names the request (its line) that
/// is not one.
pub fn parse_otlp_file(bytes: &[u8], name: &str, limits: &Limits) -> Result<OtlpFile, String> {
    let mut file = OtlpFile::default();
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_none() {
        return Ok(file);
    }
    if first != Some(&b'{') {
        // Binary protobuf: one request.
        let traces = parse_traces(bytes, Encoding::Protobuf, limits)?;
        if traces.spans == 0 && name.to_ascii_lowercase().contains("log") {
            add_logs(&mut file, parse_logs(bytes, Encoding::Protobuf, limits)?)?;
        } else {
            add_traces(&mut file, traces, limits)?;
        }
        return Ok(file);
    }
    // One JSON request (pretty-printed), or one per line. Each is read once as what it is (its kind is
    // told by a pass that keeps nothing), not built as a JSON value first.
    let requests: Vec<(u64, &[u8])> = if serde_json::from_slice::<Kind>(bytes).is_ok() {
        vec![(1, bytes)]
    } else {
        bytes
            .split(|b| *b == b'\n')
            .enumerate()
            .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
            .map(|(i, line)| (i as u64 + 1, line))
            .collect()
    };
    for (line, body) in requests {
        let at = |e: String| format!("line {line}: {e}");
        let kind = serde_json::from_slice::<Kind>(body).map_err(|e| at(format!("not a JSON export request: {e}")))?;
        if kind.logs.is_some() {
            add_logs(&mut file, parse_logs(body, Encoding::Json, limits).map_err(at)?).map_err(at)?;
        } else if kind.spans.is_some() {
            add_traces(&mut file, parse_traces(body, Encoding::Json, limits).map_err(at)?, limits).map_err(at)?;
        } else {
            return Err(at("neither resourceSpans nor resourceLogs: not an OTLP export request".into()));
        }
    }
    Ok(file)
}

/// Which kind of export request a JSON text is: read to the end, nothing kept.
#[derive(serde::Deserialize)]
struct Kind {
    #[serde(rename = "resourceSpans", alias = "resource_spans", default)]
    spans: Option<serde::de::IgnoredAny>,
    #[serde(rename = "resourceLogs", alias = "resource_logs", default)]
    logs: Option<serde::de::IgnoredAny>,
}

fn add_traces(file: &mut OtlpFile, traces: super::otlp::TracesParsed, limits: &Limits) -> Result<(), String> {
    if let Some(stop) = traces.batch.stopped {
        return Err(stop.to_string());
    }
    let offset = file.batch.lines;
    file.requests += 1;
    file.batch.lines += traces.spans;
    file.batch.events.extend(traces.batch.events);
    for mut rejection in traces.batch.rejected {
        rejection.line += offset;
        file.batch.reject(rejection, limits);
    }
    file.batch.unlisted += traces.batch.unlisted;
    file.awaiting.extend(traces.awaiting.into_iter().map(|mut half| {
        half.line += offset;
        half
    }));
    // Orphans of earlier requests settled by this one's spans, then this one's own.
    let mut waiting = Vec::new();
    for orphan in std::mem::take(&mut file.orphans) {
        match resolve(orphan, &traces.lineage) {
            Resolved::Event(event, line) => file.batch.keep(validated(event, line, limits), limits),
            Resolved::AwaitsLogs(half) => file.awaiting.push(half),
            Resolved::Waiting(orphan) => waiting.push(orphan),
            Resolved::Unnamed(orphan) => file.batch.reject(unnamed(&orphan), limits),
        }
    }
    waiting.extend(traces.orphans.into_iter().map(|mut orphan| {
        orphan.line += offset;
        orphan
    }));
    file.orphans = waiting;
    file.lineage.extend(traces.lineage);
    Ok(())
}

fn add_logs(file: &mut OtlpFile, logs: super::otlp::LogsParsed) -> Result<(), String> {
    if let Some(stop) = logs.stopped {
        return Err(Stopped::to_string(&stop));
    }
    file.requests += 1;
    file.logs.extend(logs.halves);
    Ok(())
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
    fn what_is_not_an_export_request_is_named_by_line() {
        let limits = Limits::default();
        let err = parse_otlp_file(b"{\"resourceSpans\": []}\n{\"hello\": 1}\n", "x", &limits).unwrap_err();
        assert!(err.starts_with("line 2:") && err.contains("resourceSpans"), "{err}");
        let err = parse_otlp_file(b"{\"resourceSpans\": []}\n{broken\n", "x", &limits).unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        assert_eq!(parse_otlp_file(b"  \n", "x", &limits).unwrap().requests, 0);
    }
}
