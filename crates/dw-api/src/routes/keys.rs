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
pub(crate) struct NewKey {
    name: String,
    role: Role,
}

/// A new key with its secret, shown this once.
#[derive(Debug, Serialize)]
pub(crate) struct CreatedKeyBody {
    key: ApiKey,
    secret: String,
}

pub(crate) async fn list(State(state): State<ApiState>, caller: Caller) -> Result<Json<Vec<ApiKey>>, ApiError> {
    caller.require(&[Role::Admin])?;
    Ok(Json(state.app().list_keys().await?))
}

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

pub(crate) async fn revoke(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    caller.require(&[Role::Admin])?;
    Ok(Json(state.app().revoke_key(&id, &caller.actor()).await?))
}
