//! API key management: admins only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dw_domain::{ApiKey, Role};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::{ApiError, ApiState};

/// `POST /v1/keys` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub(crate) struct NewKey {
    name: String,
    #[schema(value_type = String, example = "analyst")]
    role: Role,
}

/// A new key with its secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CreatedKeyBody {
    #[schema(value_type = Object)]
    key: ApiKey,
    secret: String,
}

#[utoipa::path(get, operation_id = "keys_list", path = "/v1/keys", tag = "keys", summary = "Every API key (never its secret)", responses((status = 200, description = "keys", body = Vec<Object>), (status = 401, description = "no key, or a key that is not valid", body = crate::openapi::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::openapi::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list(State(state): State<ApiState>, caller: Caller) -> Result<Json<Vec<ApiKey>>, ApiError> {
    caller.require(&[Role::Admin])?;
    Ok(Json(state.app().list_keys().await?))
}

#[utoipa::path(post, operation_id = "keys_create", path = "/v1/keys", tag = "keys", summary = "Make an API key; its secret is shown once", request_body = NewKey, responses((status = 201, description = "the key and its secret", body = CreatedKeyBody), (status = 401, description = "no key, or a key that is not valid", body = crate::openapi::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::openapi::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::openapi::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<NewKey>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<CreatedKeyBody>), ApiError> {
    caller.require(&[Role::Admin])?;
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let created = state.app().create_key(&body.name, body.role, &caller.actor()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKeyBody { key: created.key, secret: created.secret.expose_secret().to_owned() }),
    ))
}

#[utoipa::path(delete, operation_id = "keys_revoke", path = "/v1/keys/{id}", tag = "keys", summary = "Revoke a key by id or prefix", params(("id" = String, Path, description = "key id or prefix")), responses((status = 200, description = "the revoked key", body = Object), (status = 401, description = "no key, or a key that is not valid", body = crate::openapi::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::openapi::ErrorBody), (status = 404, description = "no such thing", body = crate::openapi::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn revoke(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    caller.require(&[Role::Admin])?;
    Ok(Json(state.app().revoke_key(&id, &caller.actor()).await?))
}
