//! Attribution and the reference tests' runs as jobs: queued, claimed under
//! a lease, finished with their report (as [`crate::audits`] are).

use dw_domain::JobState;
use serde_json::Value;
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::StoreError;

/// What a run computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Which accounts were served the completions a suspect reproduces.
    Attribution,
    /// Whether the suspect answers more like us than a control does.
    DistillationTest,
    /// Whether the suspect answers more like us than a panel of controls do.
    PanelTest,
    /// Whether the suspect's answers, to any prompts, carry more of our
    /// answers' habits than the controls' do.
    FingerprintTest,
}

impl JobKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Attribution => "attribution",
            JobKind::DistillationTest => "distillation_test",
            JobKind::PanelTest => "panel_test",
            JobKind::FingerprintTest => "fingerprint_test",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "attribution" => Ok(JobKind::Attribution),
            "distillation_test" => Ok(JobKind::DistillationTest),
            "panel_test" => Ok(JobKind::PanelTest),
            "fingerprint_test" => Ok(JobKind::FingerprintTest),
            other => Err(StoreError::Corrupt(format!("reference_jobs.kind {other:?}"))),
        }
    }
}

/// What a run covers.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// What it computes.
    pub kind: JobKind,
    /// The suspect set.
    pub set_id: i64,
    /// The control set (a distillation test's; `None` for the others).
    pub control_id: Option<i64>,
    /// The control sets of a panel or fingerprint test, in the order given
    /// (empty for the others).
    pub control_ids: Vec<i64>,
    /// Our served completions a fingerprint test reads (`None`: its default).
    pub sample: Option<i32>,
    /// Our completions from this instant (`None`: every stored one).
    pub from: Option<OffsetDateTime>,
    /// Until this instant, exclusive (`None`: every stored one).
    pub to: Option<OffsetDateTime>,
    /// Who asked (`api:<key prefix>`, `cli`).
    pub requested_by: String,
}

/// A stored run.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Its id.
    pub id: i64,
    /// What it covers.
    pub spec: JobSpec,
    /// Where it stands.
    pub state: JobState,
    /// Times it was claimed.
    pub attempts: i32,
    /// What it is doing (`{"stage": ...}`).
    pub progress: Value,
    /// Its report, once done.
    pub result: Option<Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was queued.
    pub created_at: OffsetDateTime,
    /// When it was last claimed.
    pub started_at: Option<OffsetDateTime>,
    /// When it ended.
    pub finished_at: Option<OffsetDateTime>,
}

struct JobRow {
    job_id: i64,
    kind: String,
    set_id: i64,
    control_id: Option<i64>,
    control_ids: Option<Vec<i64>>,
    sample: Option<i32>,
    window_from: Option<OffsetDateTime>,
    window_to: Option<OffsetDateTime>,
    requested_by: String,
    state: String,
    attempts: i32,
    progress: Value,
    result: Option<Value>,
    error: Option<String>,
    created_at: OffsetDateTime,
    started_at: Option<OffsetDateTime>,
    finished_at: Option<OffsetDateTime>,
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;

    fn try_from(r: JobRow) -> Result<Self, StoreError> {
        Ok(Job {
            id: r.job_id,
            spec: JobSpec {
                kind: JobKind::parse(&r.kind)?,
                set_id: r.set_id,
                control_id: r.control_id,
                control_ids: r.control_ids.unwrap_or_default(),
                sample: r.sample,
                from: r.window_from,
                to: r.window_to,
                requested_by: r.requested_by,
            },
            state: r
                .state
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("reference_jobs.state of job {}: {e}", r.job_id)))?,
            attempts: r.attempts,
            progress: r.progress,
            result: r.result,
            error: r.error,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        })
    }
}

