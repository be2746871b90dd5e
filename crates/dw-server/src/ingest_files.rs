//! `distillwatch ingest FILE...`: JSONL files loaded in large COPY batches.
//!
//! A reader thread per file decompresses, splits and validates lines (the same
//! code as `POST /v1/events`) and hands batches over a small bounded channel to
//! the writers, which store each in its own transaction (two at a time by
//! default). Reading the next batch overlaps with the database writing the
//! previous ones; the channel bound keeps memory at a few batches whatever the
//! file size. A batch is committed before its outcome is reported, so an
//! interrupted load keeps every batch it reported, and loading the file again
//! skips them as duplicates.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use dw_app::{App, IngestBatch};
use dw_domain::{Event, IngestOutcome, IngestSource, LineError};
use dw_ingest::{Limits, LineReader, ReadLine};
use indicatif::{ProgressBar, ProgressStyle};

use crate::settings::IngestSettings;

/// What a run of `distillwatch ingest` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Non-blank lines read.
    pub lines: u64,
    /// Bytes read, after decompression.
    pub bytes: u64,
    /// Events stored.
    pub accepted: u64,
    /// Events already stored.
    pub duplicates: u64,
    /// Lines rejected.
    pub rejected: u64,
}

/// The lab's way into the service: an events file loaded as
/// `distillwatch ingest --backfill` loads it (simulated traffic is history
/// of any date).
pub struct BackfillLoader<'a> {
    /// The ingest settings.
    pub settings: &'a IngestSettings,
}

impl dw_lab::EventLoader for BackfillLoader<'_> {
    fn load<'a>(
        &'a self,
        app: &'a App,
        events: &'a Path,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<dw_lab::Loaded>> + Send + 'a>> {
        Box::pin(async move {
            let files = [events.to_path_buf()];
            let summary =
                run(app, &files, self.settings, None, Reading::Records(dw_ingest::Source::default()), None).await?;
            Ok(dw_lab::Loaded { accepted: summary.accepted, rejected: summary.rejected })
        })
    }
}

/// What the files hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileFormat {
    /// Records of a log format, one per line (or one JSON array of them).
    Records(dw_ingest::Format),
    /// A Batch API input file and its output file (`openai-batch`).
    OpenaiBatch,
    /// OTLP export requests, traces and logs (`otlp`): one JSON request per
    /// line (a Collector's file exporter), one JSON request, or one binary
    /// protobuf request.
    Otlp,
}

impl std::str::FromStr for FileFormat {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "openai-batch" => return Ok(Self::OpenaiBatch),
            "otlp" => return Ok(Self::Otlp),
            _ => {}
        }
        name.parse().map(Self::Records).map_err(|e: String| format!("{e}, or openai-batch or otlp (files only)"))
    }
}

/// How the files are read.
#[derive(Debug, Clone)]
pub enum Reading {
    /// Each file holds records from this source.
    Records(dw_ingest::Source),
    /// The one file is a Batch API input file, joined with this output file.
    OpenaiBatch {
        /// The batch's output file.
        output: PathBuf,
        /// The account the batch was sent with.
        account: Option<String>,
    },
    /// Each file holds OTLP export requests; spans and their log records
    /// are joined across the files (and with halves waiting in the store).
    Otlp,
}

/// A batch being stored.
type StoreTask = tokio::task::JoinHandle<Result<IngestOutcome, dw_app::AppError>>;

struct FileBatch {
    events: Vec<Event>,
    rejected: Vec<LineError>,
    lines: u64,
    bytes: u64,
}

