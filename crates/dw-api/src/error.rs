//! The one place where failures become HTTP statuses.
//!
//! Client mistakes are 4xx with a body saying what was wrong; server failures
//! are logged with their whole error chain (inside the request's span, so with
//! its request id) and answered with a generic 500 or 503 that leaks nothing.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dw_app::{AppError, EmbedError};
use serde_json::json;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No usable credentials.
    #[error("missing or malformed Authorization header: expected `Authorization: Bearer <key>`")]
    MissingKey,
    /// A key that does not exist or was revoked.
    #[error("invalid or revoked API key")]
    InvalidKey,
    /// A valid key without the role the route needs.
    #[error("this API key's role ({role}) may not do this; it needs one of: {needed}")]
    Forbidden {
        /// The caller's role.
        role: String,
        /// Roles that may.
        needed: String,
    },
    /// Malformed request.
    #[error("{0}")]
    BadRequest(String),
    /// A body over the configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// A content type or encoding we do not read.
    #[error("{0}")]
    UnsupportedMedia(String),
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The state changed under the request.
    #[error("{0}")]
    Conflict(String),
    /// Too much work in flight; retry later.
    #[error("{0}")]
    Overloaded(String),
    /// The request (its body) did not arrive in time.
    #[error("{0}")]
    Timeout(String),
    /// The request took longer than its route's budget, or one of its
    /// statements longer than the database's statement timeout.
    #[error("{0}")]
    Deadline(String),
    /// The database is unreachable.
    #[error("database unavailable")]
    Unavailable(#[source] AppError),
    /// A server fault.
    #[error("internal error")]
    Internal(#[source] AppError),
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            AppError::Invalid(why) => ApiError::BadRequest(why),
            AppError::Conflict(why) => ApiError::Conflict(why),
            AppError::Busy(why) => ApiError::Overloaded(why),
            AppError::Embed(EmbedError::Overloaded) => {
                ApiError::Overloaded("the embedding engine is saturated; retry after a short wait".into())
            }
            e if e.is_statement_timeout() => ApiError::Deadline(
                "a database statement of this request ran past database.statement_timeout_seconds: narrow it (a \
                 shorter window, a smaller page) or retry later"
                    .into(),
            ),
            e if e.is_unavailable() => ApiError::Unavailable(e),
            other => ApiError::Internal(other),
        }
    }
}

impl ApiError {
    /// A blocking task that panicked or was cancelled: a fault of the
    /// service, logged with its cause and answered as one (500), never as the
    /// caller's bad input and never with the panic's text.
    pub(crate) fn task_failed(what: &'static str, e: tokio::task::JoinError) -> Self {
        tracing::error!(what, error = %e, "a blocking task failed");
        ApiError::Internal(AppError::Internal(format!("{what} failed")))
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingKey | ApiError::InvalidKey => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Overloaded(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Deadline(_) | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::MissingKey => "missing_key",
            ApiError::InvalidKey => "invalid_key",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMedia(_) => "unsupported_media_type",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Overloaded(_) => "overloaded",
            ApiError::Timeout(_) => "request_timeout",
            ApiError::Deadline(_) => "deadline_exceeded",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

/// The error with its whole `source` chain, for logs.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %chain(&self), status = status.as_u16(), "request failed");
        } else {
            tracing::debug!(error = %self, status = status.as_u16(), "request refused");
        }
        let body = Json(json!({"error": {"code": self.code(), "message": self.to_string()}}));
        let mut response = (status, body).into_response();
        match self {
            ApiError::MissingKey | ApiError::InvalidKey => {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::Overloaded(_) | ApiError::Unavailable(_) | ApiError::Timeout(_) | ApiError::Deadline(_) => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// A panic in a handler: logged, answered with a generic 500.
pub(crate) fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "handler panicked");
    let body = Json(json!({"error": {"code": "internal", "message": "internal error"}}));
    (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
}

/// Every error body: what went wrong, in words, and a stable code.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// See [`ErrorBody`].
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorDetail {
    /// `bad_request`, `missing_key`, `forbidden`, `not_found`, `conflict`, ...
    code: String,
    /// What, and where (the field, the line).
    message: String,
}
