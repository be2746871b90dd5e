//! The audit use case: score every account active in a window.
//!
//! The same use case serves `distillwatch audit`, the evaluator's replays and
//! (later) scheduled audits, so what is measured is what runs.

use std::sync::Arc;

use dw_detect::{AccountActivity, DetectConfig, Verdict};
use dw_domain::AccountScore;
use time::OffsetDateTime;

use crate::{App, AppError, Compute};

/// The detectors an audit can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Detector {
    /// Per-account signals, weighted (`dw_detect::scoring`).
    Signals,
    /// Risk from the request count alone: the yardstick's floor.
    Baseline,
}

impl Detector {
    /// The detector audits use unless told otherwise.
    pub const DEFAULT: Detector = Detector::Signals;

    /// The detector's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Detector::Signals => dw_detect::Weights::builtin().version.as_str(),
            Detector::Baseline => dw_detect::Baseline::NAME,
        }
    }
}

/// What an audit covers: a window (`from` inclusive, `to` exclusive),
/// optionally narrowed to a tip-off list of accounts and to one model.
///
/// A narrowed audit scores and links only the accounts it sees: risks use
/// absolute transforms and do not move, but clusters form only among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditWindow {
    /// First instant included.
    pub from: OffsetDateTime,
    /// First instant excluded.
    pub to: OffsetDateTime,
    /// Only these accounts, when given.
    pub accounts: Option<Vec<String>>,
    /// Only requests to this model, when given.
    pub model: Option<String>,
    /// Read the prompt vectors of this embedding model (content signals), when given.
    pub vectors_of: Option<String>,
}

impl AuditWindow {
    /// A window over every account and model; `Invalid` unless `from` is before `to`.
    pub fn new(from: OffsetDateTime, to: OffsetDateTime) -> Result<Self, AppError> {
        if from >= to {
            return Err(AppError::Invalid(format!("the window is empty: --from {from} is not before --to {to}")));
        }
        Ok(Self { from, to, accounts: None, model: None, vectors_of: None })
    }

    /// Only these accounts.
    pub fn with_accounts(mut self, accounts: Vec<String>) -> Self {
        self.accounts = Some(accounts);
        self
    }

    /// Only requests to this model.
    pub fn with_model(mut self, model: String) -> Self {
        self.model = Some(model);
        self
    }

    /// Content signals read the prompt vectors this embedding model stored.
    pub fn with_vectors_of(mut self, model_id: String) -> Self {
        self.vectors_of = Some(model_id);
        self
    }

    fn selection(&self) -> dw_store::activity::Selection<'_> {
        dw_store::activity::Selection {
            from: self.from,
            to: self.to,
            accounts: self.accounts.as_deref(),
            model: self.model.as_deref(),
            vectors_of: self.vectors_of.as_deref(),
        }
    }
}

/// How many of the window's stored prompt vectors its topics are fitted on.
pub const TOPIC_SAMPLE: i64 = 4096;

/// The window's topics, fitted on a sample of its stored prompt vectors
/// (all of the window's accounts, even when the audit is narrowed: topics
/// describe the window's traffic), when the audit reads vectors.
async fn window_topics(
    conn: &mut sqlx::PgConnection,
    window: &AuditWindow,
) -> Result<Option<dw_detect::topics::Topics>, AppError> {
    let Some(model_id) = window.vectors_of.as_deref() else {
        return Ok(None);
    };
    let field = dw_store::embeddings::Field::Prompt;
    let sample =
        dw_store::embeddings::window_sample(conn, window.from, window.to, field, model_id, TOPIC_SAMPLE).await?;
    let topics = dw_detect::topics::Topics::fit(&sample);
    tracing::debug!(sample = sample.len(), topics = topics.as_ref().map_or(0, |t| t.len()), "window topics");
    Ok(topics)
}

