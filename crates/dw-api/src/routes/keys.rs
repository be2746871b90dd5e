//! API key management: admins only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dw_domain::{ApiKey, HistoryLogging, Role};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::auth::Admin;
use crate::extract::JsonBody;
use crate::{ApiError, ApiState};

/// `POST /v1/keys` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub(crate) struct NewKey {
    name: String,
    #[schema(example = "analyst")]
    role: Role,
    /// What the source sending with this key logs of each conversation:
    /// `full` (the default) or `last_message` (a gateway that keeps the last
    /// user message only).
    #[serde(default)]
    #[schema(example = "last_message")]
    history: HistoryLogging,
}

/// `PATCH /v1/keys/{id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyChange {
    /// What the source sending with this key logs of each conversation:
    /// `full` or `last_message`. Events already stored keep theirs.
    #[schema(example = "last_message")]
    history: HistoryLogging,
}

/// A new key with its secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CreatedKeyBody {
    key: ApiKey,
    secret: String,
}

#[utoipa::path(get, operation_id = "keys_list", path = "/v1/keys", tag = "keys", summary = "Every API key (never its secret)", responses((status = 200, description = "keys", body = Vec<ApiKey>), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list(State(state): State<ApiState>, _: Admin) -> Result<Json<Vec<ApiKey>>, ApiError> {
    Ok(Json(state.app().list_keys().await?))
}

#[utoipa::path(post, operation_id = "keys_create", path = "/v1/keys", tag = "keys", summary = "Make an API key; its secret is shown once", request_body = NewKey, responses((status = 201, description = "the key and its secret", body = CreatedKeyBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    JsonBody(body): JsonBody<NewKey>,
) -> Result<(StatusCode, Json<CreatedKeyBody>), ApiError> {
    let created = state.app().create_key_logging(&body.name, body.role, body.history, &caller.actor()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKeyBody { key: created.key, secret: created.secret.expose_secret().to_owned() }),
    ))
}

#[utoipa::path(delete, operation_id = "keys_revoke", path = "/v1/keys/{id}", tag = "keys", summary = "Revoke a key by id or prefix", params(("id" = String, Path, description = "key id or prefix")), responses((status = 200, description = "the revoked key", body = ApiKey), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn revoke(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    Ok(Json(state.app().revoke_key(&id, &caller.actor()).await?))
}

#[utoipa::path(patch, operation_id = "keys_update", path = "/v1/keys/{id}", tag = "keys", summary = "Set what the source sending with a key logs of each conversation", params(("id" = String, Path, description = "key id or prefix")), request_body = KeyChange, responses((status = 200, description = "the key as it now is", body = ApiKey), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn update(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<KeyChange>,
) -> Result<Json<ApiKey>, ApiError> {
    Ok(Json(state.app().set_key_history(&id, body.history, &caller.actor()).await?))
}
