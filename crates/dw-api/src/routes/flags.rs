//! Flags, the cases analysts work: `GET /v1/flags` (filtered, paged),
//! `GET /v1/flags/{id}` (with its evidence and history), `PATCH
//! /v1/flags/{id}` (status, assignee, note); and `GET /v1/audit-log`
//! (admins) where every change is on record.

use axum::Json;
use axum::extract::{Path, State};
use dw_app::{FlagChange, FlagFilter};
use dw_domain::{CaseAction, FlagStatus, RiskLevel, SubjectKind};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

use super::params::{cursor, page_size};
use crate::auth::{Admin, Analyst};
use crate::extract::{JsonBody, QueryParams};
use crate::{ApiError, ApiState};

/// `GET /v1/flags` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FlagQuery {
    status: Option<String>,
    level: Option<String>,
    assignee: Option<String>,
    kind: Option<String>,
    /// Only flags opened at least this many hours ago.
    older_than_hours: Option<f64>,
    limit: Option<i64>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

/// A flag in a listing: no evidence bundle (read one flag for it).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct FlagSummary {
    id: i64,
    kind: SubjectKind,
    subject: String,
    status: FlagStatus,
    assignee: Option<String>,
    risk: f64,
    level: RiskLevel,
    fired: Vec<String>,
    reason: String,
    #[serde(with = "time::serde::rfc3339")]
    opened_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    /// Seconds since it was opened.
    age_seconds: i64,
    first_audit_id: i64,
    last_audit_id: i64,
}

impl From<&dw_app::Flag> for FlagSummary {
    fn from(f: &dw_app::Flag) -> Self {
        FlagSummary {
            id: f.id,
            kind: f.subject_kind,
            subject: f.subject_id.clone(),
            status: f.status,
            assignee: f.assignee.clone(),
            risk: f.risk,
            level: f.level,
            fired: f.fired.clone(),
            reason: f.reason.clone(),
            opened_at: f.opened_at,
            updated_at: f.updated_at,
            age_seconds: (OffsetDateTime::now_utc() - f.opened_at).whole_seconds().max(0),
            first_audit_id: f.first_audit_id,
            last_audit_id: f.last_audit_id,
        }
    }
}

/// A page of flags.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct FlagPage {
    flags: Vec<FlagSummary>,
    /// The cursor of the next page; absent on the last.
    next: Option<String>,
}

/// One flag with everything behind it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct FlagBody {
    #[serde(flatten)]
    summary: FlagSummary,
    #[serde(with = "time::serde::rfc3339::option")]
    decided_at: Option<OffsetDateTime>,
    decided_by: Option<String>,
    decision_note: Option<String>,
    dismissed_risk: Option<f64>,
    reopened_because: Option<String>,
    /// Where an analyst can take it from here.
    next_statuses: &'static [FlagStatus],
    /// The evidence bundle of the latest audit that flagged it: for an
    /// account, its score and every signal (value, counts, example events,
    /// percentile, weight, contribution), its link and operator, its
    /// riskiest end user and request stream, its activity; for a cluster,
    /// its members and what joined them (docs/signals.md). Once retention
    /// has expired its quoted prompts, it also says when
    /// (`excerpts_expired`).
    #[schema(value_type = dw_app::FlagEvidence)]
    evidence: serde_json::Value,
    history: Vec<HistoryBody>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct HistoryBody {
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    action: CaseAction,
    audit_id: Option<i64>,
    risk: Option<f64>,
    actor: Option<String>,
    note: Option<String>,
}

fn flag_body(flag: dw_app::Flag, history: Vec<dw_app::HistoryEntry>) -> FlagBody {
    let next_statuses = flag.status.next();
    FlagBody {
        summary: FlagSummary::from(&flag),
        decided_at: flag.decided_at,
        decided_by: flag.decided_by,
        decision_note: flag.decision_note,
        dismissed_risk: flag.dismissed_risk,
        reopened_because: flag.reopened_because,
        next_statuses,
        evidence: flag.evidence,
        history: history
            .into_iter()
            .map(|h| HistoryBody {
                at: h.at,
                action: h.action,
                audit_id: h.audit_id,
                risk: h.risk,
                actor: h.actor,
                note: h.note,
            })
            .collect(),
    }
}

