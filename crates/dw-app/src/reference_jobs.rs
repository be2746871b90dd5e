//! Attribution and the reference tests (paired, panel, fingerprint) as
//! jobs. On CPU, comparing a window's completions with a suspect's outputs by
//! meaning takes minutes, longer than an HTTP request should wait: the API
//! queues a run, a worker of `serve` claims it under a lease (as it claims
//! audits), and the report is kept for whoever asks again with the same
//! parameters.

use std::sync::{Arc, Mutex};

use dw_detect::reference::MIN_CONTROLS;
use dw_store::queue::{self, Queue};
use dw_store::reference_jobs::{self, Job, JobKind, JobSpec};
use serde_json::json;

use crate::{Actor, App, AppError};

impl App {
    /// Checks a run's parameters as the run itself would (the sets exist,
    /// the suspect is not a control, the control is one, the window is
    /// ordered), so that a bad request fails when it is made, not later.
    async fn check_reference_job(&self, conn: &mut sqlx::PgConnection, spec: &JobSpec) -> Result<(), AppError> {
        crate::reference::stored_window(spec.from, spec.to)?;
        crate::reference::suspect_set(conn, spec.set_id).await?;
        let panel = matches!(spec.kind, JobKind::PanelTest | JobKind::FingerprintTest);
        if !panel && !spec.control_ids.is_empty() {
            return Err(AppError::Invalid(format!("controls: {} takes no list of control sets", spec.kind.as_str())));
        }
        if spec.sample.is_some() && spec.kind != JobKind::FingerprintTest {
            return Err(AppError::Invalid(format!("sample: {} reads no sample", spec.kind.as_str())));
        }
        match (spec.kind, spec.control_id) {
            (JobKind::Attribution, None) => Ok(()),
            (JobKind::DistillationTest, Some(control)) => {
                crate::reference::control_set(conn, control).await.map(|_| ())
            }
            (JobKind::Attribution, Some(_)) => {
                Err(AppError::Invalid("control: attribution takes no control set".into()))
            }
            (JobKind::DistillationTest, None) => Err(AppError::Invalid("control: the test needs a control set".into())),
            (JobKind::PanelTest | JobKind::FingerprintTest, Some(_)) => {
                Err(AppError::Invalid("control: name the control sets in controls".into()))
            }
            (JobKind::PanelTest | JobKind::FingerprintTest, None) => {
                let (test, least) = if spec.kind == JobKind::PanelTest {
                    ("panel test", MIN_CONTROLS)
                } else {
                    ("fingerprint test", 1)
                };
                crate::reference::check_controls(test, &spec.control_ids, least)?;
                if let Some(sample) = spec.sample {
                    crate::fingerprint::check_sample(i64::from(sample))?;
                }
                for control in &spec.control_ids {
                    crate::reference::control_set(conn, *control).await?;
                }
                Ok(())
            }
        }
    }

    /// Queues a run (the API's `POST`), on record in the audit log.
    pub async fn queue_reference_job(&self, spec: &JobSpec, actor: &Actor) -> Result<Job, AppError> {
        self.reference_job_queued(spec, actor, false).await
    }

    /// The run that answers these parameters (the API's `GET`): the newest
    /// one queued, running, or done since the sets last changed; otherwise a
    /// new one is queued. Concurrent callers share one run.
    pub async fn reference_job_for(&self, spec: &JobSpec, actor: &Actor) -> Result<Job, AppError> {
        self.reference_job_queued(spec, actor, true).await
    }

    /// Checks `spec`, then (when `reuse`) answers with the current run for
    /// it, or queues a new one, on record in the audit log.
    async fn reference_job_queued(&self, spec: &JobSpec, actor: &Actor, reuse: bool) -> Result<Job, AppError> {
        let mut tx = self.pool.begin().await?;
        self.check_reference_job(&mut tx, spec).await?;
        if reuse {
            reference_jobs::lock_queue(&mut tx).await?;
            if let Some(job) = reference_jobs::current(&mut tx, spec).await? {
                return Ok(job);
            }
        }
        self.admit_job(&mut tx).await?;
        let id = reference_jobs::enqueue(&mut tx, spec).await?;
        record_queued(&mut tx, id, spec, actor).await?;
        let job = reference_jobs::get(&mut tx, id).await?.ok_or_else(|| AppError::NotFound(format!("job {id}")))?;
        tx.commit().await?;
        Ok(job)
    }

