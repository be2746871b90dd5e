//! Joining the halves of OTLP model calls: a span exported without its
//! messages (the older GenAI convention puts them in log records) and the
//! log records of that span, which arrive in another export request, in
//! either order; and a call whose account is named only on an ancestor span
//! exported later (a parent ends, and is exported, after its children). Each
//! waits in the store until what it lacks comes, for at most
//! `ingest.otlp_join_wait_seconds` from its arrival; what waits longer is
//! dropped, counted (`distillwatch_otlp_unmatched_total`) and logged, never
//! silently. A call whose ancestors up to the trace's root name no account is
//! refused, counted and logged the same way.
//!
//! An orphan is settled only by an ancestor exported after it: one exported
//! before it (rare: a parent that ended first) is not kept, so the orphan
//! waits out its bound and is counted as unmatched.

use std::collections::{BTreeSet, HashMap};

use dw_domain::{Event, LineError};
use dw_ingest::Limits;
use dw_ingest::formats::otlp::{
    Lineage, LogHalf, Orphan, Resolved, SpanHalf, join, merge_logs, resolve, unnamed, validated,
};
use dw_store::otlp_halves::{self, Half, Unmatched};
use uuid::Uuid;

use crate::{App, AppError};

/// How long a half waits for its other by default, in seconds.
pub const DEFAULT_JOIN_WAIT_SECONDS: u64 = 300;

/// The parts of an export that may need other exports to be whole.
#[derive(Debug, Default)]
pub struct Parts {
    /// Calls waiting for their log records.
    pub spans: Vec<SpanHalf>,
    /// Log records waiting for their call.
    pub logs: Vec<LogHalf>,
    /// Calls waiting for the ancestor that names their account.
    pub orphans: Vec<Orphan>,
    /// What the export's spans name for the calls below them.
    pub lineage: HashMap<(String, String), Lineage>,
}

impl Parts {
    /// Whether there is anything to join or settle.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty() && self.logs.is_empty() && self.orphans.is_empty() && self.lineage.is_empty()
    }
}

/// What joining did with an export's halves.
#[derive(Debug, Default)]
pub struct Joined {
    /// The calls completed now, validated.
    pub events: Vec<Event>,
    /// The completed calls that are not valid events, by their span's line.
    pub rejected: Vec<LineError>,
    /// Halves of this export left to wait for their other.
    pub waiting: u64,
    /// Halves dropped now after waiting too long, and calls of earlier
    /// exports refused now because no ancestor names their account (counted
    /// as orphans).
    pub unmatched: Unmatched,
}

impl App {
    /// Whether any call of an earlier export waits in the store for an
    /// ancestor span: a reader of a file then keeps what every span names
    /// for the calls below it ([`dw_ingest::formats::OtlpFile::lineage`]), to
    /// settle them.
    pub async fn otlp_orphans_waiting(&self) -> Result<bool, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(otlp_halves::any_orphans(&mut conn).await?)
    }

    /// Joins an export's halves with the ones waiting, settles the calls
    /// waiting for the export's spans, leaves the rest to wait, and drops
    /// what waited too long.
    pub async fn join_otlp_halves(
        &self,
        parts: Parts,
        api_key_id: Option<Uuid>,
        limits: &Limits,
    ) -> Result<Joined, AppError> {
        let Parts { mut spans, logs, orphans, lineage } = parts;
        let mut joined = Joined::default();
        let mut completed = Vec::new();
        let mut refused = Vec::new();
        let mut tx = self.pool.begin().await?;
        // Calls of earlier exports waiting for one of this export's spans.
        if !lineage.is_empty() && otlp_halves::any_orphans(&mut tx).await? {
            let trace_ids: Vec<String> =
                lineage.keys().map(|(trace, _)| trace.clone()).collect::<BTreeSet<_>>().into_iter().collect();
            for (trace_id, span_id, record) in otlp_halves::orphans_of(&mut tx, &trace_ids).await? {
                let orphan: Orphan = match serde_json::from_value(record) {
                    Ok(orphan) => orphan,
                    // Not one this version wrote: dropped and counted, never a failed export.
                    Err(e) => {
                        tracing::warn!(trace_id, span_id, error = %e, "a stored OTLP call waiting for its parent is unreadable");
                        otlp_halves::take(&mut tx, &trace_id, &span_id, Half::Orphan).await?;
                        joined.unmatched.orphans += 1;
                        continue;
                    }
                };
                let waiting_for = orphan.waiting_for.clone();
                match resolve(orphan, &lineage) {
                    Resolved::Waiting(orphan) if orphan.waiting_for == waiting_for => continue,
                    Resolved::Waiting(orphan) => {
                        let record = serde_json::to_value(&orphan)
                            .map_err(|e| AppError::Internal(format!("an OTLP orphan as JSON: {e}")))?;
                        otlp_halves::update(&mut tx, &trace_id, &span_id, Half::Orphan, &record).await?;
                        continue;
                    }
                    Resolved::Event(event, line) => completed.push((event, line)),
                    Resolved::AwaitsLogs(half) => spans.push(half),
                    Resolved::Unnamed(orphan) => refused.push(unnamed(&orphan)),
                }
                otlp_halves::take(&mut tx, &trace_id, &span_id, Half::Orphan).await?;
            }
        }
        for orphan in orphans {
            let record = serde_json::to_value(&orphan)
                .map_err(|e| AppError::Internal(format!("an OTLP orphan as JSON: {e}")))?;
            otlp_halves::put(&mut tx, &orphan.trace_id, &orphan.span_id, Half::Orphan, &record, api_key_id).await?;
            joined.waiting += 1;
        }
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
        let expired = otlp_halves::expire(&mut tx, wait as f64).await?;
        joined.unmatched.spans += expired.spans;
        joined.unmatched.logs += expired.logs;
        joined.unmatched.orphans += expired.orphans;
        tx.commit().await?;
        for error in &refused {
            tracing::warn!(span = %error.field.as_deref().unwrap_or(""), "{}", error.error);
        }
        joined.unmatched.orphans += refused.len() as u64;
        let Unmatched { spans, logs, orphans } = joined.unmatched;
        if spans + logs + orphans > 0 {
            metrics::counter!("distillwatch_otlp_unmatched_total", "half" => "span").increment(spans);
            metrics::counter!("distillwatch_otlp_unmatched_total", "half" => "logs").increment(logs);
            metrics::counter!("distillwatch_otlp_unmatched_total", "half" => "orphan").increment(orphans);
            tracing::warn!(
                spans,
                log_gatherings = logs,
                orphans,
                wait_seconds = wait,
                "OTLP halves dropped unmatched: spans without their log records, log records without their span, \
                 or calls whose account no ancestor span named"
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