/// A status named in a query or a body; the error lists the statuses.
fn status_named(name: &str) -> Result<FlagStatus, ApiError> {
    name.parse().map_err(|_| {
        let names: Vec<&str> = FlagStatus::ALL.iter().map(|s| s.as_str()).collect();
        ApiError::BadRequest(format!("status: {name:?} is not one of {}", names.join(", ")))
    })
}

/// A flag id from the path; anything else names no flag.
fn flag_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound(format!("flag {id:?}")))
}

#[utoipa::path(get, operation_id = "flags_list", path = "/v1/flags", tag = "flags", summary = "Flags, riskiest first, filtered and paged", params(FlagQuery), responses((status = 200, description = "a page of flags", body = FlagPage), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    _: Analyst,
    QueryParams(q): QueryParams<FlagQuery>,
) -> Result<Json<FlagPage>, ApiError> {
    let status = q.status.as_deref().map(status_named).transpose()?;
    let level = super::params::level(q.level.as_deref())?;
    let subject_kind = q
        .kind
        .as_deref()
        .map(|kind| {
            kind.parse::<SubjectKind>()
                .map_err(|_| ApiError::BadRequest(format!("kind: {kind:?} is not account or cluster")))
        })
        .transpose()?;
    let after = q.cursor.as_deref().map(cursor::<f64, i64>).transpose()?;
    let limit = page_size(q.limit)?;
    let opened_before = match q.older_than_hours {
        None => None,
        Some(h) if h.is_finite() && (0.0..=24.0 * 3650.0).contains(&h) => {
            Some(OffsetDateTime::now_utc() - time::Duration::seconds_f64(h * 3600.0))
        }
        Some(h) => return Err(ApiError::BadRequest(format!("older_than_hours: {h} is not between 0 and 87600"))),
    };
    let filter = FlagFilter {
        status,
        level,
        assignee: q.assignee.as_deref(),
        subject_kind,
        opened_before,
        after,
        limit: limit + 1,
    };
    let mut flags = state.app().find_flags(&filter).await?;
    let next = (flags.len() as i64 > limit).then(|| {
        flags.truncate(limit as usize);
        let last = flags.last().expect("a full page");
        format!("{}:{}", last.risk, last.id)
    });
    Ok(Json(FlagPage { flags: flags.iter().map(FlagSummary::from).collect(), next }))
}

#[utoipa::path(get, operation_id = "flags_get", path = "/v1/flags/{id}", tag = "flags", summary = "A flag with its evidence, history and next statuses", params(("id" = i64, Path, description = "flag id")), responses((status = 200, description = "the flag", body = FlagBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    Analyst(caller): Analyst,
    Path(id): Path<String>,
) -> Result<Json<FlagBody>, ApiError> {
    let parsed = flag_id(&id)?;
    let (flag, history) = state
        .app()
        .read_flag(parsed, &caller.actor())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("flag {id}")))?;
    Ok(Json(flag_body(flag, history)))
}

