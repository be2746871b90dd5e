//! Audit jobs: queued by the CLI, the API or the schedule, claimed from
//! PostgreSQL under a lease, and published in one transaction.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dw_detect::flags::{self, Action, Candidate, Stored};
use dw_domain::{JobState, SubjectKind};
use dw_store::audits::{self, Audit, AuditSpec};
use dw_store::flags::{Flag, FlagWrite};
use dw_store::queue::{self, Queue};
use serde::Serialize;
use serde_json::{Value, json};

use crate::audit::AuditWindow;
use crate::{App, AppError, Verdict};

/// How long a claimed audit is held without a heartbeat.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// What a worker's turn did ([`App::run_next_job`]).
#[derive(Debug)]
pub enum JobDone {
    /// An audit ran and was published.
    Audit(AuditOutcome),
    /// An attribution or distillation-test run finished.
    ReferenceJob(dw_store::reference_jobs::Job),
}

/// What a published audit did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditSummary {
    /// The detector and its weights' version.
    pub detector: String,
    /// The task-instruction classifier's version.
    pub classifier: String,
    /// Accounts scored.
    pub accounts: usize,
    /// Accounts flagged.
    pub flagged: usize,
    /// Clusters with a flagged member.
    pub clusters_flagged: usize,
    /// Whether it was a dry run (no flag touched).
    pub dry_run: bool,
    /// Flags opened.
    pub opened: usize,
    /// Open or confirmed flags refreshed.
    pub updated: usize,
    /// Dismissed flags opened again.
    pub reopened: usize,
    /// Dismissed flags left dismissed.
    pub kept_dismissed: usize,
}

/// A finished audit with its verdicts.
#[derive(Debug, Clone)]
pub struct AuditOutcome {
    /// The audit.
    pub audit_id: i64,
    /// What it did.
    pub summary: AuditSummary,
    /// Every account's verdict, with its evidence.
    pub verdicts: Vec<Verdict>,
}

impl App {
    /// Queues an audit; a worker (or [`App::run_audit`]) runs it.
    pub async fn queue_audit(&self, spec: &AuditSpec) -> Result<i64, AppError> {
        AuditWindow::new(spec.from, spec.to)?;
        let mut conn = self.pool.acquire().await?;
        Ok(audits::enqueue(&mut conn, spec).await?)
    }

