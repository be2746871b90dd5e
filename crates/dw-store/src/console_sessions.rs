//! Sessions of the analyst console, stored by the SHA-256 of their token.
//! A session is alive while its key is active, before its absolute expiry,
//! and within its idle limit of its last request.

use dw_domain::ApiKey;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;
use crate::api_keys::KeyRow;

/// Stores a new session of `key_id`, ending at `expires_at` at the latest.
pub async fn insert(
    conn: &mut PgConnection,
    token_hash: &[u8],
    key_id: Uuid,
    expires_at: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO console_sessions (token_hash, key_id, expires_at) VALUES ($1, $2, $3)",
        token_hash,
        key_id,
        expires_at
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The key of the live session with this hash, its last request moved to
/// now; `None` when there is no such session, it expired, it sat idle for
/// longer than `idle_seconds`, or its key was revoked.
pub async fn find_live(
    conn: &mut PgConnection,
    token_hash: &[u8],
    idle_seconds: f64,
) -> Result<Option<ApiKey>, StoreError> {
    sqlx::query_as!(
        KeyRow,
        r#"UPDATE console_sessions s SET last_seen_at = now()
           FROM api_keys k
           WHERE s.token_hash = $1 AND k.key_id = s.key_id AND k.revoked_at IS NULL
             AND s.expires_at > now() AND s.last_seen_at > now() - make_interval(secs => $2)
           RETURNING k.key_id, k.name, k.role, k.key_prefix, k.history, k.created_at, k.revoked_at,
                     k.last_used_at"#,
        token_hash,
        idle_seconds
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(TryInto::try_into)
    .transpose()
}

/// Ends the session with this hash; whether there was one.
pub async fn delete(conn: &mut PgConnection, token_hash: &[u8]) -> Result<bool, StoreError> {
    let done =
        sqlx::query!("DELETE FROM console_sessions WHERE token_hash = $1", token_hash).execute(&mut *conn).await?;
    Ok(done.rows_affected() > 0)
}

/// Ends every session of a key (at its revocation); how many there were.
pub async fn delete_of_key(conn: &mut PgConnection, key_id: Uuid) -> Result<u64, StoreError> {
    let done = sqlx::query!("DELETE FROM console_sessions WHERE key_id = $1", key_id).execute(&mut *conn).await?;
    Ok(done.rows_affected())
}

/// Forgets sessions past their absolute expiry or idle for longer than
/// `idle_seconds`; how many.
pub async fn delete_stale(conn: &mut PgConnection, idle_seconds: f64) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "DELETE FROM console_sessions WHERE expires_at <= now() OR last_seen_at <= now() - make_interval(secs => $1)",
        idle_seconds
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}
