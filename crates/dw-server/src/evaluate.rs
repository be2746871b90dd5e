//! `distillwatch simulate`, `audit` and `eval`: labelled traffic, the
//! per-account scores file, and the detection-quality report.
//!
//! `eval` runs what the service runs: it ingests the events into a throwaway
//! database (on the configured server or the embedded cluster) with the same
//! ingest path as `distillwatch ingest`, replays the audit use case at every
//! daily checkpoint of the window (so it can tell how many requests an
//! attacker got before the first flag), and joins the final audit with the
//! labels. Several simulated seeds are pooled, with account ids prefixed by
//! their seed.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use dw_app::{App, AuditWindow, Detector};
use dw_domain::AccountScore;
use dw_domain::score::SCORES_CSV_HEADER;
use dw_sim::evaluation::{self, Report, RequestTimes, Verdicts};
use dw_sim::labels::LabelRow;
use dw_sim::{Corpus, SimConfig};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::database::Database;
use crate::settings::Settings;

/// Parses `--from`/`--to`/`--start` values: RFC 3339, or a date (its midnight, UTC).
pub fn parse_instant(flag: &str, value: &str) -> anyhow::Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(t);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, &format)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| anyhow::anyhow!("{flag} {value:?} is neither an RFC 3339 timestamp nor a date (YYYY-MM-DD)"))
}

/// Where `simulate` writes.
#[derive(Debug, Clone)]
pub struct SimulateArgs {
    /// What to simulate.
    pub config: SimConfig,
    /// The data folder (layout of `../shared/data`).
    pub data: PathBuf,
    /// The events file.
    pub out: PathBuf,
    /// The labels file.
    pub labels: PathBuf,
    /// The account attributes file, when asked for.
    pub accounts: Option<PathBuf>,
    /// Only this half of the data, when given.
    pub half: Option<dw_sim::corpus::Half>,
}

