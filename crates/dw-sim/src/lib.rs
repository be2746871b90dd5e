//! distillwatch's yardstick: labelled traffic on real text, and the
//! metrics that say how well a detector separates it.
//!
//! Data flow:
//!
//! ```text
//! data folder ─► corpus ─► population (kinds, campaigns, world) ─► per-account Gen ─► events (sorted)
//!                                                                                   ├─► events.jsonl (ingest format)
//!                                                                                   └─► labels.csv
//! scores.csv (audit) + labels.csv ─► evaluation ─► report (table, JSON)
//! ```
//!
//! - [`corpus`] loads the real text pools; [`phrasing`] holds the few words
//!   users and scripts wrap around them.
//! - [`kinds`] is the catalogue of benign and attack kinds; [`benign`] and
//!   [`attack`] generate each kind's requests with a per-account random
//!   stream ([`traffic::Gen`]), so a simulation is a pure function of its
//!   seed, window, scale and data.
//! - [`output`] writes canonical events and label rows; [`labels`] reads
//!   labels and audit scores back; [`metrics`] and [`evaluation`] turn them
//!   into numbers.
//!
//! The crate does no I/O beyond the files it is pointed at and knows nothing
//! of the database: `distillwatch eval` wires it to the audit use case.

pub mod attack;
pub mod attributes;
pub mod benign;
pub mod corpus;
pub mod evaluation;
pub mod hydra;
pub mod kinds;
pub mod labels;
pub mod metrics;
pub mod network;
pub mod output;
pub mod phrasing;
pub mod timing;
pub mod traffic;
pub mod world;

use std::path::PathBuf;

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use time::OffsetDateTime;

pub use corpus::Corpus;
pub use kinds::Kind;
pub use traffic::SimEvent;

use crate::network::{SharedPrefix, Subnet};
use crate::timing::Window;
use crate::traffic::{Addressing, Gen};
use crate::world::World;

/// What can go wrong simulating or evaluating.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A data, label or score file is not what it should be.
    #[error("{path}: {message}")]
    Data {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        message: String,
    },
    /// A setting is out of range.
    #[error("{0}")]
    Config(String),
}

/// The first day simulated when none is given: a fixed Monday, never "now",
/// so a seed always means the same traffic.
pub const DEFAULT_START: time::Date = time::macros::date!(2026 - 11 - 02);

/// What to simulate.
#[derive(Debug, Clone, Copy)]
pub struct SimConfig {
    /// The seed: same seed, window, scale and data, same traffic.
    pub seed: u64,
    /// The first day (traffic starts at its midnight, UTC).
    pub start: time::Date,
    /// Number of days.
    pub days: u32,
    /// Population size: 1 is about 1,650 accounts and 110,000 events over 7 days.
    pub scale: f64,
    /// Which kinds the population holds.
    pub catalogue: kinds::Catalogue,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self { seed: 1, start: DEFAULT_START, days: 7, scale: 1.0, catalogue: kinds::Catalogue::Full }
    }
}

impl SimConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), SimError> {
        if !(1..=92).contains(&self.days) {
            return Err(SimError::Config(format!("--days must be between 1 and 92, not {}", self.days)));
        }
        if !(self.scale.is_finite() && self.scale > 0.0 && self.scale <= 50.0) {
            return Err(SimError::Config(format!("--scale must be above 0 and at most 50, not {}", self.scale)));
        }
        Ok(())
    }

    /// The simulated window.
    pub fn window(&self) -> Window {
        let start = self.start.midnight().assume_utc().unix_timestamp();
        Window { start, days: self.days }
    }
}

/// One simulated account with its ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct SimAccount {
    /// The account id in events.
    pub id: String,
    /// What it is.
    pub kind: Kind,
    /// The operator behind it, for linked attack accounts.
    pub campaign: Option<String>,
}

impl SimAccount {
    /// 1 when any of the account's traffic is extraction.
    pub fn label(&self) -> u8 {
        u8::from(self.kind.is_attack())
    }
}

/// A simulated population and its traffic.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// The settings it was made with.
    pub config: SimConfig,
    /// Accounts, by index.
    pub accounts: Vec<SimAccount>,
    /// Requests in time order.
    pub events: Vec<SimEvent>,
    /// When the new model was released (Unix seconds).
    pub release_at: i64,
    /// The prompt that went viral.
    pub viral_prompt: corpus::Text,
    /// When it started spreading (Unix seconds).
    pub viral_at: i64,
}

