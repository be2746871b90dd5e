//! `distillwatch serve`: the HTTP API with graceful shutdown.

use std::future::Future;

use anyhow::Context as _;
use std::time::Duration;

use dw_api::{ApiConfig, ApiState};
use dw_app::App;
use dw_ingest::Limits;
use tokio::net::TcpListener;

use crate::settings::Settings;

/// The API configuration the settings describe.
pub fn api_config(settings: &Settings) -> ApiConfig {
    ApiConfig {
        limits: Limits {
            max_event_bytes: settings.ingest.max_event_bytes,
            max_body_bytes: settings.ingest.max_body_bytes,
            max_items: settings.ingest.max_items_per_body,
            max_listed_errors: settings.ingest.max_listed_errors,
            timestamps: None,
        },
        max_concurrent_ingests: settings.ingest.max_concurrent_requests,
        max_concurrent_per_key: settings.ingest.max_concurrent_per_key,
        readiness_timeout: Duration::from_secs(2),
        body_read_timeout: Duration::from_secs(settings.ingest.body_read_timeout_seconds),
        timestamps: Some(settings.ingest.timestamp_policy()),
        metrics_on_api: settings.server.metrics_bind.is_none(),
        console: dw_api::ConsoleConfig {
            sessions: dw_app::SessionPolicy {
                idle: Duration::from_secs(settings.console.session_idle_minutes * 60),
                lifetime: Duration::from_secs(settings.console.session_hours * 3600),
            },
            secure_cookies: settings.server.tls_cert.is_some(),
            sign_in_per_minute: settings.console.sign_in_attempts_per_minute,
        },
        deadlines: dw_api::Deadlines {
            request: Duration::from_secs(settings.server.request_timeout_seconds),
            upload: Duration::from_secs(settings.server.upload_timeout_seconds),
        },
    }
}

/// Serves the API on `listener` until `shutdown` resolves, then stops taking
/// connections and lets in-flight requests (an ingest batch mid-transaction
/// included) finish, for at most `server.shutdown_grace_seconds`. With
/// `server.tls_cert` and `server.tls_key` set, every connection is HTTPS.
pub async fn run(
    listener: TcpListener,
    app: App,
    settings: &Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // A certificate that cannot be used stops `serve` before anything starts.
    let tls = tls_config(settings)?;
    let addr = listener.local_addr()?;
    if tls.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "serving plain HTTP on a non-loopback address: API keys travel in clear \
             (set server.tls_cert and server.tls_key, or terminate TLS in front)"
        );
    }
    let retention = spawn_retention(app.clone(), settings);
    let audits = spawn_audit_workers(app.clone(), settings);
    let webhooks = spawn_webhook_sender(app.clone(), settings)?;
    // Requests are answered over connections whose statements time out;
    // the background jobs above keep the pool without a limit.
    let api_app = match settings.database.statement_timeout_seconds {
        0 => app,
        seconds => {
            let options = (*app.pool().connect_options())
                .clone()
                .options([("statement_timeout", format!("{}", seconds.saturating_mul(1000)))]);
            let pool = dw_store::connect(options, settings.database.max_connections)
                .await
                .context("cannot connect to PostgreSQL for requests")?;
            app.with_pool(pool)
        }
    };
    let state = ApiState::new(api_app, api_config(settings));
    let grace = Duration::from_secs(settings.server.shutdown_grace_seconds);
    let limits = ConnectionLimits {
        max_connections: settings.server.max_connections,
        header_read_timeout: Duration::from_secs(settings.server.header_read_timeout_seconds),
    };
    let metrics = match settings.server.metrics_bind {
        Some(bind) => {
            let listener = TcpListener::bind(bind)
                .await
                .with_context(|| format!("server.metrics_bind: cannot listen on {bind}"))?;
            let addr = listener.local_addr()?;
            // Tests and scripts read this line to find the port.
            println!("distillwatch metrics on http://{addr}/metrics");
            tracing::info!(%addr, "metrics listening");
            let router = dw_api::metrics_router(state.clone());
            Some(tokio::spawn(serve_connections(listener, router, limits, std::future::pending(), grace)))
        }
        None => None,
    };
    let router = dw_api::router(state);
    let served = match tls {
        Some(config) => {
            let listener = crate::tls::TlsListener::new(listener, config, crate::tls::HANDSHAKE_TIMEOUT)?;
            serve_on(listener, "https", router, limits, shutdown, grace).await
        }
        None => serve_on(listener, "http", router, limits, shutdown, grace).await,
    };
    if let Some(task) = retention {
        task.abort();
    }
    for task in audits {
        task.abort();
    }
    if let Some(task) = webhooks {
        task.abort();
    }
    if let Some(task) = metrics {
        task.abort();
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// The server's TLS configuration, when both files are set; one without the
/// other is an error naming the missing setting.
fn tls_config(settings: &Settings) -> anyhow::Result<Option<std::sync::Arc<rustls::ServerConfig>>> {
    match (&settings.server.tls_cert, &settings.server.tls_key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => crate::tls::server_config(cert, key).map(Some),
        (Some(_), None) => anyhow::bail!("server.tls_cert is set but server.tls_key is not: set both, or neither"),
        (None, Some(_)) => anyhow::bail!("server.tls_key is set but server.tls_cert is not: set both, or neither"),
    }
}

/// What bounds the connections `serve` holds.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections open at once; past it, new ones wait in the listen queue
    /// (`server.max_connections`).
    pub max_connections: usize,
    /// How long a connection may take to send a request's headers, or stay
    /// idle between requests, before it is closed
    /// (`server.header_read_timeout_seconds`).
    pub header_read_timeout: Duration,
}

