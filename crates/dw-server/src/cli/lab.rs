//! The lab's commands (`dw-lab`, given a host by [`crate::lab`]):
//! `simulate`, `eval`, `weights fit` and `classifier train`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::settings::Settings;

/// `distillwatch simulate` options.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The seed: the same seed, window, scale and data give the same files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The first day, YYYY-MM-DD (traffic starts at its midnight, UTC).
    #[arg(long, default_value = "2026-11-02")]
    pub start: String,
    /// Number of days.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Population size: 1 is about 1,650 accounts and 110,000 events over 7 days.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// A folder laid out like ../shared/data (default: the sample shipped in the repository).
    #[arg(long, default_value = "data/sample")]
    pub data: PathBuf,
    /// The events file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// The labels file to write.
    #[arg(long)]
    pub labels: PathBuf,
    /// Also write the accounts' attributes (the CSV `accounts import` reads).
    #[arg(long)]
    pub accounts: Option<PathBuf>,
    /// Only one half of the text: `fit` (what the weights were fitted on)
    /// or `holdout` (sources the fit never saw).
    #[arg(long, value_enum)]
    pub half: Option<HalfArg>,
    /// Which kinds the population holds: `full`, or `original` (the kinds
    /// before the hydra farms of issue #20, as they were for a seed).
    #[arg(long, value_enum, default_value = "full")]
    pub catalogue: CatalogueArg,
}

/// `distillwatch eval` options.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Events to evaluate on (with --labels).
    #[arg(long, requires = "labels", conflicts_with = "suite")]
    pub events: Option<PathBuf>,
    /// Labels of the events' accounts.
    #[arg(long, requires = "events")]
    pub labels: Option<PathBuf>,
    /// Account attributes to import before the audits.
    #[arg(long, requires = "events")]
    pub accounts: Option<PathBuf>,
    /// Simulate and evaluate a named suite instead.
    #[arg(long, value_enum, required_unless_present = "events")]
    pub suite: Option<dw_lab::evaluate::Suite>,
    /// The suite's first seed (the frozen suite's seeds and text are
    /// those committed in tests/eval/frozen.json).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The suite's text (default: the sample shipped in the repository).
    #[arg(long, default_value = "data/sample")]
    pub data: PathBuf,
    /// Only one half of the text: `fit` (what the weights were fitted on)
    /// or `holdout` (sources the fit never saw).
    #[arg(long, value_enum, requires = "suite")]
    pub half: Option<HalfArg>,
    /// Leave fields out of the suite's traffic, as a gateway that does not
    /// log them would (an ablation; comma-separated or repeated).
    #[arg(long, value_enum, value_delimiter = ',', requires = "suite")]
    pub without: Vec<dw_lab::evaluate::Withheld>,
    /// Which kinds the suite's populations hold: `full`, or `original`
    /// (the kinds before the hydra farms of issue #20, as they were).
    #[arg(long, value_enum, default_value = "full", requires = "suite")]
    pub catalogue: CatalogueArg,
    /// Write the full report as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the tables as Markdown.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Exit 1 when the default detector is below these floors (JSON).
    #[arg(long)]
    pub floors: Option<PathBuf>,
}

/// A half of the data (`eval --half`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum HalfArg {
    /// What the weights were fitted on.
    Fit,
    /// Sources the fit never saw.
    Holdout,
}

impl From<HalfArg> for dw_sim::corpus::Half {
    fn from(half: HalfArg) -> Self {
        match half {
            HalfArg::Fit => dw_sim::corpus::Half::Fit,
            HalfArg::Holdout => dw_sim::corpus::Half::Holdout,
        }
    }
}

/// Which kinds a simulated population holds (`simulate`, `eval --catalogue`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CatalogueArg {
    /// Every kind.
    Full,
    /// The kinds before the hydra farms of issue #20.
    Original,
}

impl From<CatalogueArg> for dw_sim::kinds::Catalogue {
    fn from(catalogue: CatalogueArg) -> Self {
        match catalogue {
            CatalogueArg::Full => dw_sim::kinds::Catalogue::Full,
            CatalogueArg::Original => dw_sim::kinds::Catalogue::Original,
        }
    }
}