/// Simulates a population's traffic over the window.
pub fn simulate(config: SimConfig, corpus: &Corpus) -> Result<Simulation, SimError> {
    config.validate()?;
    let window = config.window();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    // The hydra kinds draw from a stream of their own: the earlier kinds'
    // traffic stays what it was for a seed.
    let mut hydra_rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x4859_4452_4100_0000);
    let teams = Kind::TeamBehindNat.accounts_at(config.scale).div_ceil(hydra::TEAM_SIZE);
    let hydra_world = hydra::HydraWorld::draw(&mut hydra_rng, teams, Kind::ImitatedCustomer.accounts_at(config.scale));
    let mut world = World::new(&mut rng, corpus, window, hydra_world);
    let carriers: Vec<SharedPrefix> = (0..6).map(|_| SharedPrefix::new(&mut rng)).collect();

    let mut accounts = Vec::new();
    let mut ids = std::collections::HashSet::new();
    let mut first_of_kind = std::collections::HashMap::new();
    for kind in Kind::ALL.into_iter().filter(|k| config.catalogue.holds(*k)) {
        let count = kind.accounts_at(config.scale);
        let first = accounts.len() as u32;
        first_of_kind.insert(kind, first as usize);
        for _ in 0..count {
            let id = loop {
                let id = format!("acct_{:012x}", rng.random::<u64>() >> 16);
                if ids.insert(id.clone()) {
                    break id;
                }
            };
            accounts.push(SimAccount { id, kind, campaign: None });
        }
        if let Some(size) = kind.campaign_size() {
            let campaigns = count.div_ceil(size);
            let members: Vec<u32> = (first..first + count as u32).collect();
            for c in 0..campaigns {
                let group: Vec<u32> = members.iter().copied().skip(c).step_by(campaigns).collect();
                let name = format!("{}-{}", kind.name().replace('_', "-"), c + 1);
                for m in &group {
                    accounts[*m as usize].campaign = Some(name.clone());
                }
                match kind {
                    Kind::FarmRotatingHosting | Kind::FarmProxyReasoning => {
                        let hosting = kind == Kind::FarmRotatingHosting;
                        let tasks =
                            if hosting { attack::farm_task_count(corpus) } else { hydra::reasoning_task_count(corpus) };
                        let imitated = world.hydra.imitated[c % world.hydra.imitated.len()].clone();
                        let tactics = hydra::Tactics::draw(&mut hydra_rng, hosting, &imitated, config.days);
                        world.add_campaign(&mut hydra_rng, name, group, tasks);
                        if let Some(campaign) = world.campaigns.last_mut() {
                            campaign.tactics = Some(tactics);
                        }
                    }
                    _ => world.add_campaign(&mut rng, name, group, attack::farm_task_count(corpus)),
                }
            }
        }
    }

    let mut events = Vec::new();
    for (index, account) in accounts.iter().enumerate() {
        let mut account_rng = ChaCha8Rng::seed_from_u64(config.seed);
        account_rng.set_stream(index as u64 + 1);
        let mut g = Gen {
            rng: account_rng,
            corpus,
            world: &world,
            window,
            account: index as u32,
            tz_minutes: 0,
            user_agent: "".into(),
            addressing: Addressing::Rotating,
            intensity: 1.0,
            extracting: false,
            events: Vec::new(),
        };
        let index_in_kind = index - first_of_kind[&account.kind];
        profile(&mut g, account.kind, &carriers);
        hydra::profile(&mut g, account.kind, index_in_kind);
        generate(&mut g, account.kind, index_in_kind);
        events.append(&mut g.events);
    }
    events.sort_by_key(|e| (e.ts_ms, e.account));
    Ok(Simulation {
        config,
        accounts,
        events,
        release_at: world.release_at,
        viral_prompt: world.viral.prompt.clone(),
        viral_at: world.viral.at,
    })
}