/// `PATCH /v1/flags/{id}` body: any of the three.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub(crate) struct FlagPatch {
    status: Option<String>,
    /// A name, or `null` to unassign; absent leaves it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    assignee: Option<Option<String>>,
    note: Option<String>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[utoipa::path(patch, operation_id = "flags_patch", path = "/v1/flags/{id}", tag = "flags", summary = "Move a flag along the workflow, assign it, annotate it", params(("id" = i64, Path, description = "flag id")), request_body = FlagPatch, responses((status = 200, description = "the flag after the change", body = FlagBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody), (status = 409, description = "a move the workflow does not allow; the message names the allowed ones", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn patch(
    State(state): State<ApiState>,
    Analyst(caller): Analyst,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<FlagPatch>,
) -> Result<Json<FlagBody>, ApiError> {
    let parsed = flag_id(&id)?;
    let status = body.status.as_deref().map(status_named).transpose()?;
    let change = FlagChange { status, assignee: body.assignee, note: body.note };
    let (flag, history) = state.app().change_flag(parsed, &change, &caller.actor()).await?;
    Ok(Json(flag_body(flag, history)))
}

/// `GET /v1/flags/{id}/export` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExportQuery {
    /// `json` (default), `csv` or `html`.
    format: Option<String>,
}

/// A flag's case file, as an attachment (`case-<id>.<format>`).
#[utoipa::path(get, operation_id = "flags_export", path = "/v1/flags/{id}/export", tag = "flags", summary = "A flag's case file (JSON, CSV or HTML), as an attachment", params(("id" = i64, Path, description = "flag id"), ExportQuery), responses((status = 200, description = "the case file", body = String), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn export(
    State(state): State<ApiState>,
    Analyst(caller): Analyst,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<ExportQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let format = match q.format.as_deref() {
        None => dw_app::CaseFormat::Json,
        Some(name) => dw_app::CaseFormat::parse(name)
            .ok_or_else(|| ApiError::BadRequest(format!("format: {name:?} is not json, csv or html")))?,
    };
    let parsed = flag_id(&id)?;
    let case = state.app().case_file(parsed, format, &caller.actor()).await?;
    let disposition = format!("attachment; filename=\"case-{parsed}.{}\"", format.extension());
    let mut response = (
        [
            (header::CONTENT_TYPE, format.media_type().to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        case.render(format),
    )
        .into_response();
    if format == dw_app::CaseFormat::Html {
        // The page's own policy (its style by hash, nothing else), and never inside a frame.
        let policy = format!("{}; frame-ancestors 'none'", dw_app::case_file_content_security_policy());
        if let Ok(value) = header::HeaderValue::from_str(&policy) {
            response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    Ok(response)
}

/// `GET /v1/audit-log` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogQuery {
    /// Entries after this id.
    after: Option<i64>,
    /// Only about this target (`flag:12`, `key:<id>`).
    target: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct LogEntryBody {
    id: i64,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    actor: String,
    role: String,
    action: String,
    target: String,
    /// The target as it was (its fields, as the action's own record has
    /// them), when it existed.
    #[schema(value_type = Option<Object>)]
    before: Option<serde_json::Value>,
    /// The target as it became, when it still exists.
    #[schema(value_type = Option<Object>)]
    after: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct LogPage {
    entries: Vec<LogEntryBody>,
    /// `after` for the next page; absent on the last.
    next_after: Option<i64>,
}

#[utoipa::path(get, operation_id = "flags_audit_log", path = "/v1/audit-log", tag = "audit log", summary = "Every analyst's and admin's action, oldest first, paged", params(LogQuery), responses((status = 200, description = "a page of entries", body = LogPage), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn audit_log(
    State(state): State<ApiState>,
    _: Admin,
    QueryParams(q): QueryParams<LogQuery>,
) -> Result<Json<LogPage>, ApiError> {
    let limit = page_size(q.limit)?;
    let mut entries = state.app().audit_log(q.after, q.target.as_deref(), limit + 1).await?;
    let next_after = (entries.len() as i64 > limit).then(|| {
        entries.truncate(limit as usize);
        entries.last().expect("a full page").id
    });
    let entries = entries
        .into_iter()
        .map(|e| LogEntryBody {
            id: e.id,
            at: e.at,
            actor: e.actor,
            role: e.role,
            action: e.action,
            target: e.target,
            before: e.before,
            after: e.after,
        })
        .collect();
    Ok(Json(LogPage { entries, next_after }))
}
