//! Webhook deliveries: queued with the change that causes them, claimed by
//! senders under a lease, recorded as delivered, retried or given up.

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::StoreError;

/// A delivery due for an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Its row.
    pub delivery_id: i64,
    /// The `webhook-id`, the same on every attempt.
    pub message_id: String,
    /// Where it goes.
    pub endpoint: String,
    /// The event type.
    pub event_type: String,
    /// The body, as sent.
    pub body: String,
    /// Attempts so far, this one included.
    pub attempts: i32,
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its row.
    pub delivery_id: i64,
    /// The `webhook-id`.
    pub message_id: String,
    /// Where it goes.
    pub endpoint: String,
    /// The event type.
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i32,
    /// The last HTTP status received.
    pub last_status: Option<i32>,
    /// The last error.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<OffsetDateTime>,
}

/// Queues a delivery (in the caller's transaction).
pub async fn enqueue(
    conn: &mut PgConnection,
    message_id: &str,
    endpoint: &str,
    event_type: &str,
    body: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        r#"INSERT INTO webhook_deliveries (message_id, endpoint, event_type, body) VALUES ($1, $2, $3, $4)
           ON CONFLICT (message_id, endpoint) DO NOTHING"#,
        message_id,
        endpoint,
        event_type,
        body
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Claims up to `limit` due deliveries: each counts an attempt and is not due
/// again until `lease_seconds` have passed, so a sender that dies mid-attempt
/// leaves it to the next one after the lease.
pub async fn claim_due(conn: &mut PgConnection, lease_seconds: f64, limit: i64) -> Result<Vec<Due>, StoreError> {
    Ok(sqlx::query_as!(
        Due,
        r#"UPDATE webhook_deliveries d
           SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $1)
           FROM (SELECT delivery_id FROM webhook_deliveries
                 WHERE state = 'pending' AND next_attempt_at <= now()
                 ORDER BY next_attempt_at, delivery_id LIMIT $2 FOR UPDATE SKIP LOCKED) due
           WHERE d.delivery_id = due.delivery_id
           RETURNING d.delivery_id, d.message_id, d.endpoint, d.event_type, d.body, d.attempts"#,
        lease_seconds,
        limit
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Records a delivery the receiver accepted.
pub async fn delivered(conn: &mut PgConnection, delivery_id: i64, status: i32) -> Result<(), StoreError> {
    sqlx::query!(
        r#"UPDATE webhook_deliveries SET state = 'delivered', delivered_at = now(), last_status = $2, last_error = NULL
           WHERE delivery_id = $1"#,
        delivery_id,
        status
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records a failed attempt: due again in `retry_in_seconds`, or failed for
/// good when `retry_in_seconds` is `None`.
pub async fn attempt_failed(
    conn: &mut PgConnection,
    delivery_id: i64,
    status: Option<i32>,
    error: &str,
    retry_in_seconds: Option<f64>,
) -> Result<(), StoreError> {
    sqlx::query!(
        r#"UPDATE webhook_deliveries
           SET state = CASE WHEN $4::float8 IS NULL THEN 'failed' ELSE 'pending' END,
               next_attempt_at = CASE WHEN $4::float8 IS NULL THEN next_attempt_at
                                      ELSE now() + make_interval(secs => $4) END,
               last_status = $2, last_error = $3
           WHERE delivery_id = $1"#,
        delivery_id,
        status,
        error,
        retry_in_seconds
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deliveries, newest first, at most `limit`.
pub async fn recent(conn: &mut PgConnection, limit: i64) -> Result<Vec<Delivery>, StoreError> {
    Ok(sqlx::query_as!(
        Delivery,
        r#"SELECT delivery_id, message_id, endpoint, event_type, state, attempts, last_status, last_error, delivered_at
           FROM webhook_deliveries ORDER BY delivery_id DESC LIMIT $1"#,
        limit
    )
    .fetch_all(&mut *conn)
    .await?)
}