/// Loads every file (`-` is stdin), printing each rejected line on stderr as
/// `line N: FIELD: reason` (prefixed by the file name when there are several).
/// `history_logged` is what the files' source says of its log, for every
/// event that does not say itself (`ingest --last-message-only`).
pub async fn run(
    app: &App,
    files: &[PathBuf],
    settings: &IngestSettings,
    history_logged: Option<bool>,
    reading: Reading,
    timestamps: Option<dw_ingest::TimestampPolicy>,
) -> anyhow::Result<Summary> {
    for file in files {
        anyhow::ensure!(file.as_os_str() == "-" || file.is_file(), "cannot read {}: no such file", file.display());
    }
    // Files are the operator's own: every line is read and every rejection printed.
    let limits = Limits {
        max_event_bytes: settings.max_event_bytes,
        max_body_bytes: settings.max_body_bytes,
        max_items: usize::MAX,
        max_listed_errors: usize::MAX,
        // One window for the whole load, taken when it starts.
        timestamps: timestamps.map(|policy| policy.window()),
    };
    let total_bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let progress = progress_bar(total_bytes);
    let raw_read = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut summary = Summary::default();
    let name_files = files.len() > 1;

    for file in files {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<anyhow::Result<FileBatch>>(2);
        let path = file.clone();
        let batch_events = settings.file_batch_events;
        let counter = raw_read.clone();
        let reading = reading.clone();
        let reader = match reading {
            Reading::Records(source) => {
                tokio::task::spawn_blocking(move || read_batches(&path, &source, limits, batch_events, counter, &tx))
            }
            Reading::OpenaiBatch { output, account } => tokio::task::spawn_blocking(move || {
                read_openai_batch(&path, &output, account.as_deref(), limits, batch_events, counter, &tx)
            }),
            Reading::Otlp => {
                let app = app.clone();
                tokio::spawn(async move { read_otlp(&app, &path, limits, batch_events, counter, &tx).await })
            }
        };
        // Up to `file_writers` batches are stored at once, each in its own
        // transaction: one commits while the next is copied. Outcomes are
        // taken in file order, so rejected lines print in order.
        let mut in_flight: VecDeque<(u64, u64, StoreTask)> = VecDeque::new();
        let mut finished = false;
        while !finished || !in_flight.is_empty() {
            if !finished && in_flight.len() < settings.file_writers.max(1) {
                match rx.recv().await {
                    Some(batch) => {
                        let batch = batch?;
                        let (lines, bytes) = (batch.lines, batch.bytes);
                        let app = app.clone();
                        let origin = Some(file.display().to_string());
                        in_flight.push_back((
                            lines,
                            bytes,
                            tokio::spawn(async move {
                                app.ingest(IngestBatch {
                                    events: batch.events,
                                    rejected: batch.rejected,
                                    rejected_unlisted: 0,
                                    lines: batch.lines,
                                    bytes: batch.bytes,
                                    source: IngestSource::Cli,
                                    api_key_id: None,
                                    origin,
                                    history_logged,
                                })
                                .await
                            }),
                        ));
                        continue;
                    }
                    None => finished = true,
                }
            }
            let Some((lines, bytes, task)) = in_flight.pop_front() else { continue };
            let outcome = task
                .await
                .context("an ingest task failed")?
                .with_context(|| format!("storing events from {}", file.display()))?;
            for rejection in &outcome.rejected {
                let line = if name_files { format!("{}: {rejection}", file.display()) } else { rejection.to_string() };
                match &progress {
                    Some(bar) => bar.suspend(|| eprintln!("{line}")),
                    None => eprintln!("{line}"),
                }
            }
            summary.lines += lines;
            summary.bytes += bytes;
            summary.accepted += outcome.accepted;
            summary.duplicates += outcome.duplicates;
            summary.rejected += outcome.rejected.len() as u64;
            if let Some(bar) = &progress {
                bar.set_position(raw_read.load(Ordering::Relaxed));
                let rate = summary.lines as f64 / started.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!(
                    "{} events ({:.0}/s), {} duplicates, {} rejected",
                    summary.accepted, rate, summary.duplicates, summary.rejected
                ));
            }
        }
        reader
            .await
            .map_err(|_| anyhow::anyhow!("the reader of {} panicked", file.display()))?
            .with_context(|| format!("reading {}", file.display()))?;
    }
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let secs = started.elapsed().as_secs_f64().max(1e-6);
    eprintln!(
        "ingested {} file(s): {} lines, {} accepted, {} duplicates, {} rejected; {:.1} MB in {:.2} s ({:.0} events/s, {:.1} MB/s)",
        files.len(),
        summary.lines,
        summary.accepted,
        summary.duplicates,
        summary.rejected,
        summary.bytes as f64 / 1e6,
        secs,
        summary.lines as f64 / secs,
        summary.bytes as f64 / 1e6 / secs
    );
    Ok(summary)
}

fn progress_bar(total: u64) -> Option<ProgressBar> {
    let bar = dw_lab::progress_bar(
        total,
        "{elapsed_precise} [{bar:30}] {bytes}/{total_bytes} ({binary_bytes_per_sec}) {msg}",
    )?;
    if total == 0 {
        bar.set_style(ProgressStyle::default_spinner());
    }
    Some(bar)
}

/// Counts the raw (compressed) bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens a file (or stdin), recognizing gzip and zstd by their magic bytes.
pub(crate) fn open(path: &Path, count: Arc<AtomicU64>) -> anyhow::Result<Box<dyn BufRead + Send>> {
    let raw: Box<dyn Read + Send> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?)
    };
    let mut buffered = BufReader::with_capacity(1 << 20, Counting { inner: raw, count });
    let head = buffered.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::with_capacity(1 << 20, flate2::bufread::MultiGzDecoder::new(buffered)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(BufReader::with_capacity(1 << 20, zstd::stream::read::Decoder::with_buffer(buffered)?))
    } else {
        Box::new(buffered)
    })
}