    /// Queues an audit for a person or service, on record in the audit log.
    pub async fn queue_audit_for(&self, spec: &AuditSpec, actor: &crate::Actor) -> Result<i64, AppError> {
        AuditWindow::new(spec.from, spec.to)?;
        let max_days = self.config.max_audit_window_days.unwrap_or(crate::DEFAULT_MAX_AUDIT_WINDOW_DAYS);
        let days = (spec.to - spec.from).as_seconds_f64() / 86_400.0;
        if days > f64::from(max_days) {
            return Err(AppError::Invalid(format!(
                "to: the window covers {days:.1} days, more than one audit may (audit.max_window_days = {max_days}): \
                 audit it in parts"
            )));
        }
        let mut tx = self.pool.begin().await?;
        self.admit_job(&mut tx).await?;
        let id = audits::enqueue(&mut tx, spec).await?;
        let rfc3339 = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).ok();
        dw_store::audit_log::append(
            &mut tx,
            &dw_store::audit_log::NewEntry {
                actor: &actor.name,
                role: &actor.role,
                action: "audit.queue",
                target: &format!("audit:{id}"),
                before: None,
                after: Some(json!({
                    "from": rfc3339(spec.from), "to": rfc3339(spec.to), "accounts": spec.accounts,
                    "model": spec.model, "dry_run": spec.dry_run,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Refuses a new job while as many as `jobs.max_queued` wait in the
    /// queues (audits and reference runs together); holds the admission lock
    /// for the rest of the transaction, so concurrent requests are counted
    /// one after the other.
    pub(crate) async fn admit_job(&self, conn: &mut sqlx::PgConnection) -> Result<(), AppError> {
        let cap = i64::from(self.config.max_queued_jobs.unwrap_or(crate::DEFAULT_MAX_QUEUED_JOBS));
        let waiting = queue::lock_admission_and_count_waiting(conn).await?;
        if waiting >= cap {
            metrics::counter!("distillwatch_jobs_refused_total").increment(1);
            return Err(AppError::Busy(format!(
                "{waiting} jobs are waiting, the most the queue takes (jobs.max_queued): retry when some have run"
            )));
        }
        Ok(())
    }

    /// Queues a scheduled audit of `[now - days, now)` unless the last
    /// scheduled audit's window ended less than `every` before `now`; returns
    /// its id when it queued one. The check
    /// and the insert hold a transaction-scoped advisory lock, so several
    /// servers on one database queue one audit a period between them.
    pub async fn schedule_audit(
        &self,
        now: time::OffsetDateTime,
        every: time::Duration,
        days: time::Duration,
    ) -> Result<Option<i64>, AppError> {
        let mut tx = self.pool.begin().await?;
        audits::lock_schedule(&mut tx).await?;
        if audits::latest_window_end(&mut tx, "schedule").await?.is_some_and(|last| now - last < every) {
            return Ok(None);
        }
        let spec = AuditSpec {
            from: now - days,
            to: now,
            accounts: None,
            model: None,
            dry_run: false,
            requested_by: "schedule".into(),
        };
        let id = audits::enqueue(&mut tx, &spec).await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Audits before `before` (`None`: the newest), newest first, at most `limit`.
    pub async fn recent_audits(&self, before: Option<i64>, limit: i64) -> Result<Vec<Audit>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(dw_store::audits::recent(&mut conn, before, limit).await?)
    }

    /// An account's scores in the finished audits that scored it, newest
    /// first, at most `limit`: (audit, its window's end, risk, level, flagged).
    pub async fn account_scores(
        &self,
        account_id: &str,
        limit: i64,
    ) -> Result<Vec<(i64, time::OffsetDateTime, f64, String, bool)>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(dw_store::audits::account_history(&mut conn, account_id, limit).await?)
    }

    /// An audit's state, progress and summary.
    pub async fn get_audit(&self, id: i64) -> Result<Option<Audit>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(audits::get(&mut conn, id).await?)
    }

    /// Claims the oldest claimable audit (or audit `only`) for `worker`, runs
    /// it and publishes it; `None` when there is nothing to claim. A failed
    /// run is marked failed with its error; a run whose lease was lost to
    /// another worker publishes nothing.
    pub async fn run_audit(&self, worker: &str, only: Option<i64>) -> Result<Option<AuditOutcome>, AppError> {
        let Some(id) = self.claim_job(Queue::Audits, worker, only).await? else {
            return Ok(None);
        };
        let audit = self.get_audit(id).await?.ok_or_else(|| AppError::NotFound(format!("audit {id}")))?;
        let progress = Arc::new(Mutex::new(json!({"stage": "scoring"})));
        let heartbeat = self.spawn_heartbeat(Queue::Audits, audit.id, worker, progress.clone());
        let started = std::time::Instant::now();
        let result = self.score_and_publish(&audit, worker, &progress).await;
        heartbeat.abort();
        metrics::histogram!("distillwatch_audit_seconds").record(started.elapsed().as_secs_f64());
        let state = if result.is_ok() { JobState::Done } else { JobState::Failed }.as_str();
        metrics::counter!("distillwatch_audits_total", "state" => state).increment(1);
        match result {
            Ok(outcome) => Ok(Some(outcome)),
            Err(e) => {
                let mut conn = self.pool.acquire().await?;
                queue::fail(&mut conn, Queue::Audits, audit.id, worker, &e.to_string()).await?;
                Err(e)
            }
        }
    }

    /// One turn of a worker: the oldest audit it can claim, else the oldest
    /// attribution or distillation-test run (flags wait on audits); `None`
    /// when there is nothing to do.
    pub async fn run_next_job(&self, worker: &str) -> Result<Option<JobDone>, AppError> {
        if let Some(outcome) = self.run_audit(worker, None).await? {
            return Ok(Some(JobDone::Audit(outcome)));
        }
        Ok(self.run_reference_job(worker, None).await?.map(JobDone::ReferenceJob))
    }

    /// Gives up the jobs of `queue` whose lease ran out on every allowed
    /// attempt, then claims the oldest claimable one (or `only`) for
    /// `worker` under its lease ([`AppConfig::job_lease`]).
    pub(crate) async fn claim_job(
        &self,
        queue: Queue,
        worker: &str,
        only: Option<i64>,
    ) -> Result<Option<i64>, AppError> {
        let mut conn = self.pool.acquire().await?;
        let max_attempts = self.config.max_job_attempts();
        for id in queue::give_up_exhausted(&mut conn, queue, max_attempts).await? {
            metrics::counter!("distillwatch_jobs_given_up_total", "kind" => queue.name()).increment(1);
            tracing::error!(job = queue.name(), id, max_attempts, "job given up: its lease ran out on every attempt");
        }
        Ok(queue::claim(&mut conn, queue, worker, self.config.job_lease(), only, max_attempts).await?)
    }

    /// Extends `worker`'s lease on job `id` of `queue` every third of
    /// lease ([`AppConfig::job_lease`]), recording `progress`, until aborted
    /// or the lease is lost.
    pub(crate) fn spawn_heartbeat(
        &self,
        kind: Queue,
        id: i64,
        worker: &str,
        progress: Arc<Mutex<Value>>,
    ) -> tokio::task::JoinHandle<()> {
        let pool = self.pool.clone();
        let worker = worker.to_owned();
        let lease = self.config.job_lease();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(lease / 3);
            tick.tick().await;
            loop {
                tick.tick().await;
                let current = progress.lock().map(|p| p.clone()).unwrap_or(Value::Null);
                let alive = match pool.acquire().await {
                    Ok(mut conn) => queue::heartbeat(&mut conn, kind, id, &worker, lease, &current).await,
                    Err(e) => Err(e.into()),
                };
                match alive {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(job = kind.name(), id, "lease lost: another worker holds the job");
                        return;
                    }
                    Err(e) => tracing::warn!(job = kind.name(), id, error = %e, "heartbeat failed"),
                }
            }
        })
    }

