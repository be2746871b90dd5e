//! distillwatch use cases, free of HTTP and CLI types.
//!
//! [`App`] is a cheap, cloneable handle over the database pool. The HTTP API
//! and the command line both call it, so a batch sent with `curl` and a file
//! loaded with `distillwatch ingest` go through the same validation,
//! de-duplication and transaction:
//!
//! - [`App::ingest`] stores a parsed batch in one transaction and logs it;
//! - [`App::create_key`], [`App::authenticate`], [`App::revoke_key`] manage
//!   API keys (only hashes are stored);
//! - [`App::embed_window`] stores vectors for a window's events that have none;
//! - [`App::apply_retention`] drops partitions older than the retention window;
//! - [`App::import_account_attributes`] stores what the provider knows of
//!   its accounts (opened when, org, country, payment and e-mail fingerprints);
//! - [`App::audit`] scores every account active in a window;
//! - [`App::queue_audit`], [`App::run_audit`], [`App::get_audit`]: audit
//!   jobs, claimed under a lease and published with their flags in one
//!   transaction;
//! - [`App::list_flags`], [`App::flag`], [`App::change_flag`],
//!   [`App::audit_log`]: the analysts' case workflow, every change on record;
//! - [`App::scored_accounts`], [`App::account_profile`], [`App::account_events`],
//!   [`App::account_timeline`]: what analysts read about accounts;
//! - [`App::allow_account`], [`App::disallow_account`], [`App::allowlist`]:
//!   accounts scored but never flagged, which audits read when they start;
//! - [`App::create_reference_set`], [`App::add_reference_items`],
//!   [`App::reference_sets`]: a suspect model's (or a control's) outputs;
//!   [`App::distillation_test`]: was the suspect trained on our outputs?
//!   [`App::attribution`]: which accounts were served what it reproduces?

mod accounts;
mod alignment;
mod allowlist;
mod attribution;
mod audit;
mod browse;
mod case_file;
mod cases;
mod compute;
mod console;
mod embedding;
mod error;
mod fingerprint;
mod ingest;
mod jobs;
mod keys;
mod otlp;
mod reference;
mod reference_jobs;
mod webhooks;

pub use otlp::{DEFAULT_JOIN_WAIT_SECONDS, Joined, Parts};

use std::sync::Arc;

use dw_store::PgPool;
use dw_store::partitions::PartitionCache;

pub use accounts::AttributesImport;
pub use attribution::{AccountAttribution, AttributionReport, ClusterAttribution, MatchedTriple};
pub use audit::{AuditWindow, Detector};
pub use browse::{AccountProfile, ClusterDetail};
pub use case_file::{
    CaseFile, CaseFormat, content_security_policy as case_file_content_security_policy, escape as escape_html,
};
pub use cases::{Actor, DecisionLabel, FlagChange};
pub use compute::Compute;
pub use console::{ConsoleSession, SESSION_PREFIX, SessionPolicy, SignIn, csrf_matches, csrf_token};
pub use dw_detect::flags::{FlagEvidence, candidates as flag_candidates};
pub use dw_detect::{DetectConfig, Verdict};
pub use dw_domain::{CaseAction, FlagStatus, SubjectKind};
pub use dw_embed::EmbedError;
pub use dw_store::account_views::{AccountFilter, AccountSort, ClusterView, EventView, Hour, ScoredAccount, Seen};
pub use dw_store::allowlist::Allowed;
pub use dw_store::audit_log::Entry as AuditLogEntry;
pub use dw_store::audits::{Audit, AuditSpec};
pub use dw_store::embeddings::Budget;
pub use dw_store::flags::{Flag, FlagFilter, HistoryEntry};
pub use dw_store::reference_jobs::{Job as ReferenceJob, JobKind as ReferenceJobKind, JobSpec as ReferenceJobSpec};
pub use dw_store::reference_sets::ReferenceSet;
pub use embedding::{EmbedJob, EmbedReport};
pub use error::AppError;
pub use fingerprint::{
    DEFAULT_SAMPLE as DEFAULT_FINGERPRINT_SAMPLE, FingerprintReport, MAX_SAMPLE as MAX_FINGERPRINT_SAMPLE,
};
pub use ingest::IngestBatch;
pub use jobs::{AuditOutcome, AuditSummary, DEFAULT_LEASE, JobDone};
pub use keys::{CreatedKey, KEY_PREFIX};
pub use reference::{
    AlignedExample, DistillationReport, EMBEDDED_ITEMS_PER_ACCOUNT, NewSet as NewReferenceSet, PanelAccount,
    PanelReport, ReferenceItemsOutcome,
};
pub use webhooks::{
    DeliveryRound, WebhookConfig, WebhookEndpoint, WebhookFormat, client as webhook_client, http_client,
    install_tls_provider, secret_key as webhook_secret_key, sign as sign_webhook,
};