/// HTTP/2 connections are pinged this often when idle...
const H2_PING_INTERVAL: Duration = Duration::from_secs(30);

/// ... and closed when a ping is not answered within this.
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// The server loop on `listener`, announced on stdout, with the graceful stop
/// of [`run`].
async fn serve_on<L>(
    listener: L,
    scheme: &str,
    router: axum::Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> anyhow::Result<()>
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
{
    let addr = listener.local_addr()?;
    // Tests and scripts read this line to find the port.
    println!("distillwatch listening on {scheme}://{addr}");
    tracing::info!(%addr, scheme, "listening");
    serve_connections(listener, router, limits, shutdown, grace).await
}

/// Accepts connections on `listener` while fewer than `max_connections` are
/// open, and serves each (HTTP/1.1, with upgrades, or HTTP/2) with a header
/// read timeout that also bounds idle keep-alive time, and HTTP/2 pings that
/// close dead peers. When `shutdown` completes: stops accepting, lets each
/// connection finish its requests in flight, and waits at most `grace` for
/// them. (axum's own loop takes no such limits: a connection may idle, or
/// trickle its headers, for ever.)
async fn serve_connections<L>(
    mut listener: L,
    router: axum::Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> anyhow::Result<()>
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
{
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit?,
            () = &mut shutdown => break,
        };
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        // The peer's address, for what is limited per client (console sign-ins).
        let service = TowerToHyperService::new(router.clone().layer(axum::Extension(axum::extract::ConnectInfo(peer))));
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
            builder
                .http2()
                .timer(TokioTimer::new())
                .keep_alive_interval(Some(H2_PING_INTERVAL))
                .keep_alive_timeout(H2_PING_TIMEOUT)
                .enable_connect_protocol();
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(permit);
        });
    }
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop_tx.send(true);
    // Every connection is done when every slot is back.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, slots.acquire_many(all)).await.is_err() {
        tracing::warn!(grace_seconds = grace.as_secs(), "in-flight requests did not finish in time; stopping anyway");
    }
    Ok(())
}

/// The webhook sender, when endpoints are configured: sends what is due,
/// then looks again at once while there was work, else after the poll interval.
fn spawn_webhook_sender(app: App, settings: &Settings) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if settings.webhooks.endpoints.is_empty() {
        return Ok(None);
    }
    let poll = Duration::from_secs_f64(settings.webhooks.poll_seconds);
    // A CA file that cannot be read stops `serve` at start, naming it.
    let client = dw_app::webhook_client(settings.webhooks.ca_file.as_deref())?;
    Ok(Some(tokio::spawn(async move {
        loop {
            match app.deliver_webhooks(&client).await {
                Ok(round) if round.attempted > 0 => {
                    tracing::info!(?round, "webhooks sent");
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "webhook delivery round failed"),
            }
            tokio::time::sleep(poll).await;
        }
    })))
}

fn spawn_retention(app: App, settings: &Settings) -> Option<tokio::task::JoinHandle<()>> {
    let days = settings.retention.days?;
    let every = Duration::from_secs(settings.retention.check_interval_minutes * 60);
    tracing::info!(days, "retention on: dropping event partitions older than the window");
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        loop {
            ticker.tick().await;
            if let Err(e) = app.apply_retention(time::OffsetDateTime::now_utc()).await {
                tracing::error!(error = %e, "retention failed");
            }
        }
    }))
}

/// The audit workers (each claims queued audits, then queued attribution and
/// distillation-test runs, one at a time) and, when
/// configured, the schedule that queues an audit of the last days every few
/// hours. Several `serve` processes may share one database: claims skip
/// locked rows, and the schedule queues only when no scheduled audit was
/// queued within the period.
fn spawn_audit_workers(app: App, settings: &Settings) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let poll = Duration::from_secs(settings.audit.poll_seconds);
    let process = uuid::Uuid::new_v4().simple().to_string();
    for n in 0..settings.audit.workers {
        let app = app.clone();
        // Unique per process: in containers every process is PID 1, and a
        // worker id shared by two replicas would let one renew the other's lease.
        let worker = format!("serve-{process}-{n}");
        tasks.push(tokio::spawn(async move {
            loop {
                // Audits first (flags wait on them), then attribution and distillation-test runs.
                match app.run_next_job(&worker).await {
                    Ok(Some(_)) => continue,
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, worker, "job failed"),
                }
                tokio::time::sleep(poll).await;
            }
        }));
    }
    if settings.audit.schedule_every_hours > 0 {
        let every = time::Duration::hours(i64::from(settings.audit.schedule_every_hours));
        let days = time::Duration::days(i64::from(settings.audit.schedule_days));
        tracing::info!(
            every_hours = settings.audit.schedule_every_hours,
            days = settings.audit.schedule_days,
            "audit schedule on"
        );
        tasks.push(tokio::spawn(async move {
            loop {
                match app.schedule_audit(time::OffsetDateTime::now_utc(), every, days).await {
                    Ok(Some(id)) => tracing::info!(audit_id = id, "scheduled audit queued"),
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "scheduling an audit failed"),
                }
                tokio::time::sleep(poll.max(Duration::from_secs(60))).await;
            }
        }));
    }
    tasks
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when
/// this is called, not when the future is first polled: a SIGTERM that
/// arrives just after the service says it listens is a graceful stop, not
/// the default death by signal.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (terminate, interrupt) {
                (Ok(mut terminate), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = terminate.recv() => {},
                        _ = interrupt.recv() => {},
                    }
                }
                _ => {
                    tracing::warn!("cannot install the SIGTERM and SIGINT handlers; stopping on Ctrl-C only");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async move {
        let _ = tokio::signal::ctrl_c().await;
    }
}
