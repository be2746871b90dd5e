//! Errors of the use cases.

use dw_store::StoreError;

/// A use case failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The database failed; not the caller's fault.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something named does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The embedding engine failed or is saturated.
    #[error(transparent)]
    Embed(#[from] dw_embed::EmbedError),
    /// The request was understood but is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The state changed under the caller (another worker took over a job).
    #[error("{0}")]
    Conflict(String),
    /// Too much work waiting: retry later.
    #[error("{0}")]
    Busy(String),
    /// A fault of the service itself (a compute task that panicked).
    #[error("{0}")]
    Internal(String),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Store(StoreError::Database(e))
    }
}

impl AppError {
    /// Whether the database cancelled a statement that ran past the
    /// connection's `statement_timeout` (SQLSTATE 57014).
    pub fn is_statement_timeout(&self) -> bool {
        match self {
            AppError::Store(StoreError::Database(sqlx::Error::Database(e))) => e.code().as_deref() == Some("57014"),
            _ => false,
        }
    }

    /// Whether the failure is the database being unreachable or saturated
    /// (worth a retry), rather than a fault.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            AppError::Store(StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
            ))
        )
    }
}
