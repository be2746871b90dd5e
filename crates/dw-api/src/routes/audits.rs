//! Audit jobs: `POST /v1/audits` queues one, `GET /v1/audits/{id}` follows it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::params::instant;
use crate::auth::Analyst;
use crate::extract::JsonBody;
use crate::{ApiError, ApiState};

/// `POST /v1/audits` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub(crate) struct NewAudit {
    /// Window start, RFC 3339 (inclusive).
    from: String,
    /// Window end, RFC 3339 (exclusive).
    to: String,
    /// Only these accounts (a tip-off).
    #[serde(default)]
    accounts: Option<Vec<String>>,
    /// Only requests to this model.
    #[serde(default)]
    model: Option<String>,
    /// Score without opening, updating or reopening flags.
    #[serde(default)]
    dry_run: bool,
}

/// What a job is doing: its stage, and what the stage counts.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes the progress object in the OpenAPI; never built
pub(crate) struct Progress {
    /// Absent while queued; then `claimed`, `scoring`, `publishing`, `done`
    /// (audits: a failed one keeps the stage it failed in), or `claimed`,
    /// the run's kind, `done`, `failed` (reference runs).
    stage: Option<String>,
    /// Accounts being published (audits, when publishing).
    accounts: Option<u64>,
    /// Whether a reference run compares by meaning (with embeddings).
    by_meaning: Option<bool>,
}

/// An audit as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AuditBody {
    id: i64,
    state: dw_domain::JobState,
    #[serde(with = "time::serde::rfc3339")]
    from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    to: OffsetDateTime,
    accounts: Option<Vec<String>>,
    model: Option<String>,
    dry_run: bool,
    requested_by: String,
    attempts: i32,
    #[schema(value_type = Progress)]
    progress: serde_json::Value,
    /// What it did, once done (audits published by older versions may lack
    /// the fields added since).
    #[schema(value_type = Option<dw_app::AuditSummary>)]
    summary: Option<serde_json::Value>,
    error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    finished_at: Option<OffsetDateTime>,
}

impl From<dw_app::Audit> for AuditBody {
    fn from(a: dw_app::Audit) -> Self {
        AuditBody {
            id: a.id,
            state: a.state,
            from: a.spec.from,
            to: a.spec.to,
            accounts: a.spec.accounts,
            model: a.spec.model,
            dry_run: a.spec.dry_run,
            requested_by: a.spec.requested_by,
            attempts: a.attempts,
            progress: a.progress,
            summary: a.summary,
            error: a.error,
            created_at: a.created_at,
            started_at: a.started_at,
            finished_at: a.finished_at,
        }
    }
}

#[utoipa::path(post, operation_id = "audits_create", path = "/v1/audits", tag = "audits", summary = "Queue an audit of a window", request_body = NewAudit, responses((status = 202, description = "queued", body = AuditBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    Analyst(caller): Analyst,
    JsonBody(body): JsonBody<NewAudit>,
) -> Result<(StatusCode, Json<AuditBody>), ApiError> {
    let key = &caller.0;
    let from = instant("from", &body.from)?;
    let to = instant("to", &body.to)?;
    if from >= to {
        return Err(ApiError::BadRequest("to: must be after from".into()));
    }
    if body.accounts.as_ref().is_some_and(|a| a.is_empty() || a.iter().any(|id| id.trim().is_empty())) {
        return Err(ApiError::BadRequest("accounts: give at least one account id, none empty, or leave it out".into()));
    }
    let spec = dw_app::AuditSpec {
        from,
        to,
        accounts: body.accounts,
        model: body.model,
        dry_run: body.dry_run,
        requested_by: format!("api:{}", key.prefix),
    };
    let id = state.app().queue_audit_for(&spec, &caller.actor()).await?;
    let audit = state.app().get_audit(id).await?.ok_or_else(|| ApiError::NotFound(format!("audit {id}")))?;
    Ok((StatusCode::ACCEPTED, Json(audit.into())))
}

#[utoipa::path(get, operation_id = "audits_get", path = "/v1/audits/{id}", tag = "audits", summary = "An audit's state, progress and summary", params(("id" = i64, Path, description = "audit id")), responses((status = 200, description = "the audit", body = AuditBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    _: Analyst,
    Path(id): Path<String>,
) -> Result<Json<AuditBody>, ApiError> {
    let parsed: i64 = id.parse().map_err(|_| ApiError::NotFound(format!("audit {id:?}")))?;
    let audit = state.app().get_audit(parsed).await?.ok_or_else(|| ApiError::NotFound(format!("audit {id}")))?;
    Ok(Json(audit.into()))
}