/// Settings the use cases need.
#[derive(Debug, Clone, Default)]
pub struct AppConfig {
    /// Keep events for this many days; `None` keeps them forever (the default).
    pub retention_days: Option<u32>,
    /// Detector settings.
    pub detect: DetectConfig,
    /// Where flag events are sent.
    pub webhooks: WebhookConfig,
    /// Threads of the compute pool audits and attribution run their CPU
    /// work on (`audit.compute_threads`); 0 takes one per core.
    pub compute_threads: usize,
    /// How long half of an OTLP model call (a span without its messages, or
    /// a span's log records) waits for the other, in seconds
    /// (`ingest.otlp_join_wait_seconds`); `None` takes
    /// [`otlp::DEFAULT_JOIN_WAIT_SECONDS`].
    pub otlp_join_wait_seconds: Option<u64>,
    /// How many times a job (an audit, a reference run) is claimed before a
    /// lease that runs out fails it for good (`jobs.max_attempts`); `None`
    /// takes [`DEFAULT_MAX_JOB_ATTEMPTS`].
    pub max_job_attempts: Option<u32>,
    /// How long a worker's claim on a job lasts without a heartbeat, in
    /// seconds (`jobs.lease_seconds`): a worker that dies holding a job gives
    /// it up this long after its last heartbeat (`None`: [`DEFAULT_LEASE`]).
    pub job_lease_seconds: Option<u64>,
    /// Jobs (audits and reference runs) waiting at most; an analyst's
    /// request past it is refused as busy (`None`: [`DEFAULT_MAX_QUEUED_JOBS`]).
    pub max_queued_jobs: Option<u32>,
    /// The longest window an analyst's audit may cover, in days (`None`:
    /// [`DEFAULT_MAX_AUDIT_WINDOW_DAYS`]).
    pub max_audit_window_days: Option<u32>,
    /// What is redacted from events' texts before they are stored
    /// (`ingest.redact`; off by default).
    pub redaction: dw_ingest::Redaction,
}

/// What one pass of retention did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionRun {
    /// The event partitions dropped (their months' first days), with their
    /// events' keys and vectors.
    pub dropped: Vec<time::Date>,
    /// Flags whose evidence had its quoted prompts taken out.
    pub flags_expired: u64,
    /// Reference runs deleted with their reports.
    pub jobs_deleted: u64,
}

/// Claims of one job before it is given up, by default.
pub const DEFAULT_MAX_JOB_ATTEMPTS: u32 = 3;

/// See [`AppConfig::max_queued_jobs`].
pub const DEFAULT_MAX_QUEUED_JOBS: u32 = 100;

/// See [`AppConfig::max_audit_window_days`].
pub const DEFAULT_MAX_AUDIT_WINDOW_DAYS: u32 = 93;

impl AppConfig {
    /// The claims of one job before it is given up.
    pub fn max_job_attempts(&self) -> i32 {
        self.max_job_attempts.unwrap_or(DEFAULT_MAX_JOB_ATTEMPTS).clamp(1, 1_000) as i32
    }

    /// A worker's lease on a job (heartbeats come every third of it).
    pub fn job_lease(&self) -> std::time::Duration {
        self.job_lease_seconds.map_or(DEFAULT_LEASE, |s| std::time::Duration::from_secs(s.clamp(3, 3_600)))
    }
}

