//! The command line: the commands' definitions and one dispatch; each
//! group's arguments and work live in its module: [`service`] (serve, demo,
//! keys, db), [`data`] (ingest, model, embed, embed-events, audit, accounts,
//! flags), [`reference`] (reference sets, attribution, the distillation
//! test) and [`lab`] (simulate, eval, weights, classifier).

pub mod data;
pub mod lab;
pub mod reference;
pub mod service;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dw_app::{App, AppConfig};

use crate::database::Database;
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
    Serve(service::ServeArgs),
    /// A first run: a demo database with two days of simulated traffic,
    /// audited, two keys, then the service, with a guide to what it found.
    Demo(service::DemoArgs),
    /// Load JSONL event files (plain, .gz or .zst; `-` for stdin) with COPY.
    Ingest(data::IngestArgs),
    /// Manage API keys.
    Keys {
        /// The key command.
        #[command(subcommand)]
        command: service::KeysCommand,
    },
    /// Get the embedding model onto this machine (checked by SHA-256).
    Model {
        /// The model command.
        #[command(subcommand)]
        command: data::ModelCommand,
    },
    /// Embed texts into a NumPy .npy file of float32 vectors, in input order.
    Embed(data::EmbedArgs),
    /// Embed the prompts (and completions) of a window's events that have no
    /// vector yet: a per-account sample on CPU, everything on a GPU.
    EmbedEvents(data::EmbedEventsArgs),
    /// Write labelled simulated traffic: canonical events (the ingest format)
    /// and one `account_id,label,kind,campaign` row per account.
    Simulate(lab::SimulateArgs),
    /// Audit a window: score every active account, store the scores, and open,
    /// update or reopen flags (one per account or cluster) with their evidence.
    /// --output writes one CSV row per account
    /// (account_id,risk,level,flagged,cluster_id,top_signals).
    Audit(data::AuditArgs),
    /// Measure detection quality on labelled traffic: ingest into a throwaway
    /// database, replay daily audits, report against the labels.
    Eval(lab::EvalArgs),
    /// The detector's signal weights.
    Weights {
        /// The weights command.
        #[command(subcommand)]
        command: lab::WeightsCommand,
    },
    /// Account attributes.
    Accounts {
        /// The accounts command.
        #[command(subcommand)]
        command: data::AccountsCommand,
    },
    /// Flags and analysts' decisions.
    Flags {
        /// The flags command.
        #[command(subcommand)]
        command: data::FlagsCommand,
    },
    /// Reference sets: a suspect model's outputs against what we served.
    Reference {
        /// The reference command.
        #[command(subcommand)]
        command: reference::ReferenceCommand,
    },
    /// The task-instruction classifier.
    Classifier {
        /// The classifier command.
        #[command(subcommand)]
        command: lab::ClassifierCommand,
    },
    /// Manage the database.
    Db {
        /// The database command.
        #[command(subcommand)]
        command: service::DbCommand,
    },
}

impl Cli {
    /// Flags that override settings, as `section.key` values.
    pub fn overrides(&self) -> Vec<(&'static str, figment::value::Value)> {
        let mut out = Vec::new();
        if let Some(dir) = &self.data_dir {
            out.push(("database.data_dir", dir.display().to_string().into()));
        }
        if let Command::Serve(service::ServeArgs { bind: Some(bind) })
        | Command::Demo(service::DemoArgs { bind: Some(bind), .. }) = &self.command
        {
            out.push(("server.bind", bind.to_string().into()));
        }
        if let Command::Ingest(data::IngestArgs { batch_size: Some(n), .. }) = &self.command {
            out.push(("ingest.file_batch_events", (*n).into()));
        }
        if let Command::Embed(data::EmbedArgs { batch_size, device, max_tokens, precision, .. }) = &self.command {
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
    let settings = &settings;
    match cli.command {
        Command::Serve(_) => service::serve(settings).await,
        Command::Demo(args) => crate::demo::run(settings, args.data).await.map(|()| ExitCode::SUCCESS),
        Command::Keys { command } => service::keys(settings, command).await,
        Command::Db { command } => service::db(command, settings).await,
        Command::Ingest(args) => data::ingest(settings, args).await,
        Command::Model { command } => data::model(settings, command).await,
        Command::Embed(args) => data::embed(settings, args).await,
        Command::EmbedEvents(args) => data::embed_events(settings, args).await,
        Command::Audit(args) => data::audit(settings, args).await,
        Command::Flags { command } => data::flags(settings, command).await,
        Command::Accounts { command } => data::accounts(settings, command).await,
        Command::Reference { command } => reference::run(command, settings).await,
        Command::Simulate(args) => lab::simulate(args),
        Command::Eval(args) => lab::eval(settings, args).await,
        Command::Weights { command } => lab::weights(settings, command).await,
        Command::Classifier { command } => lab::classifier(settings, command).await,
    }
}

/// Opens the configured database (the embedded cluster without
/// `DATABASE_URL`), runs `job` with an app on it, and closes it whatever
/// `job` returned.
pub(crate) async fn with_app<T>(
    settings: &Settings,
    job: impl AsyncFnOnce(&App) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let db = Database::open(&settings.database).await?;
    let app = App::new(db.pool.clone(), app_config(settings));
    let result = job(&app).await;
    db.close().await?;
    result
}

/// The operator at the command line, as the audit log names them.
pub(crate) fn cli_actor() -> dw_app::Actor {
    let user = std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "unknown".into());
    dw_app::Actor { name: format!("cli:{user}"), role: "admin".into() }
}
