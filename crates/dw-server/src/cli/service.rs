//! The service's commands: `serve`, `demo`, `keys` and `db`.

use std::process::ExitCode;

use clap::Subcommand;

use std::path::PathBuf;

use anyhow::Context;
use dw_app::App;
use dw_domain::{HistoryLogging, Role};
use secrecy::ExposeSecret;

use super::{app_config, cli_actor, with_app};
use crate::database::{Database, start_cluster};
use crate::settings::Settings;

/// `distillwatch serve` options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
    #[arg(long)]
    pub bind: Option<std::net::SocketAddr>,
}

/// `distillwatch demo` options.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long)]
    pub bind: Option<std::net::SocketAddr>,
    /// The text the simulator is made of (layout of ../shared/data).
    #[arg(long, default_value = "data/sample")]
    pub data: PathBuf,
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

/// `distillwatch serve`: the HTTP API until SIGINT or SIGTERM.
pub async fn serve(settings: &Settings) -> anyhow::Result<ExitCode> {
    let db = Database::open(&settings.database).await?;
    let mut app = App::new(db.pool.clone(), app_config(settings));
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
    crate::serve::run(listener, app, settings, crate::serve::shutdown_signal()).await?;
    db.close().await?;
    Ok(ExitCode::SUCCESS)
}

/// `distillwatch keys ...`
pub async fn keys(settings: &Settings, command: KeysCommand) -> anyhow::Result<ExitCode> {
    with_app(settings, async |app| run_keys(app, command).await).await.map(|()| ExitCode::SUCCESS)
}

async fn run_keys(app: &App, command: KeysCommand) -> anyhow::Result<()> {
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

/// `distillwatch db ...`
pub async fn db(command: DbCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
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
