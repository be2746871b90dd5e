//! What the two job queues (audits, and attribution and distillation-test
//! runs) share: admission. A job is queued only while fewer than the cap
//! wait in both queues together, checked under one transaction-scoped lock
//! so that concurrent requests cannot both slip under it.

use sqlx::PgConnection;

use crate::StoreError;

/// Takes the admission lock for the rest of the transaction and counts the
/// jobs waiting (queued, not yet claimed) in both queues.
pub async fn lock_admission_and_count_waiting(conn: &mut PgConnection) -> Result<i64, StoreError> {
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtext('distillwatch.job_admission'))").fetch_one(&mut *conn).await?;
    let waiting = sqlx::query_scalar!(
        r#"SELECT (SELECT count(*) FROM audits WHERE state = 'queued')
                + (SELECT count(*) FROM reference_jobs WHERE state = 'queued') AS "waiting!""#
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(waiting)
}