/// `distillwatch simulate`: writes events and labels (and account
/// attributes when asked), prints a summary.
pub fn simulate(args: &SimulateArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let corpus = load_corpus_half(&args.data, args.half)?;
    let sim = dw_sim::simulate(args.config, &corpus)?;
    write_simulation(&sim, &args.out, &args.labels, args.accounts.as_deref())?;
    let attackers = sim.accounts.iter().filter(|a| a.label() == 1).count();
    eprintln!(
        "simulated {} accounts ({} with extraction) and {} events over {} days from {} (seed {}, scale {}) in {:.1} s",
        sim.accounts.len(),
        attackers,
        sim.events.len(),
        sim.config.days,
        sim.config.start,
        sim.config.seed,
        sim.config.scale,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The whole corpus, or one half of it.
fn load_corpus_half(data: &Path, half: Option<dw_sim::corpus::Half>) -> anyhow::Result<Corpus> {
    match half {
        None => load_corpus(data),
        Some(half) => Corpus::load_half(data, Some(half))
            .with_context(|| format!("cannot read the {half:?} half of {}", data.display())),
    }
}

fn load_corpus(data: &Path) -> anyhow::Result<Corpus> {
    Corpus::load(data).with_context(|| {
        format!(
            "cannot read the text the simulator is made of from {} (pass --data with a folder laid out like \
             ../shared/data; the repository ships a sample in data/sample)",
            data.display()
        )
    })
}

pub(crate) fn write_simulation(
    sim: &dw_sim::Simulation,
    out: &Path,
    labels: &Path,
    accounts: Option<&Path>,
) -> anyhow::Result<()> {
    write_logged_simulation(sim, dw_sim::output::LoggedFields::default(), out, labels, accounts)
}

/// [`write_simulation`] with only the `logged` fields in the events.
pub(crate) fn write_logged_simulation(
    sim: &dw_sim::Simulation,
    logged: dw_sim::output::LoggedFields,
    out: &Path,
    labels: &Path,
    accounts: Option<&Path>,
) -> anyhow::Result<()> {
    let create = |path: &Path| {
        std::fs::File::create(path)
            .map(std::io::BufWriter::new)
            .with_context(|| format!("cannot write {}", path.display()))
    };
    dw_sim::output::write_logged_events(sim, logged, create(out)?)
        .with_context(|| format!("writing {}", out.display()))?;
    dw_sim::output::write_labels(sim, create(labels)?).with_context(|| format!("writing {}", labels.display()))?;
    if let Some(path) = accounts {
        dw_sim::attributes::write_attributes(&dw_sim::attributes::account_attributes(sim), create(path)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `distillwatch audit`: queues an audit of the window, runs it here and
/// publishes it (its scores, and unless `--dry-run` its flags); writes one
/// CSV row per account (`-` writes to stdout) and the flagged accounts'
/// evidence when asked.
pub async fn audit(settings: &Settings, args: &AuditArgs) -> anyhow::Result<()> {
    let (from, to) = (parse_instant("--from", &args.from)?, parse_instant("--to", &args.to)?);
    let accounts = args.accounts.as_deref().map(read_account_list).transpose()?;
    let content = crate::embed_files::content_sampling(&settings.embed).await?;
    let db = Database::open(&settings.database).await?;
    let mut app = App::new(db.pool.clone(), crate::cli::app_config(settings));
    if let Some(content) = content {
        app = app.with_content(content);
    }
    let spec = dw_app::AuditSpec {
        from,
        to,
        accounts,
        model: args.model.clone(),
        dry_run: args.dry_run,
        requested_by: "cli".into(),
    };
    let worker = format!("cli-{}", std::process::id());
    let outcome = async {
        let id = app.queue_audit(&spec).await?;
        app.run_audit(&worker, Some(id)).await?.with_context(|| format!("audit {id} was claimed by another worker"))
    }
    .await;
    db.close().await?;
    let outcome = outcome?;
    if let Some(output) = &args.output {
        let scores: Vec<AccountScore> = outcome.verdicts.iter().map(|v| v.score.clone()).collect();
        write_scores(&scores, output)?;
    }
    if let Some(path) = &args.evidence {
        write_evidence(&outcome.verdicts, path)?;
    }
    let s = &outcome.summary;
    let flags = if s.dry_run {
        "dry run: no flag opened, updated or reopened".to_owned()
    } else {
        format!(
            "flags: {} opened, {} updated, {} reopened, {} left dismissed",
            s.opened, s.updated, s.reopened, s.kept_dismissed
        )
    };
    eprintln!(
        "audit {} of [{}, {}) with {}: {} accounts, {} flagged, {} clusters with a flagged member; {flags}",
        outcome.audit_id, args.from, args.to, s.detector, s.accounts, s.flagged, s.clusters_flagged
    );
    Ok(())
}

/// `audit` options.
#[derive(Debug, Clone)]
pub struct AuditArgs {
    /// Window start.
    pub from: String,
    /// Window end (exclusive).
    pub to: String,
    /// The scores file (`-`: stdout).
    pub output: Option<PathBuf>,
    /// A file of account ids, one per line, to narrow the audit to.
    pub accounts: Option<PathBuf>,
    /// A model to narrow the audit to.
    pub model: Option<String>,
    /// Write the flagged accounts' evidence here (JSON Lines).
    pub evidence: Option<PathBuf>,
    /// Score and store the scores, but open, update and reopen no flag.
    pub dry_run: bool,
}

/// One JSON object per flagged account: the same evidence bundle its flag
/// stores (its score, every signal with value, counts, example events,
/// percentile, weight and contribution, its link with the linked accounts,
/// its riskiest end user, its attributes and its activity at a glance).
fn write_evidence(verdicts: &[dw_app::Verdict], path: &Path) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
    );
    for candidate in dw_app::flag_candidates(verdicts)?.iter().filter(|c| c.subject == dw_app::SubjectKind::Account) {
        serde_json::to_writer(&mut out, &candidate.evidence)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Account ids, one per line (blank lines and `#` comments skipped).
fn read_account_list(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let accounts: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect();
    anyhow::ensure!(!accounts.is_empty(), "{}: no account ids (one per line)", path.display());
    Ok(accounts)
}

fn write_scores(scores: &[AccountScore], output: &Path) -> anyhow::Result<()> {
    let mut out: Box<dyn Write> = if output.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(output).with_context(|| format!("cannot write {}", output.display()))?,
        ))
    };
    writeln!(out, "{SCORES_CSV_HEADER}")?;
    for score in scores {
        writeln!(out, "{}", score.csv_row())?;
    }
    out.flush()?;
    Ok(())
}

/// A named set of simulations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Suite {
    /// Two seeds at scale 0.2 (about 300 accounts each): minutes, for CI;
    /// resolves the 1% operating point.
    Small,
    /// Three seeds at scale 1.6 (over 2,000 benign accounts each): resolves
    /// the 0.1% operating point.
    Standard,
    /// The frozen test suite: the seeds, scale and text committed in
    /// `tests/eval/frozen.json` (over 6,000 benign accounts pooled),
    /// evaluated once per detector version and never used to choose a rule.
    Frozen,
}

/// The frozen suite's definition, committed under `tests/eval/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrozenSuite {
    /// Its seeds, none of them a development suite's.
    pub seeds: Vec<u64>,
    /// Its scale.
    pub scale: f64,
    /// Its text, relative to the repository.
    pub data: PathBuf,
    /// Why it is what it is.
    pub note: String,
}

