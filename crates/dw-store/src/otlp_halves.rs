//! Halves of OTLP model calls waiting for their other half (a span without
//! its messages, or a span's GenAI log records).

use sqlx::PgConnection;
use uuid::Uuid;

use crate::StoreError;

/// Which half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    /// A span waiting for its log records.
    Span,
    /// Log records waiting for their span.
    Logs,
}

impl Half {
    fn as_str(self) -> &'static str {
        match self {
            Half::Span => "span",
            Half::Logs => "logs",
        }
    }
}

/// Holds the span's halves for this transaction: an export of its span and
/// one of its log records, arriving at once, cannot both miss the other.
pub async fn lock(conn: &mut PgConnection, trace_id: &str, span_id: &str) -> Result<(), StoreError> {
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", format!("otlp:{trace_id}:{span_id}"))
        .fetch_one(&mut *conn)
        .await?;
    Ok(())
}

/// Removes and returns the waiting `half` of a span, if there is one.
pub async fn take(
    conn: &mut PgConnection,
    trace_id: &str,
    span_id: &str,
    half: Half,
) -> Result<Option<serde_json::Value>, StoreError> {
    Ok(sqlx::query_scalar!(
        "DELETE FROM otlp_halves WHERE trace_id = $1 AND span_id = $2 AND half = $3 RETURNING record",
        trace_id,
        span_id,
        half.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// Stores a half to wait for its other (replacing a waiting one of the same
/// span and kind: the caller merged them).
pub async fn put(
    conn: &mut PgConnection,
    trace_id: &str,
    span_id: &str,
    half: Half,
    record: &serde_json::Value,
    api_key_id: Option<Uuid>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO otlp_halves (trace_id, span_id, half, record, api_key_id) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (trace_id, span_id, half) DO UPDATE SET record = EXCLUDED.record, api_key_id = EXCLUDED.api_key_id",
        trace_id,
        span_id,
        half.as_str(),
        record,
        api_key_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Drops the halves that waited longer than `seconds`; returns how many
/// spans and how many log gatherings went unmatched.
pub async fn expire(conn: &mut PgConnection, seconds: f64) -> Result<(u64, u64), StoreError> {
    let rows = sqlx::query!(
        r#"WITH gone AS (
               DELETE FROM otlp_halves WHERE received_at < now() - make_interval(secs => $1) RETURNING half
           )
           SELECT half AS "half!", count(*) AS "count!" FROM gone GROUP BY half"#,
        seconds
    )
    .fetch_all(&mut *conn)
    .await?;
    let count = |name: &str| rows.iter().find(|r| r.half == name).map_or(0, |r| r.count.max(0) as u64);
    Ok((count("span"), count("logs")))
}

/// Halves waiting now: spans, log gatherings.
pub async fn waiting(conn: &mut PgConnection) -> Result<(u64, u64), StoreError> {
    let row = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE half = 'span') AS "spans!", count(*) FILTER (WHERE half = 'logs') AS "logs!"
           FROM otlp_halves"#
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((row.spans.max(0) as u64, row.logs.max(0) as u64))
}
