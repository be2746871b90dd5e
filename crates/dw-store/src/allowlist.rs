//! The allowlist admins manage: accounts scored but never flagged.

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::StoreError;

/// An allowlisted account.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Allowed {
    /// The account.
    pub account_id: String,
    /// Why it may distill (a licence, a partnership).
    pub reason: String,
    /// When it stops being in force (`None`: until removed).
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Who added it.
    pub added_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
}

/// Adds an account or replaces its entry; returns the entry it replaced.
pub async fn put(
    conn: &mut PgConnection,
    account_id: &str,
    reason: &str,
    expires_at: Option<OffsetDateTime>,
    added_by: &str,
) -> Result<(Option<Allowed>, Allowed), StoreError> {
    let before = get(conn, account_id).await?;
    let after = sqlx::query_as!(
        Allowed,
        r#"INSERT INTO allowlist (account_id, reason, expires_at, added_by) VALUES ($1, $2, $3, $4)
           ON CONFLICT (account_id) DO UPDATE
               SET reason = EXCLUDED.reason, expires_at = EXCLUDED.expires_at,
                   added_by = EXCLUDED.added_by, added_at = now()
           RETURNING account_id, reason, expires_at, added_by, added_at"#,
        account_id,
        reason,
        expires_at,
        added_by
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((before, after))
}

/// One account's entry.
pub async fn get(conn: &mut PgConnection, account_id: &str) -> Result<Option<Allowed>, StoreError> {
    Ok(sqlx::query_as!(
        Allowed,
        "SELECT account_id, reason, expires_at, added_by, added_at FROM allowlist WHERE account_id = $1 FOR UPDATE",
        account_id
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// Removes an account's entry; returns it, or `None` when there was none.
pub async fn remove(conn: &mut PgConnection, account_id: &str) -> Result<Option<Allowed>, StoreError> {
    Ok(sqlx::query_as!(
        Allowed,
        "DELETE FROM allowlist WHERE account_id = $1 RETURNING account_id, reason, expires_at, added_by, added_at",
        account_id
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// Every entry, by account; expired ones too when `with_expired`, as of `now`.
pub async fn list(
    conn: &mut PgConnection,
    with_expired: bool,
    now: OffsetDateTime,
) -> Result<Vec<Allowed>, StoreError> {
    Ok(sqlx::query_as!(
        Allowed,
        r#"SELECT account_id, reason, expires_at, added_by, added_at FROM allowlist
           WHERE $1 OR expires_at IS NULL OR expires_at > $2 ORDER BY account_id"#,
        with_expired,
        now
    )
    .fetch_all(&mut *conn)
    .await?)
}