/// The embedding engine the app has: reference runs compare by meaning
/// with it, uploaded reference outputs are embedded with it, and, with a
/// budget, audits embed their sample of prompts with it before they score.
#[derive(Debug, Clone)]
pub struct ContentSampling {
    /// The encoder.
    pub handle: dw_embed::EmbedHandle,
    /// How many of each account's prompts an audit embeds; `None`: audits
    /// embed none and compute no content signals.
    pub budget: Option<dw_store::embeddings::Budget>,
    /// How stored vectors are encoded.
    pub dtype: dw_store::embeddings::VectorDtype,
}

/// The use cases, over one database pool.
#[derive(Debug, Clone)]
pub struct App {
    pool: PgPool,
    partitions: Arc<PartitionCache>,
    config: AppConfig,
    content: Option<ContentSampling>,
    compute: Compute,
}

impl App {
    /// Wraps a migrated pool, and starts the compute pool
    /// ([`AppConfig::compute_threads`]).
    ///
    /// # Panics
    ///
    /// When the compute pool's threads cannot be started (the process is
    /// out of threads or memory at startup).
    pub fn new(pool: PgPool, config: AppConfig) -> Self {
        let compute = match Compute::new(config.compute_threads) {
            Ok(compute) => compute,
            Err(e) => panic!("{e}"),
        };
        Self { pool, partitions: Arc::new(PartitionCache::default()), config, content: None, compute }
    }

    /// The same app (its compute pool, caches and embedding engine shared)
    /// over another pool of connections: `serve` answers requests over one
    /// whose statements time out, and runs background jobs over another.
    pub fn with_pool(&self, pool: PgPool) -> Self {
        Self { pool, ..self.clone() }
    }

    /// The pool CPU work runs on: shared by every clone of this app.
    pub fn compute(&self) -> &Compute {
        &self.compute
    }

    /// Audits first embed their sample of prompts (those not embedded yet)
    /// and read the stored vectors, so content signals are computed; without
    /// this they report "not computed".
    pub fn with_content(mut self, content: ContentSampling) -> Self {
        self.content = Some(content);
        self
    }

    /// The encoder audits embed with, when they do: what the API's
    /// distillation test measures meaning with.
    pub fn embedder(&self) -> Option<&dw_embed::EmbedHandle> {
        self.content.as_ref().map(|c| &c.handle)
    }

    /// The pool, for health checks and metrics.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether the database answers.
    pub async fn ready(&self) -> Result<(), AppError> {
        dw_store::ping(&self.pool).await?;
        Ok(())
    }

    /// Drops every event partition whose month ended more than the retention
    /// window before `now`. Does nothing when retention is off. Returns the
    /// first days of the months dropped.
    pub async fn apply_retention(&self, now: time::OffsetDateTime) -> Result<RetentionRun, AppError> {
        let Some(days) = self.config.retention_days else { return Ok(RetentionRun::default()) };
        let cutoff = (now - time::Duration::days(i64::from(days))).date();
        let dropped = dw_store::partitions::drop_before(&self.pool, &self.partitions, cutoff).await?;
        for month in &dropped {
            tracing::info!(%month, "retention dropped an event partition");
        }
        // What was copied out of the events goes too: the prompts quoted in
        // evidence that no audit has refreshed within the window, and the
        // reports of reference runs that finished before it.
        let cutoff_at = cutoff.midnight().assume_utc();
        let on = cutoff.to_string();
        let mut tx = self.pool.begin().await?;
        let mut flags_expired = 0;
        for (id, mut evidence) in dw_store::flags::stale_evidence(&mut tx, cutoff_at).await? {
            dw_detect::evidence::expire_excerpts(&mut evidence, &on);
            dw_store::flags::replace_evidence(&mut tx, id, &evidence).await?;
            flags_expired += 1;
        }
        let jobs_deleted = dw_store::reference_jobs::delete_finished_before(&mut tx, cutoff_at).await?;
        tx.commit().await?;
        if flags_expired > 0 || jobs_deleted > 0 {
            tracing::info!(flags_expired, jobs_deleted, "retention expired evidence excerpts and job reports");
        }
        Ok(RetentionRun { dropped, flags_expired, jobs_deleted })
    }
}