/// Where the frozen suite is defined.
pub const FROZEN_SUITE: &str = "tests/eval/frozen.json";

impl FrozenSuite {
    /// Reads the committed definition.
    pub fn load() -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(FROZEN_SUITE)
            .with_context(|| format!("cannot read {FROZEN_SUITE} (run from the repository)"))?;
        serde_json::from_str(&text).with_context(|| format!("{FROZEN_SUITE}: not a frozen suite"))
    }
}

/// A field a gateway may not log, left out of a suite's traffic (an
/// ablation); account attributes are a separate import a provider may not
/// have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Withheld {
    /// No account attributes imported.
    Attributes,
    /// No client address or user agent.
    Client,
    /// No sampling parameters (finish reason and usage kept).
    Params,
    /// The last user message only (no system prompt, no earlier turns).
    History,
}

impl Suite {
    /// The suite's seeds, scale and text: the development suites' from the
    /// first seed and the text given, the frozen suite's as committed.
    fn populations(self, first: u64, data: &Path) -> anyhow::Result<(Vec<u64>, f64, PathBuf)> {
        Ok(match self {
            Suite::Small => ((first..first + 2).collect(), 0.2, data.to_owned()),
            Suite::Standard => ((first..first + 3).collect(), 1.6, data.to_owned()),
            Suite::Frozen => {
                let frozen = FrozenSuite::load()?;
                (frozen.seeds, frozen.scale, frozen.data)
            }
        })
    }
}

/// What `eval` evaluates.
#[derive(Debug, Clone)]
pub enum EvalInput {
    /// Given files.
    Files {
        /// Events (any format `ingest` reads).
        events: PathBuf,
        /// Labels.
        labels: PathBuf,
        /// Account attributes, imported before the audits.
        accounts: Option<PathBuf>,
    },
    /// A suite simulated here.
    Suite {
        /// Which.
        suite: Suite,
        /// The first seed; the others follow it.
        seed: u64,
        /// The data folder.
        data: PathBuf,
        /// Only this half of it (the fit half, or the held-out one).
        half: Option<dw_sim::corpus::Half>,
        /// Fields left out of the traffic (ablations).
        without: Vec<Withheld>,
        /// Which kinds the populations hold.
        catalogue: dw_sim::kinds::Catalogue,
    },
}

/// `eval` options.
#[derive(Debug, Clone)]
pub struct EvalArgs {
    /// What to evaluate.
    pub input: EvalInput,
    /// Write the report as JSON here.
    pub json: Option<PathBuf>,
    /// Write the Markdown tables here.
    pub markdown: Option<PathBuf>,
    /// Check the default detector against these floors.
    pub floors: Option<PathBuf>,
}

/// One population's files.
pub(crate) struct Population {
    pub(crate) name: String,
    pub(crate) events: PathBuf,
    pub(crate) labels: PathBuf,
    pub(crate) accounts: Option<PathBuf>,
}

/// One evaluated population.
struct Run {
    name: String,
    labels: Vec<LabelRow>,
    traffic: RequestTimes,
    verdicts: Vec<(Detector, Verdicts)>,
    events: u64,
}

