//! API keys, stored as SHA-256 hashes.

use dw_domain::{ApiKey, HistoryLogging, Role};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::StoreError;

pub(crate) struct KeyRow {
    pub(crate) key_id: Uuid,
    pub(crate) name: String,
    pub(crate) role: String,
    pub(crate) key_prefix: String,
    pub(crate) history: String,
    pub(crate) created_at: time::OffsetDateTime,
    pub(crate) revoked_at: Option<time::OffsetDateTime>,
    pub(crate) last_used_at: Option<time::OffsetDateTime>,
}

impl TryFrom<KeyRow> for ApiKey {
    type Error = StoreError;

    fn try_from(row: KeyRow) -> Result<Self, StoreError> {
        Ok(ApiKey {
            key_id: row.key_id,
            name: row.name,
            role: row.role.parse::<Role>().map_err(|e| StoreError::Corrupt(format!("api_keys.role: {e}")))?,
            prefix: row.key_prefix,
            history: row
                .history
                .parse::<HistoryLogging>()
                .map_err(|e| StoreError::Corrupt(format!("api_keys.history: {e}")))?,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
            last_used_at: row.last_used_at,
        })
    }
}

/// Stores a new key by its hash.
pub async fn insert(
    conn: &mut PgConnection,
    key_id: Uuid,
    name: &str,
    role: Role,
    history: HistoryLogging,
    key_hash: &[u8],
    prefix: &str,
) -> Result<ApiKey, StoreError> {
    let row = sqlx::query_as!(
        KeyRow,
        r#"INSERT INTO api_keys (key_id, name, role, history, key_hash, key_prefix) VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING key_id, name, role, key_prefix, history, created_at, revoked_at, last_used_at"#,
        key_id,
        name,
        role.as_str(),
        history.as_str(),
        key_hash,
        prefix
    )
    .fetch_one(&mut *conn)
    .await?;
    row.try_into()
}

/// Every key, newest first, revoked ones included.
pub async fn list(conn: &mut PgConnection) -> Result<Vec<ApiKey>, StoreError> {
    sqlx::query_as!(
        KeyRow,
        "SELECT key_id, name, role, key_prefix, history, created_at, revoked_at, last_used_at
         FROM api_keys ORDER BY created_at DESC, key_id"
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(TryInto::try_into)
    .collect()
}

/// The key with this hash, unless it was revoked.
pub async fn find_active(conn: &mut PgConnection, key_hash: &[u8]) -> Result<Option<ApiKey>, StoreError> {
    sqlx::query_as!(
        KeyRow,
        "SELECT key_id, name, role, key_prefix, history, created_at, revoked_at, last_used_at
         FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        key_hash
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(TryInto::try_into)
    .transpose()
}

/// Revokes a key by id or by its unique prefix. Returns the revoked key, or
/// `None` when nothing active matched.
pub async fn revoke(conn: &mut PgConnection, id_or_prefix: &str) -> Result<Option<ApiKey>, StoreError> {
    let key_id = Uuid::parse_str(id_or_prefix).ok();
    let rows = sqlx::query_as!(
        KeyRow,
        r#"UPDATE api_keys SET revoked_at = now()
           WHERE revoked_at IS NULL
             AND key_id = (SELECT key_id FROM api_keys
                           WHERE revoked_at IS NULL AND (key_id = $1 OR key_prefix = $2)
                           LIMIT 1)
           RETURNING key_id, name, role, key_prefix, history, created_at, revoked_at, last_used_at"#,
        key_id,
        id_or_prefix
    )
    .fetch_optional(&mut *conn)
    .await?;
    rows.map(TryInto::try_into).transpose()
}

/// Sets what the source sending with an active key (by id or unique prefix)
/// logs of each conversation. Returns the key as it was and as it is, or
/// `None` when nothing active matched.
pub async fn set_history(
    conn: &mut PgConnection,
    id_or_prefix: &str,
    history: HistoryLogging,
) -> Result<Option<(ApiKey, ApiKey)>, StoreError> {
    let key_id = Uuid::parse_str(id_or_prefix).ok();
    let before = sqlx::query_as!(
        KeyRow,
        r#"SELECT key_id, name, role, key_prefix, history, created_at, revoked_at, last_used_at
           FROM api_keys WHERE revoked_at IS NULL AND (key_id = $1 OR key_prefix = $2)
           ORDER BY created_at, key_id LIMIT 1 FOR UPDATE"#,
        key_id,
        id_or_prefix
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(before) = before else { return Ok(None) };
    let after = sqlx::query_as!(
        KeyRow,
        r#"UPDATE api_keys SET history = $2 WHERE key_id = $1
           RETURNING key_id, name, role, key_prefix, history, created_at, revoked_at, last_used_at"#,
        before.key_id,
        history.as_str()
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Some((before.try_into()?, after.try_into()?)))
}

/// Notes that a key was used, at most once a minute per key.
pub async fn touch(conn: &mut PgConnection, key_id: Uuid) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE api_keys SET last_used_at = now()
         WHERE key_id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        key_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