/// Streams the window's requests account by account and reduces each
/// account to its signals on the compute pool while the next streams in:
/// memory holds the accounts in flight, a few per compute thread.
async fn account_signals(
    conn: &mut sqlx::PgConnection,
    window: &AuditWindow,
    topics: Option<Arc<dw_detect::topics::Topics>>,
    with_evidence: bool,
    compute: &Compute,
) -> Result<Vec<dw_detect::AccountSignals>, AppError> {
    use futures_util::{StreamExt, TryStreamExt};
    let mut attributes = dw_store::attributes::for_selection(conn, window.selection()).await?;
    let mut stream = std::pin::pin!(dw_store::activity::stream_requests(conn, window.selection()));
    let in_flight = 2 * compute.threads() + 2;
    let mut pending = futures_util::stream::FuturesOrdered::new();
    let mut accounts = Vec::new();
    let mut current: Vec<dw_domain::RequestRecord> = Vec::new();
    loop {
        let record = stream.try_next().await?;
        let next_account = match &record {
            Some(r) => current.first().is_some_and(|first| first.account_id != r.account_id),
            None => !current.is_empty(),
        };
        if next_account {
            let requests = std::mem::take(&mut current);
            let own = attributes.remove(&requests[0].account_id);
            let topics = topics.clone();
            pending.push_back(compute.spawn("account signals", move || {
                dw_detect::AccountSignals::from_requests(&requests, own, topics.as_deref(), with_evidence)
            }));
            while pending.len() >= in_flight {
                if let Some(done) = pending.next().await {
                    accounts.extend(done?);
                }
            }
        }
        match record {
            Some(record) => current.push(record),
            None => break,
        }
    }
    while let Some(done) = pending.next().await {
        accounts.extend(done?);
    }
    Ok(accounts)
}

/// Each linked cluster's requests merged into one time-ordered stream and
/// reduced to signals, as one account ([`dw_detect::operator`]): the members
/// are read again after linking, one cluster's read at a time while the
/// clusters read before it are reduced on the compute pool.
async fn operator_signals(
    conn: &mut sqlx::PgConnection,
    window: &AuditWindow,
    verdicts: &[Verdict],
    topics: Option<Arc<dw_detect::topics::Topics>>,
    compute: &Compute,
) -> Result<Vec<(dw_detect::operator::Reading, dw_detect::operator::Merged)>, AppError> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    // One cluster is read while the ones before it compute, a few in flight.
    let in_flight = compute.threads() + 1;
    let mut pending = futures_util::stream::FuturesOrdered::new();
    for reading in dw_detect::operator::readings(verdicts) {
        let selection = dw_store::activity::Selection { accounts: Some(&reading.accounts), ..window.selection() };
        let mut requests = dw_store::activity::requests_of_accounts(conn, selection).await?;
        let topics = topics.clone();
        pending.push_back(compute.spawn("operator signals", move || {
            // Stable: one account's requests at one instant keep their order.
            requests.sort_by_key(|r| r.ts_ms);
            dw_detect::operator::Merged::of(&requests, topics.as_deref()).map(|merged| (reading, merged))
        }));
        while pending.len() >= in_flight {
            if let Some(done) = pending.next().await {
                out.extend(done?);
            }
        }
    }
    while let Some(done) = pending.next().await {
        out.extend(done?);
    }
    Ok(out)
}

impl App {
    /// Scores every account with at least one request in the window, in
    /// account order.
    pub async fn audit(&self, window: &AuditWindow, detector: Detector) -> Result<Vec<AccountScore>, AppError> {
        let mut conn = self.pool.acquire().await?;
        let config: &DetectConfig = &self.detect_config_now(&mut conn).await?;
        let scores = match detector {
            Detector::Signals => {
                drop(conn);
                self.signal_verdicts(window, false).await?.into_iter().map(|v| v.score).collect()
            }
            Detector::Baseline => {
                let counts = dw_store::activity::request_counts(&mut conn, window.selection()).await?;
                let activity: Vec<AccountActivity> = counts
                    .into_iter()
                    .map(|(account_id, n)| AccountActivity { account_id, requests: n.max(0) as u64 })
                    .collect();
                config.baseline.score(&activity, &config.levels, &config.flags)
            }
        };
        tracing::debug!(
            detector = detector.name(),
            accounts = scores.len(),
            flagged = scores.iter().filter(|s| s.flagged).count(),
            "audit done"
        );
        Ok(scores)
    }

    /// The signal detector's verdicts, with everything behind each score:
    /// every signal with its value, counts, example events, percentile,
    /// weight and contribution, and the reason of the account's link.
    pub async fn audit_verdicts(&self, window: &AuditWindow) -> Result<Vec<Verdict>, AppError> {
        self.signal_verdicts(window, true).await
    }

