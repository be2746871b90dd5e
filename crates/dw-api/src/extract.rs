//! Request extractors whose rejections are the API's own errors: a body, a
//! query or a path parameter that does not parse is a 400 that names what
//! is wrong, in the one error format (`error.rs`), before the handler runs.
//! Put them after the role gate ([`crate::auth`]) in a handler's arguments:
//! a caller without the role hears 403 whatever it sent.

use axum::extract::{FromRequest, FromRequestParts, Json, Path, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A JSON body (`Content-Type: application/json`).
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<T>::from_request(req, state).await.map_err(|e| ApiError::BadRequest(e.body_text()))?;
        Ok(Self(value))
    }
}

/// The query string's parameters.
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(value) =
            Query::<T>::from_request_parts(parts, state).await.map_err(|e| ApiError::BadRequest(e.body_text()))?;
        Ok(Self(value))
    }
}

/// A numeric `{id}` path parameter.
#[derive(Debug, Clone, Copy)]
pub struct NumericId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for NumericId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<i64>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("id: {}", e.body_text())))?;
        Ok(Self(id))
    }
}
