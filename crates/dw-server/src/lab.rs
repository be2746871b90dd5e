//! The lab's host: the configured database server, the use cases'
//! settings, the content sampling and the service's file ingest, handed to
//! `dw-lab` for the length of one command.

use dw_lab::Host;

use crate::database::Database;
use crate::ingest_files::BackfillLoader;
use crate::settings::Settings;

/// Whether the lab's apps embed their sample as audits do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// As configured (`embed.audit_per_account_day`).
    Configured,
    /// Never.
    Off,
}

/// Opens the configured database server (the embedded cluster when no
/// `DATABASE_URL`), runs `job` with the lab's host on it, and closes it.
pub async fn with_host<T>(
    settings: &Settings,
    content: Content,
    job: impl AsyncFnOnce(&Host<'_>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let content = match content {
        Content::Configured => crate::embed_files::content_sampling(&settings.embed).await?,
        Content::Off => None,
    };
    let db = Database::open(&settings.database).await?;
    let loader = BackfillLoader { settings: &settings.ingest };
    let host = Host {
        admin: db.pool.clone(),
        connect: db.connect_options(),
        config: crate::cli::app_config(settings),
        content,
        loader: &loader,
    };
    let result = job(&host).await;
    db.close().await?;
    result
}