/// Whether the first byte that is not white space (in the first buffer
/// read, which is not consumed) opens a JSON array.
fn starts_with_array(input: &mut Box<dyn BufRead + Send>) -> std::io::Result<bool> {
    Ok(input.fill_buf()?.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'['))
}

/// A Batch API input file joined with its output file, handed over in
/// batches of `batch_events` (rejections with the first).
fn read_openai_batch(
    input: &Path,
    output: &Path,
    account: Option<&str>,
    limits: Limits,
    batch_events: usize,
    count: Arc<AtomicU64>,
    tx: &tokio::sync::mpsc::Sender<anyhow::Result<FileBatch>>,
) -> anyhow::Result<()> {
    let mut requests = Vec::new();
    open(input, count.clone())?.read_to_end(&mut requests)?;
    let mut answers = Vec::new();
    open(output, count)?
        .read_to_end(&mut answers)
        .with_context(|| format!("reading the batch output file {}", output.display()))?;
    let parsed = dw_ingest::parse_openai_batch(&requests, &answers, account, &limits);
    let bytes = (requests.len() + answers.len()) as u64;
    let first = FileBatch { events: Vec::new(), rejected: parsed.rejected, lines: parsed.lines, bytes };
    for batch in in_batches(first, parsed.events, batch_events) {
        if tx.blocking_send(Ok(batch)).is_err() {
            break;
        }
    }
    Ok(())
}

/// A file of OTLP export requests: its spans as events, handed over in
/// batches of `batch_events` as the requests are read, then those waiting
/// for log records joined with them (in this file, an earlier one, or the
/// ones `serve` keeps waiting).
async fn read_otlp(
    app: &App,
    path: &Path,
    limits: Limits,
    batch_events: usize,
    count: Arc<AtomicU64>,
    tx: &tokio::sync::mpsc::Sender<anyhow::Result<FileBatch>>,
) -> anyhow::Result<()> {
    // Calls of earlier exports waiting for an ancestor are settled by the file's spans: only then is every
    // span's lineage kept.
    let keep_lineage = app.otlp_orphans_waiting().await?;
    let parsed = {
        let (path, tx) = (path.to_owned(), tx.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let bytes_read = Arc::new(AtomicU64::new(0));
            let input = Tally { inner: open(&path, count)?, count: bytes_read.clone() };
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let (mut lines_sent, mut bytes_sent) = (0, 0);
            let mut hand_over = |file: &mut dw_ingest::formats::OtlpFile, last: bool| {
                if !last && file.batch.events.len() + file.batch.rejected.len() < batch_events.max(1) {
                    return std::ops::ControlFlow::Continue(());
                }
                let (events, rejected) = file.take_read();
                let bytes = bytes_read.load(Ordering::Relaxed);
                let batch =
                    FileBatch { events, rejected, lines: file.batch.lines - lines_sent, bytes: bytes - bytes_sent };
                (lines_sent, bytes_sent) = (file.batch.lines, bytes);
                match tx.blocking_send(Ok(batch)) {
                    Ok(()) => std::ops::ControlFlow::Continue(()),
                    // The writer stopped; it reports why.
                    Err(_) => std::ops::ControlFlow::Break(()),
                }
            };
            let mut file = dw_ingest::formats::read_otlp_stream(input, &name, &limits, keep_lineage, |file| {
                hand_over(file, false)
            })
            .map_err(anyhow::Error::msg)?;
            let _ = hand_over(&mut file, true);
            Ok(file)
        })
        .await??
    };
    let parts =
        dw_app::Parts { spans: parsed.awaiting, logs: parsed.logs, orphans: parsed.orphans, lineage: parsed.lineage };
    if !parts.is_empty() {
        let joined = app.join_otlp_halves(parts, None, &limits).await?;
        if joined.waiting > 0 {
            eprintln!(
                "{}: {} span(s), log gathering(s) or call(s) without an account wait for what they lack (kept for \
                 ingest.otlp_join_wait_seconds)",
                path.display(),
                joined.waiting
            );
        }
        let first = FileBatch { events: Vec::new(), rejected: joined.rejected, lines: 0, bytes: 0 };
        for batch in in_batches(first, joined.events, batch_events) {
            if tx.send(Ok(batch)).await.is_err() {
                break;
            }
        }
    }
    Ok(())
}

/// `events` in batches of `batch_events`, the first carrying `first`'s
/// rejections and counts (and sent even when there are no events).
fn in_batches(first: FileBatch, events: Vec<Event>, batch_events: usize) -> impl Iterator<Item = FileBatch> {
    let mut events = events.into_iter().peekable();
    let mut first = Some(first);
    std::iter::from_fn(move || {
        if first.is_none() && events.peek().is_none() {
            return None;
        }
        let mut batch =
            first.take().unwrap_or(FileBatch { events: Vec::new(), rejected: Vec::new(), lines: 0, bytes: 0 });
        batch.events.extend(events.by_ref().take(batch_events.max(1)));
        Some(batch)
    })
}

