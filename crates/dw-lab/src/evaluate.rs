//! `distillwatch eval`: the detection-quality report.
//!
//! `eval` runs what the service runs: it ingests the events into a throwaway
//! database (on the configured server or the embedded cluster) with the same
//! ingest path as `distillwatch ingest`, replays the audit use case at every
//! daily checkpoint of the window (so it can tell how many requests an
//! attacker got before the first flag), and joins the final audit with the
//! labels. Several simulated seeds are pooled, with account ids prefixed by
//! their seed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use dw_app::{App, AuditWindow, Detector};
use dw_domain::AccountScore;
use dw_sim::SimConfig;
use dw_sim::evaluation::{self, Report, RequestTimes, Verdicts};
use dw_sim::labels::LabelRow;
use serde::{Deserialize, Serialize};

use crate::host::{Host, Throwaway};
use crate::population::{Population, load_corpus_half, load_population, write_logged_simulation};

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
pub async fn eval(host: &Host<'_>, args: &EvalArgs) -> anyhow::Result<bool> {
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
    let mut runs = Vec::new();
    for (index, population) in inputs.iter().enumerate() {
        runs.push(evaluate_run(host, index, population, &detectors).await?);
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

/// Ingests one population into a throwaway database, replays the audits and
/// collects what the evaluator needs; the database is dropped either way.
async fn evaluate_run(
    host: &Host<'_>,
    index: usize,
    population: &Population,
    detectors: &[Detector],
) -> anyhow::Result<Run> {
    let labels = dw_sim::labels::read_labels(&population.labels)?;
    let throwaway = Throwaway::create(host, index).await?;
    let app = host.app(throwaway.pool.clone());
    let run = replay(&app, host, population, labels, detectors).await;
    throwaway.drop_with(host).await?;
    run
}

async fn replay(
    app: &App,
    host: &Host<'_>,
    population: &Population,
    labels: Vec<LabelRow>,
    detectors: &[Detector],
) -> anyhow::Result<Run> {
    let name = population.name.as_str();
    let (accepted, from, checkpoints) = load_population(app, host.loader, population).await?;
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
