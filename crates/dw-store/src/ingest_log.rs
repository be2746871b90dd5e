//! The ingest log: one row per batch that reached ingest.

use dw_domain::IngestSource;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

/// One batch as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestLogEntry {
    /// The batch's id, also stored on each of its events.
    pub ingest_id: Uuid,
    /// HTTP or CLI.
    pub source: IngestSource,
    /// The API key that sent it (HTTP).
    pub api_key_id: Option<Uuid>,
    /// A file name (CLI) or the client address (HTTP).
    pub origin: Option<String>,
    /// Bytes after decompression.
    pub bytes: i64,
    /// Non-blank lines (or array elements).
    pub lines: i64,
    /// Events stored.
    pub accepted: i64,
    /// Events already stored.
    pub duplicates: i64,
    /// Lines rejected.
    pub rejected: i64,
    /// The first rejection, as text.
    pub first_error: Option<String>,
    /// Replacements made by redaction at ingest.
    pub redacted: i64,
}

/// Appends an entry.
pub async fn record(conn: &mut PgConnection, entry: &IngestLogEntry) -> Result<(), StoreError> {
    sqlx::query!(
        r#"INSERT INTO ingest_log (ingest_id, source, api_key_id, origin, bytes, lines, accepted, duplicates, rejected,
                                  first_error, redacted)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"#,
        entry.ingest_id,
        entry.source.as_str(),
        entry.api_key_id,
        entry.origin,
        entry.bytes,
        entry.lines,
        entry.accepted,
        entry.duplicates,
        entry.rejected,
        entry.first_error,
        entry.redacted
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A logged batch with the time it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedIngest {
    /// The entry.
    pub entry: IngestLogEntry,
    /// When it arrived.
    pub received_at: OffsetDateTime,
}

/// The most recent entries, newest first.
pub async fn recent(conn: &mut PgConnection, limit: i64) -> Result<Vec<LoggedIngest>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT ingest_id, source, api_key_id, origin, received_at, bytes, lines, accepted, duplicates, rejected, first_error,
                  redacted
           FROM ingest_log ORDER BY received_at DESC, ingest_id LIMIT $1"#,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            let source = match r.source.as_str() {
                "http" => IngestSource::Http,
                "cli" => IngestSource::Cli,
                other => return Err(StoreError::Corrupt(format!("ingest_log.source: {other:?}"))),
            };
            Ok(LoggedIngest {
                entry: IngestLogEntry {
                    ingest_id: r.ingest_id,
                    source,
                    api_key_id: r.api_key_id,
                    origin: r.origin,
                    bytes: r.bytes,
                    lines: r.lines,
                    accepted: r.accepted,
                    duplicates: r.duplicates,
                    rejected: r.rejected,
                    first_error: r.first_error,
                    redacted: r.redacted,
                },
                received_at: r.received_at,
            })
        })
        .collect()
}
