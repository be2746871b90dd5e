//! What the lab needs of the service it runs in, given by the binary: a
//! database server to make throwaway databases on, the use cases' settings,
//! the content sampling configured, and the service's own file ingest.
//!
//! The lab depends on nothing above it: `dw-server` builds a [`Host`] from
//! its settings and hands it down.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use anyhow::Context as _;
use dw_app::{App, AppConfig, ContentSampling};
use dw_store::PgConnectOptions;
use dw_store::PgPool;

/// What an events file became when loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Events stored.
    pub accepted: u64,
    /// Lines refused.
    pub rejected: u64,
}

/// Loads an events file into an app as `distillwatch ingest --backfill`
/// does (simulated traffic is history of any date).
pub trait EventLoader: Sync {
    /// Loads `events` into `app`.
    fn load<'a>(
        &'a self,
        app: &'a App,
        events: &'a Path,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<Loaded>> + Send + 'a>>;
}

/// The service the lab runs in.
pub struct Host<'a> {
    /// A pool on the configured server: throwaway databases are created and
    /// dropped through it.
    pub admin: PgPool,
    /// How to reach that server; a throwaway database's name replaces the
    /// database.
    pub connect: PgConnectOptions,
    /// The use cases' settings, for every app the lab builds.
    pub config: AppConfig,
    /// The content sampling configured (`embed.audit_per_account_day`), for
    /// every app the lab builds.
    pub content: Option<ContentSampling>,
    /// The service's file ingest.
    pub loader: &'a dyn EventLoader,
}

impl Host<'_> {
    /// An app on `pool` with the host's settings and content sampling.
    pub fn app(&self, pool: PgPool) -> App {
        let app = App::new(pool, self.config.clone());
        match &self.content {
            Some(content) => app.with_content(content.clone()),
            None => app,
        }
    }
}

/// A throwaway database on the host's server, for one population.
pub struct Throwaway {
    name: String,
    /// Its pool.
    pub pool: PgPool,
}

impl Throwaway {
    /// Creates and migrates `dw_eval_{pid}_{index}`.
    pub async fn create(host: &Host<'_>, index: usize) -> anyhow::Result<Self> {
        let name = format!("dw_eval_{}_{index}", std::process::id());
        let mut admin = host.admin.acquire().await?;
        dw_store::databases::create(&mut admin, &name).await.context("cannot create the evaluation database")?;
        let pool = match dw_store::connect(host.connect.clone().database(&name), 8).await {
            Ok(pool) => pool,
            Err(e) => {
                dw_store::databases::drop(&mut admin, &name).await?;
                return Err(e.into());
            }
        };
        let throwaway = Self { name, pool };
        if let Err(e) = dw_store::migrate(&throwaway.pool).await {
            throwaway.drop_with(host).await?;
            return Err(e.into());
        }
        Ok(throwaway)
    }

    /// Closes the pool and drops the database.
    pub async fn drop_with(self, host: &Host<'_>) -> anyhow::Result<()> {
        self.pool.close().await;
        let mut admin = host.admin.acquire().await?;
        dw_store::databases::drop(&mut admin, &self.name).await.context("cannot drop the evaluation database")
    }
}
