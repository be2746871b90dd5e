//! The distillwatch HTTP API.
//!
//! [`router`] builds the whole axum application over an [`ApiState`]. Requests
//! pass, outermost first: a request id (`x-request-id`, generated when absent
//! and echoed on every response), a tracing span carrying that id, panic
//! catching, HTTP metrics, then the route. Every route is declared once, in
//! one table (`table.rs`, [`routes`]): its method, path, who may call it
//! ([`Access`]) and handler; the router is built from it and the role test
//! walks it. Handlers take a role gate ([`auth::Ingest`], [`auth::Analyst`],
//! [`auth::Admin`], or [`auth::Caller`] for any key) and request extractors
//! whose rejections are the API's own 400s (`extract.rs`), and return
//! [`ApiError`] on failure, which is mapped to a status code in exactly one
//! place (`error.rs`).
//!
//! Routes:
//! - `GET /healthz` (process up), `GET /readyz` (database reachable), `GET /metrics`,
//!   `GET /openapi.json` (this API's OpenAPI 3.1 description), `GET /docs` (its interactive reference): no key;
//! - `POST /v1/events`: `ingest` keys;
//! - `GET /v1/schema/event`: any key;
//! - `GET /v1/ingests`, `POST /v1/audits`, `GET /v1/audits/{id}`: `analyst` keys;
//! - `GET /v1/accounts`, `GET /v1/accounts/{id}`, `.../events`, `.../timeline`,
//!   `GET /v1/clusters`, `GET /v1/clusters/{id}`,
//!   `GET /v1/flags`, `GET|PATCH /v1/flags/{id}`, `GET /v1/allowlist`: `analyst` keys;
//! - `GET|POST /v1/keys`, `DELETE /v1/keys/{id}`, `GET /v1/audit-log`,
//!   `POST /v1/allowlist`, `DELETE /v1/allowlist/{account_id}`: `admin` keys.

pub mod auth;
mod console;
mod error;
mod extract;
mod http_metrics;
pub mod openapi;
mod routes;
mod slots;
mod table;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Request};
use dw_app::App;
use dw_ingest::Limits;
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use console::ConsoleConfig;
pub use error::ApiError;
pub use http_metrics::{PrometheusHandle, prometheus_handle};
pub use table::{Access, Budget, Deadlines, Route, Via, routes};

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Size limits for events and bodies.
    pub limits: Limits,
    /// Ingest batches processed at once; more are answered 429.
    pub max_concurrent_ingests: usize,
    /// Of those, at most this many from one key (429 past it).
    pub max_concurrent_per_key: usize,
    /// How long `/readyz` waits for the database.
    pub readiness_timeout: Duration,
    /// How long an ingest body may take to arrive, once its ingest slot is
    /// taken: a slow sender cannot hold a slot past it (408).
    pub body_read_timeout: Duration,
    /// The timestamps ingest accepts around now; `None` takes any (1970..=2200).
    pub timestamps: Option<dw_ingest::TimestampPolicy>,
    /// How long each route may take, whole.
    pub deadlines: Deadlines,
    /// Whether `/metrics` is served with the API; `false` when it has an
    /// address of its own ([`metrics_router`]).
    pub metrics_on_api: bool,
    /// The analyst console's sessions and sign-in limits.
    pub console: ConsoleConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            max_concurrent_ingests: 8,
            max_concurrent_per_key: 4,
            readiness_timeout: Duration::from_secs(2),
            body_read_timeout: Duration::from_secs(30),
            timestamps: Some(dw_ingest::TimestampPolicy::default()),
            deadlines: Deadlines::default(),
            metrics_on_api: true,
            console: ConsoleConfig::default(),
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    app: App,
    config: Arc<ApiConfig>,
    ingest_slots: Arc<slots::IngestSlots>,
    metrics: PrometheusHandle,
    sign_ins: Arc<console::SignInLimiter>,
}

impl ApiState {
    /// State over the use cases.
    pub fn new(app: App, config: ApiConfig) -> Self {
        let slots = config.max_concurrent_ingests.max(1);
        let per_key = config.max_concurrent_per_key;
        Self {
            app,
            config: Arc::new(config),
            ingest_slots: slots::IngestSlots::new(slots, per_key),
            metrics: prometheus_handle(),
            sign_ins: Arc::default(),
        }
    }

    /// The use cases.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The limits an ingest body is read under: the configured ones, with
    /// the timestamp window taken around now, when the body arrives.
    pub(crate) fn ingest_limits(&self) -> Limits {
        Limits { timestamps: self.config.timestamps.map(|policy| policy.window()), ..self.config.limits }
    }
}

/// `/metrics` alone, for an address of its own (`server.metrics_bind`):
/// scrapers then need no route to the API, and the API's port does not
/// show the service's figures to whoever reaches it.
pub fn metrics_router(state: ApiState) -> Router {
    Router::new().route(table::METRICS_PATH, axum::routing::get(routes::health::metrics)).with_state(state)
}

/// The whole HTTP application.
pub fn router(state: ApiState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(table::router(state.config.deadlines, |route| {
            state.config.metrics_on_api || route.path != table::METRICS_PATH
        }))
        .layer(axum::middleware::from_fn(http_metrics::track))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                        request_id = %id,
                        key_id = tracing::field::Empty,
                    )
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO).latency_unit(LatencyUnit::Millis)),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(SetSensitiveRequestHeadersLayer::new([axum::http::header::AUTHORIZATION]))
        .with_state(state)
}
