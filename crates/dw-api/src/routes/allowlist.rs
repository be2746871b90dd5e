//! The allowlist: `GET /v1/allowlist` (analysts read it), `POST
//! /v1/allowlist` and `DELETE /v1/allowlist/{account_id}` (admins manage it).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dw_app::Allowed;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::params::optional_instant;
use crate::auth::{Admin, Analyst};
use crate::extract::{JsonBody, QueryParams};
use crate::{ApiError, ApiState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Also entries past their expiry.
    #[serde(default)]
    expired: bool,
}

/// An allowlisted account: scored, never flagged.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AllowedBody {
    account_id: String,
    /// Why it may distill (a licence, a partnership).
    reason: String,
    /// When the entry stops being in force; absent (null): until removed.
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    /// Who added it.
    added_by: String,
    #[serde(with = "time::serde::rfc3339")]
    added_at: OffsetDateTime,
}

impl From<Allowed> for AllowedBody {
    fn from(a: Allowed) -> Self {
        AllowedBody {
            account_id: a.account_id,
            reason: a.reason,
            expires_at: a.expires_at,
            added_by: a.added_by,
            added_at: a.added_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AllowlistBody {
    accounts: Vec<AllowedBody>,
}

/// `POST /v1/allowlist` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub(crate) struct NewEntry {
    account_id: String,
    reason: String,
    /// RFC 3339; absent: until removed.
    expires_at: Option<String>,
}

#[utoipa::path(get, operation_id = "allowlist_list", path = "/v1/allowlist", tag = "allowlist", summary = "Accounts scored but never flagged", params(ListQuery), responses((status = 200, description = "the entries", body = AllowlistBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    _: Analyst,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Json<AllowlistBody>, ApiError> {
    let accounts = state.app().allowlist(q.expired).await?.into_iter().map(AllowedBody::from).collect();
    Ok(Json(AllowlistBody { accounts }))
}

#[utoipa::path(post, operation_id = "allowlist_add", path = "/v1/allowlist", tag = "allowlist", summary = "Allowlist an account with a reason and an expiry", request_body = NewEntry, responses((status = 201, description = "the entry", body = AllowedBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn add(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    JsonBody(body): JsonBody<NewEntry>,
) -> Result<(StatusCode, Json<AllowedBody>), ApiError> {
    let expires_at = optional_instant("expires_at", body.expires_at.as_deref())?;
    let entry = state.app().allow_account(&body.account_id, &body.reason, expires_at, &caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(entry.into())))
}

#[utoipa::path(delete, operation_id = "allowlist_remove", path = "/v1/allowlist/{account_id}", tag = "allowlist", summary = "Take an account off the allowlist", params(("account_id" = String, Path, description = "account id")), responses((status = 200, description = "the entry removed", body = AllowedBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn remove(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Path(account_id): Path<String>,
) -> Result<Json<AllowedBody>, ApiError> {
    Ok(Json(state.app().disallow_account(&account_id, &caller.actor()).await?.into()))
}
