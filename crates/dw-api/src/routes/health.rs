//! Liveness, readiness and metrics: no key needed.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;

use crate::ApiState;

/// `GET /healthz`: always `{"status": "ok"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct HealthBody {
    #[schema(example = "ok")]
    status: &'static str,
}

/// `GET /readyz` (fields in the order they are written).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReadyBody {
    /// `ok`, `error` (it answered with an error) or `timeout`.
    database: &'static str,
    embedding: EmbeddingBody,
    /// `ready` or `unavailable`.
    status: &'static str,
}

/// The embedding engine: loaded before the service listens, so either there
/// (with the model it runs) or off.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EmbeddingBody {
    /// The model it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    /// Texts waiting to be embedded.
    #[serde(skip_serializing_if = "Option::is_none")]
    queued: Option<usize>,
    /// `ready` or `off`.
    state: &'static str,
}

/// The process is up and serving.
#[utoipa::path(get, operation_id = "health_healthz", path = "/healthz", tag = "service", summary = "The process is up", responses((status = 200, description = "up", body = HealthBody)))]
pub(crate) async fn healthz() -> impl IntoResponse {
    Json(HealthBody { status: "ok" })
}

/// The database answers within the readiness timeout.
#[utoipa::path(get, operation_id = "health_readyz", path = "/readyz", tag = "service", summary = "The database answers; whether the embedding engine runs, and its model", responses((status = 200, description = "ready", body = ReadyBody), (status = 503, description = "the database does not answer", body = ReadyBody)))]
pub(crate) async fn readyz(State(state): State<ApiState>) -> impl IntoResponse {
    let check = tokio::time::timeout(state.config.readiness_timeout, state.app().ready()).await;
    // The embedding engine is loaded before the service listens: it is
    // either there (with the model it runs) or off.
    let embedding = match state.app().embedder() {
        Some(handle) => {
            EmbeddingBody { model: Some(handle.model_id().to_owned()), queued: Some(handle.queued()), state: "ready" }
        }
        None => EmbeddingBody { model: None, queued: None, state: "off" },
    };
    match check {
        Ok(Ok(())) => (StatusCode::OK, Json(ReadyBody { database: "ok", embedding, status: "ready" })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(ReadyBody { database: "error", embedding, status: "unavailable" }))
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            (StatusCode::SERVICE_UNAVAILABLE, Json(ReadyBody { database: "timeout", embedding, status: "unavailable" }))
        }
    }
}

/// Prometheus text exposition. Pool gauges and flag counts are sampled at scrape time.
#[utoipa::path(get, operation_id = "health_metrics", path = "/metrics", tag = "service", summary = "Prometheus metrics", responses((status = 200, description = "Prometheus text", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    let pool = state.app().pool();
    let idle = pool.num_idle() as f64;
    let size = f64::from(pool.size());
    metrics::gauge!("distillwatch_db_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("distillwatch_db_pool_connections", "state" => "in_use").set(size - idle);
    metrics::gauge!("distillwatch_db_pool_max_connections").set(f64::from(pool.options().get_max_connections()));
    let available = state.ingest_slots.available() as f64;
    metrics::gauge!("distillwatch_ingest_slots_available").set(available);
    // Flags by status and level, counted at scrape time (every combination,
    // so a count that falls to zero shows zero); a database that does not
    // answer leaves the last counts and does not fail the scrape.
    match state.app().flag_counts().await {
        Ok(counts) => {
            for &status in dw_domain::FlagStatus::ALL {
                for level in dw_domain::RiskLevel::ALL {
                    let n = counts.iter().find(|(s, l, _)| *s == status && *l == level).map_or(0, |(_, _, n)| *n);
                    metrics::gauge!("distillwatch_flags", "status" => status.as_str(), "level" => level.as_str())
                        .set(n as f64);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "flag counts for /metrics failed"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}