/// `distillwatch weights ...`
#[derive(Debug, Subcommand)]
pub enum WeightsCommand {
    /// Fit them on simulated traffic built from the fit half of the data
    /// (never on the evaluation seeds), and write the table audits use.
    Fit {
        /// A folder laid out like ../shared/data (only its fit half is read).
        #[arg(long, default_value = "../shared/data")]
        data: PathBuf,
        /// Simulation seeds, comma-separated (the evaluation suites use 1 to 3).
        #[arg(long, value_delimiter = ',', default_value = "101,102,103")]
        seeds: Vec<u64>,
        /// Simulation scale.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Where to write the table.
        #[arg(long, default_value = "crates/dw-detect/src/weights.json")]
        out: PathBuf,
        /// Where to write the Markdown report.
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

/// `distillwatch classifier ...`
#[derive(Debug, Subcommand)]
pub enum ClassifierCommand {
    /// Fit it on a data folder, validate it leaving one source out at a time,
    /// and write its weights and a report.
    Train {
        /// A folder laid out like ../shared/data.
        #[arg(long, default_value = "../shared/data")]
        data: PathBuf,
        /// Where to write the weights.
        #[arg(long, default_value = "crates/dw-detect/src/content/instruction_classifier.json")]
        out: PathBuf,
        /// Where to write the Markdown report.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Keep the prompts' vectors in this .npy file between runs.
        #[arg(long)]
        cache: Option<PathBuf>,
    },
}

/// `distillwatch simulate`.
pub fn simulate(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let SimulateArgs { seed, start, days, scale, data, out, labels, accounts, half, catalogue } = args;
    let start = crate::audit_file::parse_instant("--start", &start)?.date();
    let config = dw_sim::SimConfig { seed, start, days, scale, catalogue: catalogue.into() };
    dw_lab::population::simulate(&dw_lab::population::SimulateArgs {
        config,
        data,
        out,
        labels,
        accounts,
        half: half.map(Into::into),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `distillwatch eval`: exit 1 when a floor was missed.
pub async fn eval(settings: &Settings, args: EvalArgs) -> anyhow::Result<ExitCode> {
    let EvalArgs { events, labels, accounts, suite, seed, data, half, without, catalogue, json, markdown, floors } =
        args;
    let input = match (events, labels, suite) {
        (Some(events), Some(labels), _) => dw_lab::evaluate::EvalInput::Files { events, labels, accounts },
        (_, _, Some(suite)) => dw_lab::evaluate::EvalInput::Suite {
            suite,
            seed,
            data,
            half: half.map(Into::into),
            without,
            catalogue: catalogue.into(),
        },
        _ => anyhow::bail!("give --events and --labels, or --suite"),
    };
    let args = dw_lab::evaluate::EvalArgs { input, json, markdown, floors };
    let held = crate::lab::with_host(settings, crate::lab::Content::Configured, async |host| {
        dw_lab::evaluate::eval(host, &args).await
    })
    .await?;
    Ok(if held { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `distillwatch weights fit`.
pub async fn weights(settings: &Settings, command: WeightsCommand) -> anyhow::Result<ExitCode> {
    let WeightsCommand::Fit { data, seeds, scale, out, report } = command;
    let args = dw_lab::fit::FitArgs { data, seeds, scale, out, report };
    crate::lab::with_host(settings, crate::lab::Content::Off, async |host| dw_lab::fit::fit_weights(host, &args).await)
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// `distillwatch classifier train`.
pub async fn classifier(settings: &Settings, command: ClassifierCommand) -> anyhow::Result<ExitCode> {
    let ClassifierCommand::Train { data, out, report, cache } = command;
    let args = dw_lab::classifier::TrainArgs { data, out, report, cache };
    dw_lab::classifier::train(|| crate::embed_files::load_encoder(&settings.embed), &args).await?;
    Ok(ExitCode::SUCCESS)
}
