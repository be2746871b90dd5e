//! Joining the halves of OTLP model calls: a span exported without its
//! messages (the older GenAI convention puts them in log records) and the
//! log records of that span, which arrive in another export request, in
//! either order. Each half waits in the store until the other comes, for at
//! most `ingest.otlp_join_wait_seconds`; halves that wait longer are dropped,
//! counted (`distillwatch_otlp_unmatched_total`) and logged, never silently.

use dw_domain::{Event, LineError};
use dw_ingest::Limits;
use dw_ingest::formats::otlp::{LogHalf, SpanHalf, join, merge_logs, validated};
use dw_store::otlp_halves::{self, Half};
use uuid::Uuid;

use crate::{App, AppError};

/// How long a half waits for its other by default, in seconds.
pub const DEFAULT_JOIN_WAIT_SECONDS: u64 = 300;

/// What joining did with an export's halves.
#[derive(Debug, Default)]
pub struct Joined {
    /// The calls completed now, validated.
    pub events: Vec<Event>,
    /// The completed calls that are not valid events, by their span's line.
    pub rejected: Vec<LineError>,
    /// Halves of this export left to wait for their other.
    pub waiting: u64,
    /// Spans and log gatherings dropped now after waiting too long.
    pub unmatched: (u64, u64),
}

impl App {
    /// Joins an export's halves with the ones waiting, leaves the rest to
    /// wait, and drops the halves that waited too long.
    pub async fn join_otlp_halves(
        &self,
        spans: Vec<SpanHalf>,
        logs: Vec<LogHalf>,
        api_key_id: Option<Uuid>,
        limits: &Limits,
    ) -> Result<Joined, AppError> {
        let mut joined = Joined::default();
        let mut completed = Vec::new();
        let mut tx = self.pool.begin().await?;
        for span in spans {
            otlp_halves::lock(&mut tx, &span.trace_id, &span.span_id).await?;
            match otlp_halves::take(&mut tx, &span.trace_id, &span.span_id, Half::Logs).await? {
                Some(records) => completed.push((join(&span.event, &records), span.line)),
                None => {
                    let record = serde_json::json!({"event": span.event, "line": span.line});
                    otlp_halves::put(&mut tx, &span.trace_id, &span.span_id, Half::Span, &record, api_key_id).await?;
                    joined.waiting += 1;
                }
            }
        }
        for half in logs {
            otlp_halves::lock(&mut tx, &half.trace_id, &half.span_id).await?;
            match otlp_halves::take(&mut tx, &half.trace_id, &half.span_id, Half::Span).await? {
                Some(span) => {
                    let line = span.get("line").and_then(serde_json::Value::as_u64).unwrap_or(0);
                    completed.push((join(&span["event"], &half.content), line));
                }
                None => {
                    let earlier = otlp_halves::take(&mut tx, &half.trace_id, &half.span_id, Half::Logs).await?;
                    let content = earlier.map_or_else(|| half.content.clone(), |e| merge_logs(&e, &half.content));
                    otlp_halves::put(&mut tx, &half.trace_id, &half.span_id, Half::Logs, &content, api_key_id).await?;
                    joined.waiting += 1;
                }
            }
        }
        let wait = self.config.otlp_join_wait_seconds.unwrap_or(DEFAULT_JOIN_WAIT_SECONDS);
        joined.unmatched = otlp_halves::expire(&mut tx, wait as f64).await?;
        tx.commit().await?;
        let (spans, logs) = joined.unmatched;
        if spans + logs > 0 {
            metrics::counter!("distillwatch_otlp_unmatched_total", "half" => "span").increment(spans);
            metrics::counter!("distillwatch_otlp_unmatched_total", "half" => "logs").increment(logs);
            tracing::warn!(
                spans,
                log_gatherings = logs,
                wait_seconds = wait,
                "OTLP halves dropped unmatched: spans without their log records, or log records without their span"
            );
        }
        for (event, line) in completed {
            match validated(event, line, limits) {
                Ok(event) => joined.events.push(event),
                Err(error) => joined.rejected.push(error),
            }
        }
        Ok(joined)
    }
}
