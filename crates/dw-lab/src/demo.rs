//! The demo's data: two days of simulated traffic from the shipped sample,
//! with the accounts' attributes, loaded into the demo's database. The
//! binary makes that database, audits it and serves it.

use std::path::PathBuf;

use anyhow::Context as _;
use dw_app::App;
use time::OffsetDateTime;

use crate::host::EventLoader;
use crate::population::{Population, SimulateArgs, load_population, simulate};

/// The demo's traffic: two days of the shipped sample at a fifth of the
/// standard population (about 300 accounts, 13,000 events).
pub const DAYS: u32 = 2;
const SCALE: f64 = 0.2;
const SEED: u64 = 7;

/// What was loaded.
#[derive(Debug, Clone, Copy)]
pub struct Prepared {
    /// Events stored.
    pub accepted: u64,
    /// The traffic's first midnight.
    pub from: OffsetDateTime,
    /// The midnight after its last event.
    pub to: OffsetDateTime,
}

/// Simulates the demo's traffic from `data` and loads it, with the accounts'
/// attributes, into `app`.
pub async fn prepare(app: &App, loader: &dyn EventLoader, data: PathBuf) -> anyhow::Result<Prepared> {
    let dir = tempfile::tempdir().context("cannot make a folder for the demo's traffic")?;
    let population = Population {
        name: "demo".into(),
        events: dir.path().join("events.jsonl"),
        labels: dir.path().join("labels.csv"),
        accounts: Some(dir.path().join("accounts.csv")),
    };
    let config = dw_sim::SimConfig { seed: SEED, days: DAYS, scale: SCALE, ..dw_sim::SimConfig::default() };
    simulate(&SimulateArgs {
        config,
        data,
        out: population.events.clone(),
        labels: population.labels.clone(),
        accounts: population.accounts.clone(),
        half: None,
    })?;
    let (accepted, from, checkpoints) = load_population(app, loader, &population).await?;
    let to = *checkpoints.last().context("the demo traffic is empty")?;
    Ok(Prepared { accepted, from, to })
}
