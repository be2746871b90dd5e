//! The append-only log of analysts' and admins' actions (the database
//! refuses updates, deletes and truncation of its table).

use serde_json::Value;
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::StoreError;

/// An action to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry<'a> {
    /// Who: `key:<id> <name>` for API keys, `cli:<user>` at the command line.
    pub actor: &'a str,
    /// Their role.
    pub role: &'a str,
    /// What: `flag.update`, `key.create`, ...
    pub action: &'a str,
    /// On what: `flag:12`, `key:<id>`, ...
    pub target: &'a str,
    /// The state before, when there was one.
    pub before: Option<Value>,
    /// The state after.
    pub after: Option<Value>,
}

/// A recorded action.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its position in the log.
    pub id: i64,
    /// When.
    pub at: OffsetDateTime,
    /// Who.
    pub actor: String,
    /// Their role.
    pub role: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// The state before.
    pub before: Option<Value>,
    /// The state after.
    pub after: Option<Value>,
}

/// Appends an entry (in the caller's transaction, so the action and its
/// record commit together).
pub async fn append(conn: &mut PgConnection, entry: &NewEntry<'_>) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"INSERT INTO audit_log (actor, role, action, target, before, after)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING entry_id"#,
        entry.actor,
        entry.role,
        entry.action,
        entry.target,
        entry.before,
        entry.after
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Entries after `after` (an entry id; `None` from the start), oldest first,
/// at most `limit`, optionally about one target.
pub async fn page(
    conn: &mut PgConnection,
    after: Option<i64>,
    target: Option<&str>,
    limit: i64,
) -> Result<Vec<Entry>, StoreError> {
    Ok(sqlx::query_as!(
        Entry,
        r#"SELECT entry_id AS id, at, actor, role, action, target, before, after FROM audit_log
           WHERE entry_id > coalesce($1::bigint, 0) AND ($2::text IS NULL OR target = $2)
           ORDER BY entry_id LIMIT $3"#,
        after,
        target,
        limit
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Entries before `before` (an entry id; `None`: the newest), newest first,
/// at most `limit`.
pub async fn newest(conn: &mut PgConnection, before: Option<i64>, limit: i64) -> Result<Vec<Entry>, StoreError> {
    Ok(sqlx::query_as!(
        Entry,
        r#"SELECT entry_id AS id, at, actor, role, action, target, before, after FROM audit_log
           WHERE ($1::bigint IS NULL OR entry_id < $1)
           ORDER BY entry_id DESC LIMIT $2"#,
        before,
        limit
    )
    .fetch_all(&mut *conn)
    .await?)
}
