//! `distillwatch reference add NAME FILE`: a suspect's (or a control's)
//! outputs loaded from an NDJSON file (plain, gzip or zstd; `-` for stdin),
//! validated line by line as `POST /v1/reference-sets/{id}/items` validates
//! them, and stored in batches, each committed before the next is read: an
//! interrupted load keeps what it reported, and loading the file again skips
//! those items as duplicates.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use anyhow::Context;
use dw_app::{Actor, App, AppError, NewReferenceSet, ReferenceSet};
use dw_domain::{LineError, ReferenceItem};
use dw_ingest::{Limits, LineReader, ReadLine};

/// Items stored per transaction.
const BATCH: usize = 5_000;

/// What `reference add` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AddSummary {
    /// Non-blank lines read.
    pub lines: u64,
    /// Items stored.
    pub stored: u64,
    /// Items the set already held.
    pub duplicates: u64,
    /// Lines rejected.
    pub rejected: u64,
}

/// The set to add to: `name` when it exists (its kind must be the one
/// asked for), else a new one.
pub async fn set_for(app: &App, new: &NewReferenceSet<'_>, actor: &Actor) -> anyhow::Result<(ReferenceSet, bool)> {
    match app.reference_set_named(new.name).await {
        Ok(set) => {
            anyhow::ensure!(
                set.control == new.control,
                "reference set {:?} exists as a {} set; {} to add to it",
                set.name,
                if set.control { "control" } else { "suspect" },
                if set.control { "pass --control" } else { "leave out --control" }
            );
            Ok((set, false))
        }
        Err(AppError::NotFound(_)) => Ok((app.create_reference_set(new, actor).await?, true)),
        Err(e) => Err(e.into()),
    }
}

/// Loads `file` into the set, printing each rejected line on stderr as
/// `line N: FIELD: reason`.
pub async fn add(
    app: &App,
    set: &ReferenceSet,
    file: &Path,
    limits: Limits,
    actor: &Actor,
) -> anyhow::Result<AddSummary> {
    anyhow::ensure!(file.as_os_str() == "-" || file.is_file(), "cannot read {}: no such file", file.display());
    let (tx, mut rx) = tokio::sync::mpsc::channel::<anyhow::Result<(Vec<ReferenceItem>, Vec<LineError>, u64)>>(2);
    let path = file.to_path_buf();
    let reader = tokio::task::spawn_blocking(move || {
        let mut lines =
            LineReader::new(crate::ingest_files::open(&path, Arc::new(AtomicU64::new(0)))?, limits.max_event_bytes);
        let mut items = Vec::with_capacity(BATCH);
        let mut rejected = Vec::new();
        let mut count = 0;
        loop {
            let line = lines.next_line().with_context(|| format!("reading {}", path.display()))?;
            let Some(line) = line else { break };
            count += 1;
            match line {
                ReadLine::Line { number, bytes } => match dw_ingest::parse_reference_item(bytes, number, &limits) {
                    Ok(item) => items.push(item),
                    Err(error) => rejected.push(error),
                },
                ReadLine::TooLong { number, len } => rejected.push(LineError::line(
                    number,
                    format!("item is {len} bytes, over the limit of {} bytes", limits.max_event_bytes),
                )),
            }
            if items.len() + rejected.len() >= BATCH {
                let batch = (std::mem::take(&mut items), std::mem::take(&mut rejected), std::mem::take(&mut count));
                if tx.blocking_send(Ok(batch)).is_err() {
                    return Ok(());
                }
            }
        }
        let _ = tx.blocking_send(Ok((items, rejected, count)));
        anyhow::Ok(())
    });
    let mut summary = AddSummary::default();
    while let Some(batch) = rx.recv().await {
        let (items, rejected, lines) = batch?;
        for e in &rejected {
            match &e.field {
                Some(field) => eprintln!("line {}: {field}: {}", e.line, e.error),
                None => eprintln!("line {}: {}", e.line, e.error),
            }
        }
        summary.lines += lines;
        summary.rejected += rejected.len() as u64;
        if lines == 0 {
            continue;
        }
        let outcome = app.add_reference_items(set.id, &items, rejected, lines, actor).await?;
        summary.stored += outcome.stored;
        summary.duplicates += outcome.duplicates;
    }
    reader.await??;
    Ok(summary)
}