    /// The runs on a set (as the suspect), newest first, at most `limit`.
    pub async fn reference_jobs_of(&self, set_id: i64, limit: i64) -> Result<Vec<Job>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(reference_jobs::of_set(&mut conn, set_id, limit).await?)
    }

    /// A run of attribution or of a test, by id.
    pub async fn reference_job(&self, id: i64) -> Result<Option<Job>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(reference_jobs::get(&mut conn, id).await?)
    }

    /// Claims the oldest claimable run (or run `only`) for `worker`, runs it
    /// with the service's embedder (by meaning when there is one) and keeps
    /// its report; `None` when there is nothing to claim. A run whose
    /// parameters fail is marked failed with the error, which is returned.
    pub async fn run_reference_job(&self, worker: &str, only: Option<i64>) -> Result<Option<Job>, AppError> {
        let Some(id) = self.claim_job(Queue::ReferenceJobs, worker, only).await? else {
            return Ok(None);
        };
        let job = self.reference_job(id).await?.ok_or_else(|| AppError::NotFound(format!("job {id}")))?;
        let spec = &job.spec;
        let progress = json!({"stage": spec.kind.as_str(), "by_meaning": self.embedder().is_some()});
        let heartbeat = self.spawn_heartbeat(Queue::ReferenceJobs, job.id, worker, Arc::new(Mutex::new(progress)));
        let started = std::time::Instant::now();
        let report = match spec.kind {
            JobKind::Attribution => self
                .attribution(spec.set_id, spec.from, spec.to, self.embedder())
                .await
                .and_then(|r| serde_json::to_value(r).map_err(|e| AppError::Invalid(format!("report: {e}")))),
            JobKind::DistillationTest => match spec.control_id {
                Some(control) => self
                    .distillation_test(spec.set_id, control, spec.from, spec.to, self.embedder())
                    .await
                    .and_then(|r| serde_json::to_value(r).map_err(|e| AppError::Invalid(format!("report: {e}")))),
                None => Err(AppError::Invalid("control: the test needs a control set".into())),
            },
            JobKind::PanelTest => self
                .panel_test(spec.set_id, &spec.control_ids, spec.from, spec.to, self.embedder())
                .await
                .and_then(|r| serde_json::to_value(r).map_err(|e| AppError::Invalid(format!("report: {e}")))),
            JobKind::FingerprintTest => {
                let sample = spec.sample.map_or(crate::DEFAULT_FINGERPRINT_SAMPLE, |n| n.max(1) as usize);
                self.fingerprint_test(spec.set_id, &spec.control_ids, spec.from, spec.to, sample)
                    .await
                    .and_then(|r| serde_json::to_value(r).map_err(|e| AppError::Invalid(format!("report: {e}"))))
            }
        };
        heartbeat.abort();
        let state = if report.is_ok() { dw_domain::JobState::Done } else { dw_domain::JobState::Failed }.as_str();
        metrics::counter!("distillwatch_reference_jobs_total", "kind" => spec.kind.as_str(), "state" => state)
            .increment(1);
        metrics::histogram!("distillwatch_reference_job_seconds", "kind" => spec.kind.as_str())
            .record(started.elapsed().as_secs_f64());
        let mut conn = self.pool.acquire().await?;
        match report {
            Ok(report) => {
                if !queue::finish(&mut conn, Queue::ReferenceJobs, job.id, worker, &report).await? {
                    return Err(AppError::Conflict(format!("job {}: the lease was lost to another worker", job.id)));
                }
                tracing::info!(
                    job_id = job.id,
                    kind = spec.kind.as_str(),
                    seconds = started.elapsed().as_secs_f64(),
                    "reference job done"
                );
                Ok(reference_jobs::get(&mut conn, job.id).await?)
            }
            Err(e) => {
                queue::fail(&mut conn, Queue::ReferenceJobs, job.id, worker, &e.to_string()).await?;
                Err(e)
            }
        }
    }
}

async fn record_queued(conn: &mut sqlx::PgConnection, id: i64, spec: &JobSpec, actor: &Actor) -> Result<(), AppError> {
    let rfc3339 =
        |t: Option<time::OffsetDateTime>| t.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
    dw_store::audit_log::append(
        conn,
        &dw_store::audit_log::NewEntry {
            actor: &actor.name,
            role: &actor.role,
            action: "reference_job.queue",
            target: &format!("reference_job:{id}"),
            before: None,
            after: Some(json!({
                "kind": spec.kind.as_str(), "set_id": spec.set_id, "control_id": spec.control_id,
                "control_ids": spec.control_ids, "sample": spec.sample,
                "from": rfc3339(spec.from), "to": rfc3339(spec.to),
            })),
        },
    )
    .await?;
    Ok(())
}