    async fn score_and_publish(
        &self,
        audit: &Audit,
        worker: &str,
        progress: &Mutex<Value>,
    ) -> Result<AuditOutcome, AppError> {
        let spec = &audit.spec;
        let mut window = AuditWindow::new(spec.from, spec.to)?;
        if let Some(accounts) = &spec.accounts {
            window = window.with_accounts(accounts.clone());
        }
        if let Some(model) = &spec.model {
            window = window.with_model(model.clone());
        }
        let verdicts = self.audit_verdicts(&window).await?;
        if let Ok(mut p) = progress.lock() {
            *p = json!({"stage": "publishing", "accounts": verdicts.len()});
        }
        let candidates = flags::candidates(&verdicts)
            .map_err(|e| AppError::Internal(format!("an evidence bundle could not be written: {e}")))?;
        let mut summary = AuditSummary {
            detector: dw_detect::Weights::builtin().version.clone(),
            classifier: dw_detect::content::InstructionClassifier::builtin().version.clone(),
            accounts: verdicts.len(),
            flagged: verdicts.iter().filter(|v| v.score.flagged).count(),
            clusters_flagged: candidates.iter().filter(|c| c.subject == SubjectKind::Cluster).count(),
            dry_run: spec.dry_run,
            ..AuditSummary::default()
        };
        let publishing = std::time::Instant::now();
        let mut tx = self.pool.begin().await?;
        let scores: Vec<_> = verdicts.iter().map(|v| v.score.clone()).collect();
        let requests: Vec<i64> = verdicts.iter().map(|v| v.requests as i64).collect();
        audits::store_scores(&mut tx, audit.id, &scores, &requests).await?;
        // Each cluster's reason (as its last member tells it) and its edges,
        // written out once per cluster (its members share one list).
        let mut clusters: std::collections::BTreeMap<String, (String, Value)> = std::collections::BTreeMap::new();
        for v in &verdicts {
            let Some(id) = &v.score.cluster_id else { continue };
            let reason = v.link_reason.clone().unwrap_or_default();
            match clusters.get_mut(id) {
                Some(entry) => entry.0 = reason,
                None => {
                    let edges = v.cluster_edges.as_deref().map_or(Value::Array(Vec::new()), |e| json!(e));
                    clusters.insert(id.clone(), (reason, edges));
                }
            }
        }
        let clusters: Vec<(String, String, Value)> =
            clusters.into_iter().map(|(id, (reason, edges))| (id, reason, edges)).collect();
        audits::store_clusters(&mut tx, audit.id, &clusters).await?;
        if !spec.dry_run {
            self.apply_flags(&mut tx, audit.id, &candidates, &mut summary).await?;
        }
        let summary_json = serde_json::to_value(&summary).unwrap_or(Value::Null);
        if !queue::finish(&mut tx, Queue::Audits, audit.id, worker, &summary_json).await? {
            tx.rollback().await?;
            return Err(AppError::Conflict(format!("audit {}: the lease was lost to another worker", audit.id)));
        }
        tx.commit().await?;
        for (action, count) in [
            ("opened", summary.opened),
            ("updated", summary.updated),
            ("reopened", summary.reopened),
            ("kept_dismissed", summary.kept_dismissed),
        ] {
            metrics::counter!("distillwatch_flag_actions_total", "action" => action).increment(count as u64);
        }
        metrics::histogram!("distillwatch_audit_stage_seconds", "stage" => "publishing")
            .record(publishing.elapsed().as_secs_f64());
        metrics::counter!("distillwatch_accounts_scored_total").increment(summary.accounts as u64);
        tracing::info!(
            audit_id = audit.id,
            accounts = summary.accounts,
            flagged = summary.flagged,
            opened = summary.opened,
            reopened = summary.reopened,
            dry_run = summary.dry_run,
            publish_ms = publishing.elapsed().as_millis() as u64,
            "audit published"
        );
        Ok(AuditOutcome { audit_id: audit.id, summary, verdicts })
    }