/// The JSON report.
#[derive(Debug, Serialize)]
struct EvalReport {
    suite: Option<Suite>,
    /// Fields left out of the traffic (ablations).
    without: Vec<Withheld>,
    runs: Vec<RunSummary>,
    /// Pooled over all runs, one per detector.
    reports: Vec<Report>,
    /// Per run, one per detector.
    per_run: Vec<Vec<Report>>,
}

#[derive(Debug, Serialize)]
struct RunSummary {
    name: String,
    accounts: usize,
    events: u64,
}

/// Committed minimums for the default detector (pooled report).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Floors {
    /// ROC AUC at least this.
    pub roc_auc: f64,
    /// Recall at 1% benign FPR at least this.
    pub recall_at_1pct_fpr: f64,
    /// No benign kind with more than this share of its accounts flagged.
    #[serde(default)]
    pub max_benign_kind_flagged: Option<f64>,
}

/// `distillwatch eval`. Returns false when a floor was missed.
pub async fn eval(settings: &Settings, args: &EvalArgs) -> anyhow::Result<bool> {
    let floors: Option<Floors> = match &args.floors {
        Some(path) => Some(
            serde_json::from_str(
                &std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
            )
            .with_context(|| format!("{}: not a floors file", path.display()))?,
        ),
        None => None,
    };
    let scratch = tempfile::tempdir().context("cannot create a scratch folder")?;
    let mut inputs = Vec::new();
    let mut suite_name = None;
    let mut withheld = Vec::new();
    match &args.input {
        EvalInput::Files { events, labels, accounts } => inputs.push(Population {
            name: events.display().to_string(),
            events: events.clone(),
            labels: labels.clone(),
            accounts: accounts.clone(),
        }),
        EvalInput::Suite { suite, seed, data, half, without, catalogue } => {
            suite_name = Some(*suite);
            withheld = without.clone();
            let (seeds, scale, data) = suite.populations(*seed, data)?;
            let corpus = load_corpus_half(&data, *half)?;
            let logged = dw_sim::output::LoggedFields {
                client: !without.contains(&Withheld::Client),
                parameters: !without.contains(&Withheld::Params),
                conversation: !without.contains(&Withheld::History),
            };
            for seed in seeds {
                let config = SimConfig { seed, scale, catalogue: *catalogue, ..SimConfig::default() };
                let sim = dw_sim::simulate(config, &corpus)?;
                let events = scratch.path().join(format!("events-{seed}.jsonl"));
                let labels = scratch.path().join(format!("labels-{seed}.csv"));
                let accounts = (!without.contains(&Withheld::Attributes))
                    .then(|| scratch.path().join(format!("accounts-{seed}.csv")));
                write_logged_simulation(&sim, logged, &events, &labels, accounts.as_deref())?;
                eprintln!("seed {seed}: simulated {} accounts, {} events", sim.accounts.len(), sim.events.len());
                inputs.push(Population { name: format!("seed-{seed}"), events, labels, accounts });
            }
        }
    }
    let detectors = detectors();
    let content = crate::embed_files::content_sampling(&settings.embed).await?;
    let db = Database::open(&settings.database).await?;
    let mut runs = Vec::new();
    let mut failure = None;
    for (index, population) in inputs.iter().enumerate() {
        match evaluate_run(settings, content.as_ref(), &db, index, population, &detectors).await {
            Ok(run) => runs.push(run),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    db.close().await?;
    if let Some(e) = failure {
        return Err(e);
    }

    let runs_ref = &runs;
    let pooled_labels: Vec<LabelRow> = runs
        .iter()
        .flat_map(|r| {
            r.labels.iter().map(move |l| LabelRow {
                account_id: prefixed(runs_ref, r, &l.account_id),
                // Campaign names are per simulation: seed 1's farm-hosting-1 is not seed 2's.
                campaign: l.campaign.as_ref().map(|c| prefixed(runs_ref, r, c)),
                ..l.clone()
            })
        })
        .collect();
    let mut pooled_traffic = RequestTimes::new();
    for run in &runs {
        for (account, times) in &run.traffic {
            pooled_traffic.insert(prefixed(&runs, run, account), times.clone());
        }
    }
    let mut reports = Vec::new();
    for (i, detector) in detectors.iter().enumerate() {
        let mut pooled = Verdicts::default();
        for run in &runs {
            let verdicts = &run.verdicts[i].1;
            pooled.scores.extend(
                verdicts
                    .scores
                    .iter()
                    .map(|s| AccountScore { account_id: prefixed(&runs, run, &s.account_id), ..s.clone() }),
            );
            pooled.first_flag.extend(verdicts.first_flag.iter().map(|(a, t)| (prefixed(&runs, run, a), *t)));
        }
        reports.push(evaluation::evaluate(detector.name(), &pooled_labels, &pooled_traffic, &pooled, 7));
    }
    let per_run: Vec<Vec<Report>> = runs
        .iter()
        .map(|run| {
            run.verdicts.iter().map(|(d, v)| evaluation::evaluate(d.name(), &run.labels, &run.traffic, v, 7)).collect()
        })
        .collect();

    let named: Vec<(String, Vec<Report>)> = runs.iter().map(|r| r.name.clone()).zip(per_run.iter().cloned()).collect();
    let table = format!("{}\n{}", evaluation::markdown(&reports), evaluation::markdown_per_run(&named));
    println!("{table}");
    let report = EvalReport {
        suite: suite_name,
        without: withheld,
        runs: runs
            .iter()
            .map(|r| RunSummary { name: r.name.clone(), accounts: r.labels.len(), events: r.events })
            .collect(),
        reports,
        per_run,
    };
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, &table).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(match floors {
        Some(floors) => check_floors(&report.reports[0], &floors),
        None => true,
    })
}

/// The detectors evaluated: the audit's default, then the baseline beside
/// it (once, while the default is the baseline).
fn detectors() -> Vec<Detector> {
    let mut detectors = vec![Detector::DEFAULT];
    if Detector::DEFAULT != Detector::Baseline {
        detectors.push(Detector::Baseline);
    }
    detectors
}

fn prefixed(runs: &[Run], run: &Run, account: &str) -> String {
    if runs.len() == 1 { account.to_owned() } else { format!("{}/{account}", run.name) }
}

fn check_floors(report: &Report, floors: &Floors) -> bool {
    let auc = report.roc_auc.map_or(0.0, |e| e.value);
    let recall = report.recall_at_fpr.first().map_or(0.0, |r| r.recall.value);
    let mut ok = true;
    for (name, value, floor) in
        [("ROC AUC", auc, floors.roc_auc), ("recall at 1% FPR", recall, floors.recall_at_1pct_fpr)]
    {
        if value + 1e-9 < floor {
            eprintln!("FLOOR MISSED: {} {name} {value:.4} is below the committed floor {floor:.4}", report.detector);
            ok = false;
        } else {
            eprintln!("floor held: {} {name} {value:.4} >= {floor:.4}", report.detector);
        }
    }
    if let Some(ceiling) = floors.max_benign_kind_flagged {
        let over: Vec<_> = report.benign_kinds.iter().filter(|k| k.rate > ceiling + 1e-9).collect();
        for kind in &over {
            eprintln!(
                "FLOOR MISSED: {} flagged {} of {} {} accounts, above the ceiling {ceiling:.4}",
                report.detector, kind.flagged, kind.accounts, kind.kind
            );
        }
        ok &= over.is_empty();
        if over.is_empty() {
            eprintln!("floor held: {} no benign kind above {ceiling:.4} flagged", report.detector);
        }
    }
    ok
}

/// A throwaway database on the configured server, for one population.
pub(crate) struct Throwaway {
    name: String,
    pub(crate) pool: sqlx::PgPool,
}

impl Throwaway {
    /// Creates and migrates `dw_eval_{pid}_{index}`.
    pub(crate) async fn create(db: &Database, index: usize) -> anyhow::Result<Self> {
        let name = format!("dw_eval_{}_{index}", std::process::id());
        let mut admin = db.pool.acquire().await?;
        dw_store::databases::create(&mut admin, &name).await.context("cannot create the evaluation database")?;
        let pool = match dw_store::connect(db.connect_options().database(&name), 8).await {
            Ok(pool) => pool,
            Err(e) => {
                dw_store::databases::drop(&mut admin, &name).await?;
                return Err(e.into());
            }
        };
        let throwaway = Self { name, pool };
        if let Err(e) = dw_store::migrate(&throwaway.pool).await {
            throwaway.drop_with(db).await?;
            return Err(e.into());
        }
        Ok(throwaway)
    }

    /// Closes the pool and drops the database.
    pub(crate) async fn drop_with(self, db: &Database) -> anyhow::Result<()> {
        self.pool.close().await;
        let mut admin = db.pool.acquire().await?;
        dw_store::databases::drop(&mut admin, &self.name).await.context("cannot drop the evaluation database")
    }
}

/// Ingests one population into a throwaway database, replays the audits and
/// collects what the evaluator needs; the database is dropped either way.
async fn evaluate_run(
    settings: &Settings,
    content: Option<&dw_app::ContentSampling>,
    db: &Database,
    index: usize,
    population: &Population,
    detectors: &[Detector],
) -> anyhow::Result<Run> {
    let labels = dw_sim::labels::read_labels(&population.labels)?;
    let throwaway = Throwaway::create(db, index).await?;
    let mut app = App::new(throwaway.pool.clone(), crate::cli::app_config(settings));
    if let Some(content) = content {
        app = app.with_content(content.clone());
    }
    let run = replay(&app, settings, population, labels, detectors).await;
    throwaway.drop_with(db).await?;
    run
}

/// Loads a population's events and account attributes; returns the events
/// accepted and the daily checkpoints (midnights after the first event's
/// day, through the one after the last event).
pub(crate) async fn load_population(
    app: &App,
    settings: &Settings,
    population: &Population,
) -> anyhow::Result<(u64, OffsetDateTime, Vec<OffsetDateTime>)> {
    let events = &population.events;
    let files = std::slice::from_ref(events);
    let summary = crate::ingest_files::run(
        app,
        files,
        &settings.ingest,
        None,
        crate::ingest_files::Reading::Records(dw_ingest::Source::default()),
        // Simulated traffic is history of any date: a backfill.
        None,
    )
    .await?;
    anyhow::ensure!(summary.rejected == 0, "{}: {} events were rejected", events.display(), summary.rejected);
    if let Some(path) = &population.accounts {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let parsed = dw_ingest::parse_attributes_csv(&text)
            .map_err(|e| anyhow::anyhow!("{}: line {}: {}", path.display(), e.line, e.error))?;
        anyhow::ensure!(
            parsed.rejected.is_empty(),
            "{}: {} lines were rejected",
            path.display(),
            parsed.rejected.len()
        );
        app.import_account_attributes(&parsed).await?;
    }
    let (first, last) = app.event_time_range().await?.context("the events file holds no events")?;
    let from = first.date().midnight().assume_utc();
    let mut checkpoints = Vec::new();
    let mut checkpoint = from;
    while checkpoint <= last {
        checkpoint += time::Duration::DAY;
        checkpoints.push(checkpoint);
    }
    Ok((summary.accepted, from, checkpoints))
}

async fn replay(
    app: &App,
    settings: &Settings,
    population: &Population,
    labels: Vec<LabelRow>,
    detectors: &[Detector],
) -> anyhow::Result<Run> {
    let name = population.name.as_str();
    let (accepted, from, checkpoints) = load_population(app, settings, population).await?;
    let whole = AuditWindow::new(from, *checkpoints.last().unwrap_or(&(from + time::Duration::DAY)))?;
    let traffic: RequestTimes = app.request_times(&whole).await?.into_iter().collect();
    let mut verdicts = Vec::new();
    for detector in detectors {
        let started = Instant::now();
        let mut first_flag: HashMap<String, i64> = HashMap::new();
        let mut scores = Vec::new();
        for checkpoint in &checkpoints {
            scores = app.audit(&AuditWindow::new(from, *checkpoint)?, *detector).await?;
            for score in scores.iter().filter(|s| s.flagged) {
                first_flag.entry(score.account_id.clone()).or_insert(checkpoint.unix_timestamp());
            }
        }
        eprintln!(
            "{name}: {} audits with {} in {:.1} s",
            checkpoints.len(),
            detector.name(),
            started.elapsed().as_secs_f64()
        );
        verdicts.push((*detector, Verdicts { scores, first_flag }));
    }
    Ok(Run { name: name.to_owned(), labels, traffic, verdicts, events: accepted })
}
