//! The leased job queue: how a worker claims a job, keeps it, and ends it,
//! written once for every table that holds jobs ([`Queue`]: audits, and
//! attribution and distillation-test runs). Each table keeps what its jobs
//! are (an audit's window, a run's sets) and shares the lease columns:
//! `state` (`queued`, `running`, `done`, `failed`), `lease_owner`,
//! `lease_until`, `attempts`, `progress`, `error`, `created_at`,
//! `started_at`, `finished_at`, and the job's output.
//!
//! A job is claimed by one worker at a time: the oldest queued one, or a
//! running one whose lease ran out (its worker died), skipping rows another
//! claimer holds, so workers never wait on each other. A job whose lease ran
//! out on `max_attempts` claims is given up (failed, saying so) rather than
//! claimed again: a job that kills its worker would otherwise kill every
//! worker that takes it, on every restart.
//!
//! The statements are built from [`Queue`]'s own table and column names, a
//! closed set written in this file: nothing a caller sends reaches the SQL
//! text.

use std::time::Duration;

use serde_json::Value;
use sqlx::{AssertSqlSafe, PgConnection};

use crate::StoreError;

/// A table of leased jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// `audits`, whose output is the audit's summary.
    Audits,
    /// `reference_jobs` (attribution and distillation-test runs), whose
    /// output is the run's report.
    ReferenceJobs,
}

impl Queue {
    /// The queue's name in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Queue::Audits => "audit",
            Queue::ReferenceJobs => "reference_job",
        }
    }

    fn table(self) -> &'static str {
        match self {
            Queue::Audits => "audits",
            Queue::ReferenceJobs => "reference_jobs",
        }
    }

    fn id(self) -> &'static str {
        match self {
            Queue::Audits => "audit_id",
            Queue::ReferenceJobs => "job_id",
        }
    }

    fn output(self) -> &'static str {
        match self {
            Queue::Audits => "summary",
            Queue::ReferenceJobs => "result",
        }
    }

    /// What a failed job's progress says: an audit keeps the stage it
    /// reached (the analyst sees where it stopped), a run says it failed.
    fn failed_progress(self) -> &'static str {
        match self {
            Queue::Audits => "progress",
            Queue::ReferenceJobs => r#"'{"stage": "failed"}'::jsonb"#,
        }
    }

    /// `template` with the queue's table and columns put in.
    fn sql(self, template: &'static str) -> AssertSqlSafe<String> {
        AssertSqlSafe(
            template
                .replace("{table}", self.table())
                .replace("{id}", self.id())
                .replace("{output}", self.output())
                .replace("{failed_progress}", self.failed_progress()),
        )
    }
}

/// Gives up the running jobs whose lease ran out after `max_attempts`
/// claims; they fail with an error that says so. Returns their ids.
pub async fn give_up_exhausted(
    conn: &mut PgConnection,
    queue: Queue,
    max_attempts: i32,
) -> Result<Vec<i64>, StoreError> {
    let sql = queue.sql(
        "UPDATE {table} SET state = 'failed', finished_at = now(), lease_owner = NULL, lease_until = NULL,
                error = format('gave up after %s attempts: the lease of each ran out before it finished '
                               '(its worker died or was killed; the last was %s)', attempts, lease_owner)
         WHERE state = 'running' AND lease_until < now() AND attempts >= $1
         RETURNING {id}",
    );
    Ok(sqlx::query_scalar(sql).bind(max_attempts).fetch_all(&mut *conn).await?)
}

/// Claims the oldest claimable job (or job `only`) for `owner` until `lease`
/// from now, skipping running jobs already claimed `max_attempts` times;
/// returns its id.
pub async fn claim(
    conn: &mut PgConnection,
    queue: Queue,
    owner: &str,
    lease: Duration,
    only: Option<i64>,
    max_attempts: i32,
) -> Result<Option<i64>, StoreError> {
    let sql = queue.sql(
        r#"UPDATE {table} SET state = 'running', lease_owner = $1,
                  lease_until = now() + make_interval(secs => $2), attempts = attempts + 1,
                  started_at = now(), progress = '{"stage": "claimed"}'::jsonb, error = NULL
           WHERE {id} = (
               SELECT {id} FROM {table}
               WHERE (state = 'queued' OR (state = 'running' AND lease_until < now() AND attempts < $4))
                 AND ($3::bigint IS NULL OR {id} = $3)
               ORDER BY created_at, {id}
               FOR UPDATE SKIP LOCKED
               LIMIT 1)
           RETURNING {id}"#,
    );
    Ok(sqlx::query_scalar(sql)
        .bind(owner)
        .bind(lease.as_secs_f64())
        .bind(only)
        .bind(max_attempts)
        .fetch_optional(&mut *conn)
        .await?)
}

/// Extends the lease and records progress; false when the lease was lost
/// (another worker reclaimed the job), so the caller must stop.
pub async fn heartbeat(
    conn: &mut PgConnection,
    queue: Queue,
    id: i64,
    owner: &str,
    lease: Duration,
    progress: &Value,
) -> Result<bool, StoreError> {
    let sql = queue.sql(
        "UPDATE {table} SET lease_until = now() + make_interval(secs => $3), progress = $4
         WHERE {id} = $1 AND lease_owner = $2 AND state = 'running'",
    );
    let result =
        sqlx::query(sql).bind(id).bind(owner).bind(lease.as_secs_f64()).bind(progress).execute(&mut *conn).await?;
    Ok(result.rows_affected() == 1)
}

/// Marks a claimed job failed with `error`.
pub async fn fail(conn: &mut PgConnection, queue: Queue, id: i64, owner: &str, error: &str) -> Result<(), StoreError> {
    let sql = queue.sql(
        "UPDATE {table} SET state = 'failed', error = $3, finished_at = now(), lease_until = NULL,
                progress = {failed_progress}
         WHERE {id} = $1 AND lease_owner = $2 AND state = 'running'",
    );
    sqlx::query(sql).bind(id).bind(owner).bind(error).execute(&mut *conn).await?;
    Ok(())
}

/// Marks a claimed job done with its output, in the caller's transaction
/// (an audit's publishing one); false when the lease was lost meanwhile
/// (the caller rolls back: the worker that holds it now will finish it).
pub async fn finish(
    conn: &mut PgConnection,
    queue: Queue,
    id: i64,
    owner: &str,
    output: &Value,
) -> Result<bool, StoreError> {
    let sql = queue.sql(
        r#"UPDATE {table} SET state = 'done', {output} = $3, finished_at = now(), lease_until = NULL,
                  progress = '{"stage": "done"}'::jsonb
           WHERE {id} = $1 AND lease_owner = $2 AND state = 'running'"#,
    );
    let result = sqlx::query(sql).bind(id).bind(owner).bind(output).execute(&mut *conn).await?;
    Ok(result.rows_affected() == 1)
}

/// Takes the queues' admission lock for the rest of the transaction and
/// counts the jobs waiting (queued, not yet claimed) in every queue: a new
/// job is admitted under a cap on that count, and concurrent requests are
/// counted one after the other.
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
