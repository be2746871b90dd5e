//! Populations: labelled traffic simulated from a data folder, written as
//! the files `distillwatch ingest` reads, and loaded into an app.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use dw_app::App;
use dw_sim::{Corpus, SimConfig};
use time::OffsetDateTime;

use crate::host::EventLoader;

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
pub fn load_corpus_half(data: &Path, half: Option<dw_sim::corpus::Half>) -> anyhow::Result<Corpus> {
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

/// Writes a simulation's events (every field logged), labels and, when
/// asked, account attributes.
pub fn write_simulation(
    sim: &dw_sim::Simulation,
    out: &Path,
    labels: &Path,
    accounts: Option<&Path>,
) -> anyhow::Result<()> {
    write_logged_simulation(sim, dw_sim::output::LoggedFields::default(), out, labels, accounts)
}

/// [`write_simulation`] with only the `logged` fields in the events.
pub fn write_logged_simulation(
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

/// One population's files.
pub struct Population {
    /// Its name in reports (`seed-1`, a file's path).
    pub name: String,
    /// Its events.
    pub events: PathBuf,
    /// Its labels.
    pub labels: PathBuf,
    /// Its accounts' attributes, when imported.
    pub accounts: Option<PathBuf>,
}

/// Loads a population's events and account attributes; returns the events
/// accepted and the daily checkpoints (midnights after the first event's
/// day, through the one after the last event).
pub async fn load_population(
    app: &App,
    loader: &dyn EventLoader,
    population: &Population,
) -> anyhow::Result<(u64, OffsetDateTime, Vec<OffsetDateTime>)> {
    let events = &population.events;
    let summary = loader.load(app, events).await?;
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