    async fn signal_verdicts(&self, window: &AuditWindow, with_evidence: bool) -> Result<Vec<Verdict>, AppError> {
        let started = std::time::Instant::now();
        let mut window = window.clone();
        if let Some(content) = &self.content
            && let Some(budget) = content.budget
        {
            let job = crate::EmbedJob {
                from: window.from,
                to: window.to,
                budget,
                fields: vec![dw_store::embeddings::Field::Prompt],
                dtype: content.dtype,
                chunk: 256,
            };
            let report = self.embed_window(&content.handle, &job, |_, _| {}).await?;
            tracing::debug!(embedded = report.written, "audit sample embedded");
            window.vectors_of = Some(content.handle.model_id().to_owned());
        }
        let mut conn = self.pool.acquire().await?;
        let topics = window_topics(&mut conn, &window).await?.map(Arc::new);
        let embedded = started.elapsed();
        let compute = &self.compute;
        let mut accounts = account_signals(&mut conn, &window, topics.clone(), with_evidence, compute).await?;
        // The suspects' outputs, when analysts uploaded any: the reference_match signal.
        if let Some(scan) = self.reference_scan(&mut conn, window.selection(), None, false).await? {
            tracing::debug!(sets = ?scan.sets, items = scan.items, "completions read against reference sets");
            for account in &mut accounts {
                let matches = scan.per_account.get(&account.account_id);
                account.set_signal(dw_detect::reference::reference_match_signal(&scan.sets, matches));
            }
        }
        // A suspect set with a control set: the per-account distillation test, the reference_test signal.
        let scope =
            crate::alignment::ServedScope { accounts: window.accounts.as_deref(), model: window.model.as_deref() };
        let (pairs, tests) =
            crate::reference::window_account_tests(self, &mut conn, window.from, window.to, scope).await?;
        if pairs > 0 {
            tracing::debug!(pairs, accounts = tests.len(), "per-account distillation tests");
            for account in &mut accounts {
                let test = tests.get(&account.account_id);
                account.set_signal(dw_detect::reference::reference_test_signal(pairs, test));
            }
        }
        let signals_done = started.elapsed();
        let config = self.detect_config_now(&mut conn).await?;
        let weights = dw_detect::Weights::builtin();
        let scoring = config.clone();
        let verdicts = compute
            .run("scoring and linking", move || dw_detect::score_population(accounts, &scoring, weights))
            .await?;
        let linked = started.elapsed();
        let operators = operator_signals(&mut conn, &window, &verdicts, topics, compute).await?;
        let verdicts = compute
            .run("operator scoring", move || {
                let mut verdicts = verdicts;
                dw_detect::operator::score_operators(&mut verdicts, operators, &config, weights);
                verdicts
            })
            .await?;
        let mut seen = std::collections::BTreeSet::new();
        for op in verdicts.iter().filter_map(|v| v.operator.as_ref()).filter(|op| seen.insert(&op.cluster_id)) {
            tracing::debug!(
                cluster = op.cluster_id,
                members = op.members,
                requests = op.requests,
                risk = op.risk,
                top = ?op.top_signals.iter().map(|c| c.signal.as_str()).collect::<Vec<_>>(),
                "operator"
            );
        }
        for (stage, took) in [
            ("embed_sample", embedded),
            ("stream_and_signals", signals_done - embedded),
            ("scoring_and_linking", linked - signals_done),
            ("operators", started.elapsed() - linked),
        ] {
            metrics::histogram!("distillwatch_audit_stage_seconds", "stage" => stage).record(took.as_secs_f64());
        }
        tracing::debug!(
            embed_sample_ms = embedded.as_millis() as u64,
            stream_and_signals_ms = (signals_done - embedded).as_millis() as u64,
            scoring_and_linking_ms = (linked - signals_done).as_millis() as u64,
            operators_ms = (started.elapsed() - linked).as_millis() as u64,
            "audit stages"
        );
        Ok(verdicts)
    }

    /// Request times (Unix seconds) per account in the window, for evaluators.
    pub async fn request_times(&self, window: &AuditWindow) -> Result<Vec<(String, Vec<i64>)>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(dw_store::activity::request_times(&mut conn, window.from, window.to).await?)
    }

    /// The first and last stored event times.
    pub async fn event_time_range(&self) -> Result<Option<(OffsetDateTime, OffsetDateTime)>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(dw_store::activity::time_range(&mut conn).await?)
    }
}
