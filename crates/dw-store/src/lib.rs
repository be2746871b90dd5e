//! PostgreSQL storage for distillwatch.
//!
//! All SQL of the project lives here, as functions that take an executor (a
//! pool, a connection or a transaction) so that the use cases in `dw-app` own
//! their transactions. Layout:
//!
//! - [`cluster`]: the embedded default, a private PostgreSQL cluster started
//!   from the machine's binaries when no `DATABASE_URL` is given;
//! - [`connect`] and [`MIGRATOR`]: pools and the schema in `migrations/`;
//! - [`partitions`]: monthly event partitions, created on demand, dropped by
//!   retention;
//! - [`events`]: idempotent bulk writes (keys first, then binary `COPY`);
//! - [`embeddings`]: vectors of prompts and completions, and the sample of a
//!   window's events an embedding job works on;
//! - [`activity`]: what accounts did in a window, as audits read it;
//! - [`audits`]: audit jobs (queue, lease, publish) and their scores;
//! - [`flags`]: flags on accounts and clusters, analysts' decisions, history;
//! - [`databases`]: throwaway databases for evaluations;
//! - [`attributes`]: what the provider knows of an account (opened when,
//!   org, country, payment and e-mail-domain fingerprints);
//! - [`reference_sets`]: suspects' and controls' outputs, uploaded by analysts;
//! - [`reference_jobs`]: attribution and distillation-test runs (queue, lease,
//!   report);
//! - [`accounts`], [`api_keys`], [`console_sessions`], [`ingest_log`]: the small tables.
//!
//! Data moves: validated `Event`s from `dw-ingest` → [`events::claim_keys`]
//! (which of them are new) → [`events::copy_events`] (binary COPY straight into
//! the partitioned table) → [`accounts::record_activity`] → [`ingest_log::record`],
//! all in the caller's transaction.

pub mod account_views;
pub mod accounts;
pub mod activity;
pub mod allowlist;
pub mod api_keys;
pub mod attributes;
pub mod audit_log;
pub mod audits;
pub mod cluster;
pub mod console_sessions;
mod copy_binary;
pub mod databases;
pub mod embeddings;
pub mod events;
pub mod flags;
pub mod ingest_log;
pub mod otlp_halves;
pub mod partitions;
pub mod queue;
pub mod reference_jobs;
pub mod reference_sets;
pub mod webhooks;

use std::time::Duration;

pub use sqlx::postgres::PgConnectOptions;
use sqlx::postgres::PgPoolOptions;
pub use sqlx::{PgPool, Postgres, Transaction};

/// The schema migrations in `migrations/`, applied at start-up.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("schema migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back into a domain type.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

/// Statements slower than this are logged as warnings. An audit streams a
/// whole window through one statement while it computes signals, so a few
/// seconds are normal there; sqlx's default of one second would warn on every
/// audit.
pub const SLOW_STATEMENT: Duration = Duration::from_secs(10);

/// Opens a pool on `options` with at most `max_connections` connections.
pub async fn connect(options: PgConnectOptions, max_connections: u32) -> Result<PgPool, StoreError> {
    use sqlx::ConnectOptions;
    let options = options.log_slow_statements(log::LevelFilter::Warn, SLOW_STATEMENT);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// Applies every pending migration.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Whether the database answers a trivial query.
pub async fn ping(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::query_scalar!("SELECT 1 AS \"one!\"").fetch_one(pool).await?;
    Ok(())
}
