//! Storing a batch of validated events.

use std::collections::{BTreeSet, HashSet};

use dw_domain::{Event, IngestOutcome, IngestSource, LineError};
use dw_store::ingest_log::IngestLogEntry;
use uuid::Uuid;

use crate::{App, AppError};

/// A batch ready to store: what `dw-ingest` made of some input.
#[derive(Debug)]
pub struct IngestBatch {
    /// The valid events, in input order.
    pub events: Vec<Event>,
    /// The rejected lines.
    pub rejected: Vec<LineError>,
    /// Rejected lines beyond those listed (a body's listing is bounded).
    pub rejected_unlisted: u64,
    /// Non-blank lines seen.
    pub lines: u64,
    /// Bytes read (after decompression).
    pub bytes: u64,
    /// HTTP or CLI.
    pub source: IngestSource,
    /// The API key that sent it, for HTTP.
    pub api_key_id: Option<Uuid>,
    /// A file name or client address, for the log.
    pub origin: Option<String>,
    /// What the source says of its log, for every event that does not say
    /// itself (`request.history_logged`): `Some(false)` from a gateway that
    /// keeps the last user message only.
    pub history_logged: Option<bool>,
}

impl App {
    /// Stores the batch's new events in one transaction: events whose
    /// `(account_id, event_id)` is already stored, or repeated earlier in the
    /// batch, count as duplicates. The batch is logged in the same transaction,
    /// so the log never claims events that were not stored.
    pub async fn ingest(&self, mut batch: IngestBatch) -> Result<IngestOutcome, AppError> {
        let started = std::time::Instant::now();
        let redacted = if self.config.redaction.is_off() || batch.events.is_empty() {
            dw_ingest::Redacted::default()
        } else {
            // Regular expressions over every text of the batch: off the runtime's threads.
            let redaction = self.config.redaction.clone();
            let events = std::mem::take(&mut batch.events);
            let (events, counts) = tokio::task::spawn_blocking(move || {
                let mut events = events;
                let mut counts = dw_ingest::Redacted::default();
                for event in &mut events {
                    redaction.event(event, &mut counts);
                }
                (events, counts)
            })
            .await
            .map_err(|e| AppError::Internal(format!("redacting a batch failed: {e}")))?;
            batch.events = events;
            counts
        };
        if let Some(logged) = batch.history_logged {
            for event in batch.events.iter_mut().filter(|e| e.request.history_logged.is_none()) {
                event.request.history_logged = Some(logged);
            }
        }
        let ingest_id = Uuid::now_v7();
        let mut seen = HashSet::with_capacity(batch.events.len());
        let unique: Vec<&Event> =
            batch.events.iter().filter(|e| seen.insert((e.account_id.as_str(), e.event_id.as_str()))).collect();
        let repeated_in_batch = (batch.events.len() - unique.len()) as u64;

        let months: BTreeSet<time::Date> = unique.iter().map(|e| e.month()).collect();
        self.partitions.ensure(&self.pool, &months).await?;

        let mut tx = self.pool.begin().await?;
        let is_new = dw_store::events::claim_keys(&mut tx, &unique).await?;
        let fresh: Vec<&Event> = unique.iter().zip(&is_new).filter(|(_, new)| **new).map(|(e, _)| *e).collect();
        let written = dw_store::events::copy_events(&mut tx, &fresh, ingest_id).await?;
        if written != fresh.len() as u64 {
            return Err(AppError::Store(dw_store::StoreError::Corrupt(format!(
                "COPY wrote {written} rows for {} events",
                fresh.len()
            ))));
        }
        dw_store::accounts::record_activity(&mut tx, &fresh).await?;
        let outcome = IngestOutcome {
            accepted: written,
            duplicates: repeated_in_batch + (unique.len() - fresh.len()) as u64,
            rejected: batch.rejected,
            rejected_unlisted: batch.rejected_unlisted,
            redacted: redacted.total(),
        };
        let rejected_total = outcome.rejected.len() as u64 + outcome.rejected_unlisted;
        dw_store::ingest_log::record(
            &mut tx,
            &IngestLogEntry {
                ingest_id,
                source: batch.source,
                api_key_id: batch.api_key_id,
                origin: batch.origin,
                bytes: batch.bytes as i64,
                lines: batch.lines as i64,
                accepted: outcome.accepted as i64,
                duplicates: outcome.duplicates as i64,
                rejected: rejected_total as i64,
                first_error: outcome.rejected.first().map(|e| dw_ingest::bounded(e.clone()).to_string()),
                redacted: redacted.total() as i64,
            },
        )
        .await?;
        tx.commit().await?;

        let source = batch.source.as_str();
        metrics::counter!("distillwatch_ingest_events_total", "source" => source, "outcome" => "accepted")
            .increment(outcome.accepted);
        metrics::counter!("distillwatch_ingest_events_total", "source" => source, "outcome" => "duplicate")
            .increment(outcome.duplicates);
        metrics::counter!("distillwatch_ingest_events_total", "source" => source, "outcome" => "rejected")
            .increment(rejected_total);
        metrics::counter!("distillwatch_ingest_batches_total", "source" => source).increment(1);
        for (kind, count) in redacted.by_kind().filter(|(_, n)| *n > 0) {
            metrics::counter!("distillwatch_ingest_redactions_total", "kind" => kind.name()).increment(count);
        }
        metrics::histogram!("distillwatch_ingest_batch_seconds", "source" => source)
            .record(started.elapsed().as_secs_f64());
        tracing::debug!(%ingest_id, accepted = outcome.accepted, duplicates = outcome.duplicates,
            rejected = rejected_total, "batch stored");
        Ok(outcome)
    }

    /// The most recent ingest log entries, newest first.
    pub async fn recent_ingests(&self, limit: i64) -> Result<Vec<dw_store::ingest_log::LoggedIngest>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(dw_store::ingest_log::recent(&mut conn, limit).await?)
    }
}