/// Queues a run; returns its id.
pub async fn enqueue(conn: &mut PgConnection, spec: &JobSpec) -> Result<i64, StoreError> {
    let id = sqlx::query_scalar!(
        r#"INSERT INTO reference_jobs (kind, set_id, control_id, control_ids, sample, window_from, window_to,
                                       requested_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING job_id"#,
        spec.kind.as_str(),
        spec.set_id,
        spec.control_id,
        control_ids(spec) as Option<&[i64]>,
        spec.sample,
        spec.from,
        spec.to,
        spec.requested_by
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

// Claiming, heartbeats, failing and finishing: `crate::queue` (`Queue::ReferenceJobs`).

/// Serializes [`current`]-then-[`enqueue`] callers until the caller's
/// transaction ends, so that concurrent askers share one run.
pub async fn lock_queue(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtext('distillwatch.reference_jobs'))").fetch_one(&mut *conn).await?;
    Ok(())
}

/// A run by id.
pub async fn get(conn: &mut PgConnection, id: i64) -> Result<Option<Job>, StoreError> {
    let row = sqlx::query_as!(
        JobRow,
        r#"SELECT job_id, kind, set_id, control_id, control_ids, sample, window_from, window_to, requested_by, state,
                  attempts, progress, result, error, created_at, started_at, finished_at
           FROM reference_jobs WHERE job_id = $1"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(Job::try_from).transpose()
}

/// The runs on a set (as the suspect), newest first, at most `limit`.
pub async fn of_set(conn: &mut PgConnection, set_id: i64, limit: i64) -> Result<Vec<Job>, StoreError> {
    sqlx::query_as!(
        JobRow,
        r#"SELECT job_id, kind, set_id, control_id, control_ids, sample, window_from, window_to, requested_by, state,
                  attempts, progress, result, error, created_at, started_at, finished_at
           FROM reference_jobs WHERE set_id = $1 ORDER BY job_id DESC LIMIT $2"#,
        set_id,
        limit
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(Job::try_from)
    .collect()
}

/// The newest run of exactly these parameters that is queued, running, or
/// done and queued after the last item was added to its sets (an upload
/// since then makes its report stale); failed runs are not reused.
pub async fn current(conn: &mut PgConnection, spec: &JobSpec) -> Result<Option<Job>, StoreError> {
    let row = sqlx::query_as!(
        JobRow,
        r#"SELECT j.job_id, j.kind, j.set_id, j.control_id, j.control_ids, j.sample, j.window_from, j.window_to,
                  j.requested_by, j.state, j.attempts, j.progress, j.result, j.error, j.created_at, j.started_at,
                  j.finished_at
           FROM reference_jobs j
           WHERE j.kind = $1 AND j.set_id = $2 AND j.control_id IS NOT DISTINCT FROM $3
             AND j.control_ids IS NOT DISTINCT FROM $4 AND j.sample IS NOT DISTINCT FROM $5
             AND j.window_from IS NOT DISTINCT FROM $6 AND j.window_to IS NOT DISTINCT FROM $7
             AND j.state <> 'failed'
             AND NOT EXISTS (
                 SELECT 1 FROM reference_items i
                 WHERE (i.set_id IN (j.set_id, j.control_id) OR i.set_id = ANY(j.control_ids))
                   AND i.created_at > j.created_at)
           ORDER BY j.created_at DESC, j.job_id DESC
           LIMIT 1"#,
        spec.kind.as_str(),
        spec.set_id,
        spec.control_id,
        control_ids(spec) as Option<&[i64]>,
        spec.sample,
        spec.from,
        spec.to
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(Job::try_from).transpose()
}

/// The control sets as stored: `NULL` for a run that takes none.
fn control_ids(spec: &JobSpec) -> Option<&[i64]> {
    matches!(spec.kind, JobKind::PanelTest | JobKind::FingerprintTest).then_some(spec.control_ids.as_slice())
}

/// Deletes the runs that finished (done or failed) before `before`, with
/// their reports (which quote served completions); returns how many.
pub async fn delete_finished_before(conn: &mut PgConnection, before: OffsetDateTime) -> Result<u64, StoreError> {
    let result =
        sqlx::query!("DELETE FROM reference_jobs WHERE state IN ('done', 'failed') AND finished_at < $1", before)
            .execute(&mut *conn)
            .await?;
    Ok(result.rows_affected())
}
