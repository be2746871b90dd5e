//! Facts every account of one simulation shares: when the new model is
//! released, what went viral, which accounts run together as a campaign and
//! what their operator's script looks like.

use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;

use crate::corpus::{Corpus, Text};
use crate::network::{self, SharedPrefix, Subnet};
use crate::phrasing;
use crate::timing::{DAY, Window};

/// A prompt that many unrelated people send within hours.
#[derive(Debug, Clone)]
pub struct Viral {
    /// The prompt.
    pub prompt: Text,
    /// The model's answer.
    pub response: Text,
    /// When it started spreading (Unix seconds).
    pub at: i64,
}

/// The operator's script behind a campaign of linked accounts.
#[derive(Debug, Clone)]
pub struct Campaign {
    /// The campaign's name in label files.
    pub name: String,
    /// Its member accounts (indices), in slice order.
    pub members: Vec<u32>,
    /// The wrapper its script puts around each task.
    pub wrapper: &'static str,
    /// The shared hosting subnet (farms on hosting infrastructure).
    pub subnet: Subnet,
    /// The one user agent all members send (farms on hosting infrastructure).
    pub user_agent: Text,
    /// The order in which the job's tasks are swept: member `j` takes the
    /// `j`-th contiguous block (its slice), and starts its slice over with new
    /// samples when it is done; slices never overlap while there are at least
    /// as many tasks as members.
    pub task_order: Vec<usize>,
    /// Requests per account per day never exceed this.
    pub daily_cap: u32,
    /// The hour of the day (UTC) the scheduler starts its runs.
    pub schedule_hour: u32,
    /// A hydra campaign's drawn tactics ([`crate::hydra`]).
    pub tactics: Option<crate::hydra::Tactics>,
}

impl Campaign {
    /// The task index a member's `k`-th request works on.
    pub fn task(&self, member: usize, k: usize) -> usize {
        let len = self.task_order.len();
        let slice = (len / self.members.len().max(1)).max(1);
        let position = (member * slice + k % slice) % len;
        self.task_order[position]
    }
}

/// Everything shared.
#[derive(Debug, Clone)]
pub struct World {
    /// When the new model is released (Unix seconds).
    pub release_at: i64,
    /// The viral prompt.
    pub viral: Viral,
    /// Campaigns by name.
    pub campaigns: Vec<Campaign>,
    /// Network prefixes shared by unrelated people.
    pub shared_prefixes: Vec<SharedPrefix>,
    /// The hydra kinds' shared facts.
    pub hydra: crate::hydra::HydraWorld,
}

impl World {
    /// Draws the shared facts for a window.
    pub fn new(rng: &mut ChaCha8Rng, corpus: &Corpus, window: Window, hydra: crate::hydra::HydraWorld) -> Self {
        // The release lands mid-window at 17:00 UTC, a usual launch hour.
        let release_day = i64::from(window.days / 2).max(1).min(i64::from(window.days.saturating_sub(1)));
        let release_at = window.start + release_day * DAY + 17 * 3600;
        let viral_day = i64::from(window.days / 3).min(i64::from(window.days.saturating_sub(1)));
        let pick = corpus.arena.choose(rng).expect("pools are checked non-empty at load").clone();
        let viral =
            Viral { prompt: pick.prompt, response: pick.response, at: window.start + viral_day * DAY + 14 * 3600 };
        let shared_prefixes = (0..4).map(|_| SharedPrefix::new(rng)).collect();
        Self { release_at, viral, campaigns: Vec::new(), shared_prefixes, hydra }
    }

    /// Adds a campaign over the given members, sweeping `task_count` tasks.
    pub fn add_campaign(&mut self, rng: &mut ChaCha8Rng, name: String, members: Vec<u32>, task_count: usize) {
        let mut task_order: Vec<usize> = (0..task_count).collect();
        task_order.shuffle(rng);
        let campaign = Campaign {
            name,
            members,
            wrapper: phrasing::HARVEST_WRAPPERS.choose(rng).copied().unwrap_or("{p}"),
            subnet: Subnet::hosting(rng),
            user_agent: Text::from(network::python_sdk(rng)),
            task_order,
            daily_cap: rng.random_range(30..=45),
            schedule_hour: rng.random_range(0..24),
            tactics: None,
        };
        self.campaigns.push(campaign);
    }

    /// The campaign an account belongs to, with its position in it.
    pub fn campaign_of(&self, account: u32) -> Option<(&Campaign, usize)> {
        self.campaigns.iter().find_map(|c| c.members.iter().position(|m| *m == account).map(|p| (c, p)))
    }
}