/// Counts the bytes handed on (after decompression).
struct Tally<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Tally<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Tally<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.count.fetch_add(amount as u64, Ordering::Relaxed);
        self.inner.consume(amount);
    }
}

fn read_batches(
    path: &Path,
    source: &dw_ingest::Source,
    limits: Limits,
    batch_events: usize,
    count: Arc<AtomicU64>,
    tx: &tokio::sync::mpsc::Sender<anyhow::Result<FileBatch>>,
) -> anyhow::Result<()> {
    let mut input = open(path, count)?;
    // A gateway's file may be one JSON array of records (a logger's body saved as it was posted).
    if source.format != dw_ingest::Format::Canonical && starts_with_array(&mut input)? {
        let mut body = Vec::new();
        std::io::Read::take(&mut input, limits.max_body_bytes as u64 + 1).read_to_end(&mut body)?;
        anyhow::ensure!(
            body.len() <= limits.max_body_bytes,
            "{}: a JSON array over ingest.max_body_bytes ({} bytes); write one record per line instead",
            path.display(),
            limits.max_body_bytes
        );
        let parsed = dw_ingest::parse_json_as(source, &body, &limits);
        let batch = FileBatch {
            events: parsed.events,
            rejected: parsed.rejected,
            lines: parsed.lines,
            bytes: body.len() as u64,
        };
        let _ = tx.blocking_send(Ok(batch));
        return Ok(());
    }
    let mut lines = LineReader::new(input, limits.max_event_bytes);
    let mut batch = FileBatch { events: Vec::with_capacity(batch_events), rejected: Vec::new(), lines: 0, bytes: 0 };
    let mut sent_bytes = 0;
    loop {
        let line = match lines.next_line() {
            Ok(line) => line,
            Err(e) => {
                // Hand over what was read so far, then the error.
                let _ = tx.blocking_send(Ok(batch));
                let error =
                    anyhow::Error::new(e).context(format!("after line {} of {}", lines.bytes_read(), path.display()));
                let _ = tx.blocking_send(Err(error));
                return Ok(());
            }
        };
        let Some(line) = line else { break };
        batch.lines += 1;
        match line {
            ReadLine::Line { number, bytes } => match dw_ingest::parse_record(source, bytes, number, &limits) {
                Ok(event) => batch.events.push(event),
                Err(error) => batch.rejected.push(error),
            },
            ReadLine::TooLong { number, len } => batch.rejected.push(LineError::line(
                number,
                format!("event is {len} bytes, over the limit of {} bytes", limits.max_event_bytes),
            )),
        }
        if batch.events.len() + batch.rejected.len() >= batch_events {
            batch.bytes = lines.bytes_read() - sent_bytes;
            sent_bytes = lines.bytes_read();
            let full = std::mem::replace(
                &mut batch,
                FileBatch { events: Vec::with_capacity(batch_events), rejected: Vec::new(), lines: 0, bytes: 0 },
            );
            if tx.blocking_send(Ok(full)).is_err() {
                return Ok(()); // the writer stopped; it reports why
            }
        }
    }
    batch.bytes = lines.bytes_read() - sent_bytes;
    if batch.lines > 0 {
        let _ = tx.blocking_send(Ok(batch));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_go_in_batches_the_first_carrying_the_rejections_and_counts() {
        let event = |i: usize| {
            let line = format!(
                r#"{{"account_id":"a","timestamp":"2026-11-02T00:00:00Z","model":"m","request":{{"prompt":"p{i}"}}}}"#
            );
            dw_ingest::parse_event(line.as_bytes(), 1, &Limits::default()).unwrap()
        };
        let first = || FileBatch { events: Vec::new(), rejected: vec![LineError::line(3, "bad")], lines: 9, bytes: 99 };
        let batches: Vec<FileBatch> = in_batches(first(), (0..5).map(event).collect(), 2).collect();
        let shape: Vec<(usize, usize, u64, u64)> =
            batches.iter().map(|b| (b.events.len(), b.rejected.len(), b.lines, b.bytes)).collect();
        assert_eq!(shape, vec![(2, 1, 9, 99), (2, 0, 0, 0), (1, 0, 0, 0)]);
        // No events: the rejections and counts still go, once.
        let shape: Vec<(usize, usize)> =
            in_batches(first(), Vec::new(), 2).map(|b| (b.events.len(), b.rejected.len())).collect();
        assert_eq!(shape, vec![(0, 1)]);
    }
}
