//! The allowlist: `GET /v1/allowlist` (analysts read it), `POST
//! /v1/allowlist` and `DELETE /v1/allowlist/{account_id}` (admins manage it).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use dw_app::Allowed;
use dw_domain::Role;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::auth::Caller;
use crate::{ApiError, ApiState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Also entries past their expiry.
    #[serde(default)]
    expired: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct AllowlistBody {
    accounts: Vec<Allowed>,
}

/// `POST /v1/allowlist` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewEntry {
    account_id: String,
    reason: String,
    /// RFC 3339; absent: until removed.
    expires_at: Option<String>,
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AllowlistBody>, ApiError> {
    caller.require(&[Role::Analyst])?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    Ok(Json(AllowlistBody { accounts: state.app().allowlist(q.expired).await? }))
}

pub(crate) async fn add(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<NewEntry>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Allowed>), ApiError> {
    caller.require(&[Role::Admin])?;
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let expires_at = body
        .expires_at
        .as_deref()
        .map(|t| {
            OffsetDateTime::parse(t, &Rfc3339).map_err(|e| {
                ApiError::BadRequest(format!(
                    "expires_at: expected an RFC 3339 timestamp such as 2027-01-01T00:00:00Z: {e}"
                ))
            })
        })
        .transpose()?;
    let entry = state.app().allow_account(&body.account_id, &body.reason, expires_at, &caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

pub(crate) async fn remove(
    State(state): State<ApiState>,
    caller: Caller,
    Path(account_id): Path<String>,
) -> Result<Json<Allowed>, ApiError> {
    caller.require(&[Role::Admin])?;
    Ok(Json(state.app().disallow_account(&account_id, &caller.actor()).await?))
}
