//! The embedding job: vectors for the events of a time window that have none.

use dw_embed::EmbedHandle;
use dw_store::embeddings::{self, Budget, Field, VectorDtype};
use time::OffsetDateTime;

use crate::{App, AppError};

/// What to embed.
#[derive(Debug, Clone)]
pub struct EmbedJob {
    /// Window start (inclusive).
    pub from: OffsetDateTime,
    /// Window end (exclusive).
    pub to: OffsetDateTime,
    /// How many of each account's events.
    pub budget: Budget,
    /// Which texts.
    pub fields: Vec<Field>,
    /// How vectors are stored.
    pub dtype: VectorDtype,
    /// Events read, embedded and written per step.
    pub chunk: usize,
}

/// What an embedding job did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmbedReport {
    /// Events picked (per field, summed) that had no vector yet.
    pub selected: u64,
    /// Vectors written.
    pub written: u64,
}

impl App {
    /// Embeds the events of the window that have no vector from this model
    /// yet, chunk by chunk: only one chunk of texts is in memory at a time, and
    /// each chunk's vectors are committed before the next is read, so an
    /// interrupted job resumes where it stopped. `progress(done, total)` is
    /// called after each chunk.
    pub async fn embed_window(
        &self,
        handle: &EmbedHandle,
        job: &EmbedJob,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<EmbedReport, AppError> {
        let model_id = handle.model_id().to_owned();
        let mut report = EmbedReport::default();
        let mut conn = self.pool.acquire().await?;
        let mut plans = Vec::new();
        for &field in &job.fields {
            let keys = embeddings::sample_unembedded(&mut conn, job.from, job.to, job.budget, &model_id, field).await?;
            report.selected += keys.len() as u64;
            plans.push((field, keys));
        }
        let mut done = 0;
        for (field, keys) in plans {
            for chunk in keys.chunks(job.chunk.max(1)) {
                let texts = embeddings::texts(&mut conn, chunk, field).await?;
                let started = std::time::Instant::now();
                metrics::gauge!("distillwatch_embed_queue_depth").set(handle.queued() as f64);
                let vectors = handle.embed_waiting(texts).await?;
                metrics::histogram!("distillwatch_embed_chunk_seconds").record(started.elapsed().as_secs_f64());
                metrics::counter!("distillwatch_embedded_texts_total", "field" => field.as_str())
                    .increment(chunk.len() as u64);
                report.written += embeddings::store(&mut conn, chunk, &vectors, field, &model_id, job.dtype).await?;
                done += chunk.len() as u64;
                progress(done, report.selected);
            }
        }
        Ok(report)
    }
}