    async fn apply_flags(
        &self,
        conn: &mut sqlx::PgConnection,
        audit_id: i64,
        candidates: &[Candidate],
        summary: &mut AuditSummary,
    ) -> Result<(), AppError> {
        let subjects: Vec<(SubjectKind, &str)> = candidates.iter().map(|c| (c.subject, c.id.as_str())).collect();
        let existing = dw_store::flags::for_subjects(conn, &subjects).await?;
        let margin = self.config.detect.flags.reopen_margin;
        for candidate in candidates {
            let key = (candidate.subject, candidate.id.clone());
            let stored = existing.get(&key);
            let state = stored.map(stored_state);
            let write = FlagWrite {
                subject_kind: candidate.subject,
                subject_id: candidate.id.clone(),
                risk: candidate.risk,
                level: candidate.level,
                fired: candidate.fired.clone(),
                reason: candidate.reason.clone(),
                evidence: candidate.evidence.clone(),
            };
            match (flags::decide(state.as_ref(), candidate.risk, &candidate.fired, margin), stored) {
                // `decide` updates or reopens only a stored flag; without one there is only opening.
                (Action::Open | Action::Update | Action::Reopen { .. }, None) | (Action::Open, Some(_)) => {
                    let id = dw_store::flags::open(conn, &write, audit_id).await?;
                    summary.opened += 1;
                    self.notify(conn, "flag.opened", id).await?;
                }
                (Action::Update, Some(flag)) => {
                    dw_store::flags::refresh(conn, flag.id, &write, audit_id, None).await?;
                    summary.updated += 1;
                }
                (Action::Reopen { because }, Some(flag)) => {
                    dw_store::flags::refresh(conn, flag.id, &write, audit_id, Some(&because)).await?;
                    summary.reopened += 1;
                    self.notify(conn, "flag.reopened", flag.id).await?;
                }
                (Action::KeepDismissed, _) => summary.kept_dismissed += 1,
            }
        }
        Ok(())
    }
}

impl App {
    /// Queues the webhooks of a flag event, when any endpoint is configured.
    pub(crate) async fn notify(
        &self,
        conn: &mut sqlx::PgConnection,
        event_type: &str,
        id: i64,
    ) -> Result<(), AppError> {
        if self.config.webhooks.endpoints.is_empty() {
            return Ok(());
        }
        let flag = dw_store::flags::get(conn, id).await?.ok_or_else(|| AppError::NotFound(format!("flag {id}")))?;
        crate::webhooks::enqueue(conn, &self.config.webhooks, event_type, &flag).await
    }
}

fn stored_state(flag: &Flag) -> Stored {
    Stored {
        status: flag.status,
        dismissed_risk: flag.dismissed_risk,
        dismissed_fired: flag.dismissed_fired.clone().unwrap_or_default(),
    }
}
