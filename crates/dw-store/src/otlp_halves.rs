//! Halves of OTLP model calls waiting for their other half (a span without
//! its messages, or a span's GenAI log records), and calls waiting for the
//! ancestor span that names their account.

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
    /// A call waiting for the ancestor span that names its account.
    Orphan,
}

impl Half {
    fn as_str(self) -> &'static str {
        match self {
            Half::Span => "span",
            Half::Logs => "logs",
            Half::Orphan => "orphan",
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

/// Whether any call waits for an ancestor span (in any trace): asked before
/// [`orphans_of`], so that an export whose spans no call waits for sends no
/// list of its traces.
pub async fn any_orphans(conn: &mut PgConnection) -> Result<bool, StoreError> {
    let any = sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM otlp_halves WHERE half = 'orphan') AS "any!""#)
        .fetch_one(&mut *conn)
        .await?;
    Ok(any)
}

/// The calls of these traces waiting for an ancestor (trace id, span id,
/// record), locked for this transaction (settle each with [`take`] or
/// [`update`]).
pub async fn orphans_of(
    conn: &mut PgConnection,
    trace_ids: &[String],
) -> Result<Vec<(String, String, serde_json::Value)>, StoreError> {
    let rows = sqlx::query!(
        "SELECT trace_id, span_id, record FROM otlp_halves WHERE half = 'orphan' AND trace_id = ANY($1)
         ORDER BY trace_id, span_id FOR UPDATE",
        trace_ids
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.trace_id, r.span_id, r.record)).collect())
}

/// Replaces a waiting half's record, keeping when it began to wait (the wait
/// is bounded from its first arrival, however often it moves up a trace).
pub async fn update(
    conn: &mut PgConnection,
    trace_id: &str,
    span_id: &str,
    half: Half,
    record: &serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE otlp_halves SET record = $4 WHERE trace_id = $1 AND span_id = $2 AND half = $3",
        trace_id,
        span_id,
        half.as_str(),
        record
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Halves that went unmatched, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Unmatched {
    /// Spans without their log records.
    pub spans: u64,
    /// Log gatherings without their span.
    pub logs: u64,
    /// Calls whose account no ancestor came to name.
    pub orphans: u64,
}

/// Drops the halves that waited longer than `seconds`; returns how many of
/// each kind went unmatched.
pub async fn expire(conn: &mut PgConnection, seconds: f64) -> Result<Unmatched, StoreError> {
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
    Ok(Unmatched { spans: count("span"), logs: count("logs"), orphans: count("orphan") })
}

/// Halves waiting now, by kind.
pub async fn waiting(conn: &mut PgConnection) -> Result<Unmatched, StoreError> {
    let row = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE half = 'span') AS "spans!", count(*) FILTER (WHERE half = 'logs') AS "logs!",
                  count(*) FILTER (WHERE half = 'orphan') AS "orphans!"
           FROM otlp_halves"#
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Unmatched { spans: row.spans.max(0) as u64, logs: row.logs.max(0) as u64, orphans: row.orphans.max(0) as u64 })
}