/// The account's zone, client and addresses.
fn profile(g: &mut Gen, kind: Kind, carriers: &[SharedPrefix]) {
    use Kind::*;
    const ZONES: [i32; 14] = [-480, -420, -360, -300, -180, 0, 60, 120, 180, 330, 420, 480, 540, 600];
    g.tz_minutes = *ZONES.choose(&mut g.rng).unwrap_or(&0);
    // Per-account usage is log-normal around the kind's typical level.
    g.intensity = timing::lognormal(&mut g.rng, 1.0, 0.8).clamp(0.1, 12.0);
    let rng = &mut g.rng;
    let user_agent = match kind {
        Casual | ViralPrompt | SharedNetwork | HeavyChat | ParaphraseEvader => {
            if rng.random_bool(0.6) {
                network::chat_client(rng)
            } else {
                network::sdk(rng)
            }
        }
        EvalRunner | CotEvalRunner | TranslationBatch | SupportBot | AppBackend | Reseller | Developer => {
            if rng.random_bool(0.7) { network::sdk(rng) } else { network::http_client(rng) }
        }
        FarmHosting => g.world.campaign_of(g.account).map(|(c, _)| c.user_agent.to_string()).unwrap_or_default(),
        _ => {
            if rng.random_bool(0.85) {
                network::sdk(rng)
            } else {
                network::http_client(rng)
            }
        }
    };
    g.user_agent = user_agent.into();
    let servers = |rng: &mut ChaCha8Rng, subnet: Subnet| {
        let count = rng.random_range(1..=3);
        (0..count).map(|_| subnet.host(rng)).collect::<Vec<_>>()
    };
    g.addressing = match kind {
        Casual | ViralPrompt | HeavyChat | Developer | ParaphraseEvader | MixedExtraction => {
            let home = Subnet::residential(&mut g.rng).host(&mut g.rng);
            Addressing::Home { home, carrier: *carriers.choose(&mut g.rng).unwrap_or(&carriers[0]) }
        }
        SharedNetwork => {
            Addressing::Shared(g.world.shared_prefixes[g.account as usize % g.world.shared_prefixes.len()])
        }
        FarmResidential => Addressing::Rotating,
        FarmHosting => {
            let subnet = g.world.campaign_of(g.account).map(|(c, _)| c.subnet).unwrap_or(Subnet([34, 0, 0]));
            Addressing::Servers(servers(&mut g.rng, subnet))
        }
        _ => {
            let subnet = Subnet::hosting(&mut g.rng);
            Addressing::Servers(servers(&mut g.rng, subnet))
        }
    };
}

/// Runs the kind's behaviour.
fn generate(g: &mut Gen, kind: Kind, index_in_kind: usize) {
    use Kind::*;
    // Kinds that mix benign and extraction traffic switch the ground truth themselves.
    g.extracting = kind.is_attack() && !matches!(kind, MixedExtraction | ResellerWithExtractors | ReleaseChaser);
    match kind {
        Casual => benign::casual(g),
        Developer => benign::developer(g),
        HeavyChat => benign::heavy_chat(g),
        SupportBot => benign::support_bot(g),
        AppBackend => benign::app_backend(g),
        EvalRunner => benign::eval_runner(g),
        CotEvalRunner => benign::cot_eval_runner(g),
        TranslationBatch => benign::translation_batch(g),
        Reseller => benign::reseller(g),
        SharedNetwork => benign::shared_network(g),
        ViralPrompt => benign::viral_prompt(g),
        BulkInstructions => attack::bulk_instructions(g),
        ReasoningHarvest => attack::reasoning_harvest(g),
        BenchmarkReplay => attack::benchmark_replay(g),
        FarmHosting => attack::farm(g, false),
        FarmResidential => attack::farm(g, true),
        ParaphraseEvader => attack::paraphrase_evader(g),
        MixedExtraction => attack::mixed_extraction(g),
        ResellerWithExtractors => attack::reseller_with_extractors(g),
        LogprobHarvest => attack::logprob_harvest(g),
        ReleaseChaser => attack::release_chaser(g),
        CloudEgressApp => hydra::cloud_egress_app(g),
        AgentFrameworkUser => hydra::agent_framework_user(g),
        TeamBehindNat => benign::developer(g),
        ImitatedCustomer => hydra::imitated_customer(g, index_in_kind),
        FarmRotatingHosting => hydra::hydra_member(g, false),
        FarmProxyReasoning => hydra::hydra_member(g, true),
    }
}

/// RFC 3339 text of a millisecond timestamp.
pub fn rfc3339_millis(ts_ms: i64) -> String {
    let t =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&format).unwrap_or_default()
}
