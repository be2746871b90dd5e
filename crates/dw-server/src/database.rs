//! Opening the database: the server named by `DATABASE_URL`, or the embedded
//! local cluster, migrated either way.

use anyhow::Context;
use dw_store::PgPool;
use dw_store::cluster::{ClusterConfig, LocalCluster};
use secrecy::ExposeSecret;
use sqlx::postgres::PgConnectOptions;

use crate::settings::DatabaseSettings;

/// An open, migrated database and, when embedded, the cluster behind it.
pub struct Database {
    /// The pool.
    pub pool: PgPool,
    options: PgConnectOptions,
    cluster: Option<LocalCluster>,
}

impl Database {
    /// Connects (starting the embedded cluster when no URL is set) and applies
    /// pending migrations.
    pub async fn open(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        let (options, cluster) = match &settings.url {
            Some(url) => {
                let options: PgConnectOptions =
                    url.expose_secret().parse().context("database.url (DATABASE_URL) is not a valid PostgreSQL URL")?;
                (options, None)
            }
            None => {
                let cluster = start_cluster(settings).await?;
                (cluster.connect_options(), Some(cluster))
            }
        };
        let pool = dw_store::connect(options.clone(), settings.max_connections)
            .await
            .context("cannot connect to PostgreSQL")?;
        dw_store::migrate(&pool).await.context("cannot apply the database migrations")?;
        Ok(Self { pool, options, cluster })
    }

    /// How to reach the server (to open other databases on it).
    pub fn connect_options(&self) -> PgConnectOptions {
        self.options.clone()
    }

    /// The embedded cluster, when there is one.
    pub fn cluster(&self) -> Option<&LocalCluster> {
        self.cluster.as_ref()
    }

    /// Keeps an embedded cluster running after this process exits.
    pub fn detach_cluster(&mut self) {
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.keep_running();
        }
    }

    /// Closes the pool and stops the embedded cluster if this process started it.
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.pool.close().await;
        if let Some(mut cluster) = self.cluster.take() {
            tokio::task::spawn_blocking(move || cluster.stop())
                .await
                .context("stopping the embedded cluster")?
                .context("stopping the embedded cluster")?;
        }
        Ok(())
    }
}

/// Starts (or finds running) the embedded cluster.
pub async fn start_cluster(settings: &DatabaseSettings) -> anyhow::Result<LocalCluster> {
    let config = ClusterConfig {
        data_dir: settings.data_dir.clone(),
        pg_bin: settings.pg_bin.clone(),
        database: settings.name.clone(),
        port: None,
    };
    tracing::info!(data_dir = %config.data_dir.display(), "using the embedded PostgreSQL cluster (no DATABASE_URL set)");
    let cluster = tokio::task::spawn_blocking(move || LocalCluster::start(&config))
        .await
        .context("starting the embedded cluster")?
        .context("cannot start the embedded PostgreSQL cluster")?;
    Ok(cluster)
}
