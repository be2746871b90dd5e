//! What accounts did in a window, as the audit reads it.

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::StoreError;

/// Requests per account in `[from, to)`, by account id.
pub async fn request_counts(
    conn: &mut PgConnection,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT account_id, count(*) AS "requests!"
           FROM events WHERE ts >= $1 AND ts < $2
           GROUP BY account_id ORDER BY account_id"#,
        from,
        to
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.account_id, r.requests)).collect())
}

/// Request times (Unix seconds) per account in `[from, to)`, in time order;
/// what an evaluator needs to count requests served before a flag.
pub async fn request_times(
    conn: &mut PgConnection,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<(String, Vec<i64>)>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT account_id, array_agg(extract(epoch FROM ts)::bigint ORDER BY ts) AS "times!"
           FROM events WHERE ts >= $1 AND ts < $2
           GROUP BY account_id ORDER BY account_id"#,
        from,
        to
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.account_id, r.times)).collect())
}

/// The first and last event time, when any event is stored.
pub async fn time_range(conn: &mut PgConnection) -> Result<Option<(OffsetDateTime, OffsetDateTime)>, StoreError> {
    let row = sqlx::query!(r#"SELECT min(ts) AS first, max(ts) AS last FROM events"#).fetch_one(&mut *conn).await?;
    Ok(row.first.zip(row.last))
}
