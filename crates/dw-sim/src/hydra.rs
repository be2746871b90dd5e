//! Hydra farms and their look-alikes (issue #20): account networks that
//! rotate their infrastructure and carry no shared account attributes, and
//! the benign populations that share one kind of trace with them.
//!
//! Every campaign draws its tactics from ranges ([`Tactics::draw`]), per
//! seed: how many hosting networks it rotates over, its pacing law, its
//! daily quota, its parameter menu (sometimes nothing set), a wrapper or
//! none, how its sign-ups spread over the window, whether members are
//! replaced mid-window and whether they mix in ordinary chat. Draws come
//! from a random stream of their own, so the kinds that came before keep
//! their traffic byte for byte.

use std::net::IpAddr;

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::benign;
use crate::corpus::{Answered, Text};
use crate::network::{self, Subnet};
use crate::phrasing::{self, fill};
use crate::timing::{self, DAY, PERSONAL};
use crate::traffic::{Addressing, Exchange, Gen, Model, Params};

/// How a campaign's script spaces a member's requests within a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Evenly over a shift of the operator's scheduler.
    Periodic {
        /// The shift's first hour (UTC).
        start_hour: u32,
        /// Its length in hours.
        hours: u32,
    },
    /// At random over the whole day.
    Poisson,
    /// At a person's hours in the member's own zone.
    Sessions,
}

/// What one hydra campaign does, drawn from ranges.
#[derive(Debug, Clone)]
pub struct Tactics {
    /// The hosting networks it rotates over (empty: a residential proxy pool).
    pub subnets: Vec<Subnet>,
    /// The one client every member sends.
    pub user_agent: Text,
    /// The parameters its script sets (possibly none).
    pub params: Params,
    /// The system prompt it sends, when it sends one.
    pub system: Option<Text>,
    /// Its wrapper around each task (`{p}` is the task), when it has one.
    pub wrapper: Option<&'static str>,
    /// The coercion phrases it appends (reasoning farms; one or two).
    pub coercion: Vec<&'static str>,
    /// The pacing law.
    pub pacing: Pacing,
    /// Requests per member per day: at least...
    pub daily_min: u32,
    /// ... and at most.
    pub daily_max: u32,
    /// Members open over this many days from the window's start.
    pub signup_spread_days: u32,
    /// The share of members banned mid-window (and so silent after).
    pub banned_share: f64,
    /// The share of each member's requests that is ordinary chat.
    pub chat_share: f64,
}

impl Tactics {
    /// Draws a campaign's tactics. `hosting`: on rotating hosting networks,
    /// else behind a residential proxy pool. `imitated`: the customer whose
    /// client, system prompt and parameters a hosting campaign copies.
    pub fn draw(rng: &mut ChaCha8Rng, hosting: bool, imitated: &Imitated, days: u32) -> Self {
        let copy = hosting && rng.random_bool(0.6);
        let params = if copy { imitated.params } else { draw_params(rng) };
        let pacing = match rng.random_range(0..3) {
            0 => Pacing::Periodic { start_hour: rng.random_range(0..24), hours: rng.random_range(6..=18) },
            1 => Pacing::Poisson,
            _ => Pacing::Sessions,
        };
        let daily_min = rng.random_range(8..=20);
        Self {
            subnets: if hosting {
                (0..rng.random_range(2..=4)).map(|_| Subnet::hosting(rng)).collect()
            } else {
                vec![]
            },
            user_agent: if copy { imitated.user_agent.clone() } else { Text::from(network::sdk(rng)) },
            params,
            system: if copy {
                Some(imitated.system.clone())
            } else if rng.random_bool(0.4) {
                Some(Text::from(*phrasing::DEVELOPER_SYSTEM_PROMPTS.choose(rng).unwrap_or(&"")))
            } else {
                None
            },
            wrapper: rng.random_bool(0.5).then(|| *phrasing::HARVEST_WRAPPERS[1..].choose(rng).unwrap_or(&"{p}")),
            coercion: {
                let count = rng.random_range(1..=2);
                phrasing::REASONING_REQUESTS.choose_multiple(rng, count).copied().collect()
            },
            pacing,
            daily_min,
            daily_max: daily_min + rng.random_range(5..=35),
            signup_spread_days: rng.random_range(0..=days / 2),
            banned_share: *[0.0, 0.1, 0.3].choose(rng).unwrap_or(&0.0),
            chat_share: *[0.0, 0.0, 0.1, 0.25].choose(rng).unwrap_or(&0.0),
        }
    }
}

/// A parameter vector from the menus scripts choose from: each parameter
/// set or left to the API's default, so some campaigns set nothing.
pub fn draw_params(rng: &mut ChaCha8Rng) -> Params {
    Params {
        temperature: *[None, Some(0.0), Some(0.3), Some(0.6), Some(0.7), Some(0.8), Some(1.0)]
            .choose(rng)
            .unwrap_or(&None),
        max_tokens: *[None, Some(1024), Some(1500), Some(2048), Some(3000), Some(4096), Some(8192)]
            .choose(rng)
            .unwrap_or(&None),
        n: if rng.random_bool(0.15) { Some(rng.random_range(2..=3)) } else { None },
        ..Params::default()
    }
}

/// An innocent customer whose client, system prompt and parameters a farm
/// copies to blend in.
#[derive(Debug, Clone)]
pub struct Imitated {
    /// Its client.
    pub user_agent: Text,
    /// Its system prompt.
    pub system: Text,
    /// Its parameters.
    pub params: Params,
}

/// The shared facts of the hydra kinds in one simulation.
#[derive(Debug, Clone)]
pub struct HydraWorld {
    /// Cloud providers' shared egress networks, each with the SDK version
    /// most apps deployed there pin.
    pub egress: Vec<(Subnet, Text)>,
    /// Office NAT addresses of teams, with the SDK version each pins.
    pub offices: Vec<(IpAddr, Text)>,
    /// The open-source agent framework: its client, system prompt and defaults.
    pub framework: Imitated,
    /// Customers that farms imitate.
    pub imitated: Vec<Imitated>,
}

/// Members of a team behind one office NAT.
pub const TEAM_SIZE: usize = 5;

impl HydraWorld {
    /// Draws the shared facts, for `teams` office teams.
    pub fn draw(rng: &mut ChaCha8Rng, teams: usize, imitated: usize) -> Self {
        let framework = Imitated {
            user_agent: Text::from(format!(
                "agentkit-python/0.{}.{}",
                rng.random_range(8..=11),
                rng.random_range(0..=5)
            )),
            system: Text::from(
                "You are an autonomous agent. Break the user's goal into steps, think about each step before \
                 acting, use the available tools when they help, and finish with a clear final answer.",
            ),
            params: Params { temperature: Some(0.0), max_tokens: Some(4096), ..Params::default() },
        };
        let imitated = (0..imitated.max(1))
            .map(|_| {
                let company = *phrasing::COMPANIES.choose(rng).unwrap_or(&"Acme");
                Imitated {
                    user_agent: Text::from(network::python_sdk(rng)),
                    system: Text::from(phrasing::support_system_prompt(company)),
                    params: draw_params(rng),
                }
            })
            .collect();
        Self {
            egress: (0..2).map(|_| (Subnet::hosting(rng), Text::from(network::sdk(rng)))).collect(),
            offices: (0..teams.max(1))
                .map(|_| (Subnet::residential(rng).host(rng), Text::from(network::python_sdk(rng))))
                .collect(),
            framework,
            imitated,
        }
    }
}

/// The account's client and addresses, for the hydra kinds; `index` is its
/// position among its kind's accounts.
pub fn profile(g: &mut Gen, kind: crate::Kind, index: usize) {
    use crate::Kind::*;
    let hydra = &g.world.hydra;
    match kind {
        CloudEgressApp => {
            let (subnet, sdk) = hydra.egress[index % hydra.egress.len()].clone();
            g.user_agent = if g.rng.random_bool(0.8) { sdk } else { Text::from(network::sdk(&mut g.rng)) };
            let hosts = (0..g.rng.random_range(1..=4)).map(|_| subnet.host(&mut g.rng)).collect();
            g.addressing = Addressing::Servers(hosts);
        }
        TeamBehindNat => {
            let (office, sdk) = hydra.offices[(index / TEAM_SIZE) % hydra.offices.len()].clone();
            g.user_agent = if g.rng.random_bool(0.7) { sdk } else { Text::from(network::sdk(&mut g.rng)) };
            g.addressing = Addressing::Servers(vec![office]);
        }
        AgentFrameworkUser => {
            g.user_agent = hydra.framework.user_agent.clone();
            g.addressing = if g.rng.random_bool(0.6) {
                Addressing::Servers(vec![Subnet::residential(&mut g.rng).host(&mut g.rng)])
            } else {
                Addressing::Servers(vec![Subnet::hosting(&mut g.rng).host(&mut g.rng)])
            };
        }
        ImitatedCustomer => {
            g.user_agent = hydra.imitated[index % hydra.imitated.len()].user_agent.clone();
            let subnet = Subnet::hosting(&mut g.rng);
            let hosts = (0..g.rng.random_range(1..=3)).map(|_| subnet.host(&mut g.rng)).collect();
            g.addressing = Addressing::Servers(hosts);
        }
        FarmRotatingHosting | FarmProxyReasoning => {
            let Some((campaign, _)) = g.world.campaign_of(g.account) else { return };
            let Some(tactics) = campaign.tactics.clone() else { return };
            g.user_agent = tactics.user_agent.clone();
            g.addressing = if tactics.subnets.is_empty() {
                Addressing::Rotating
            } else {
                let mut hosts = Vec::new();
                for subnet in &tactics.subnets {
                    hosts.extend((0..g.rng.random_range(1..=3)).map(|_| subnet.host(&mut g.rng)));
                }
                Addressing::Servers(hosts)
            };
        }
        _ => {}
    }
}

/// A small app on a cloud provider's shared egress: its own template and
/// parameters, its users' input, five to forty requests a day (more for a popular one).
pub fn cloud_egress_app(g: &mut Gen) {
    let template = *g.pick(&phrasing::APP_TEMPLATES);
    let mut params_rng = ChaCha8Rng::from_rng(&mut g.rng);
    let params = draw_params(&mut params_rng);
    let system = g.rng.random_bool(0.4).then(|| Text::from(*g.pick(&phrasing::DEVELOPER_SYSTEM_PROMPTS)));
    let per_day = g.rng.random_range(5.0..40.0) * g.intensity.min(3.0);
    let model = if g.rng.random_bool(0.5) { Model::Mini } else { Model::Current };
    for t in benign::service_arrivals(g, per_day, &PERSONAL, 0.1) {
        let source = g.person_thread();
        let input = phrasing::headline(&source.turns[0], 200);
        let response = source.first_response.clone().unwrap_or_else(|| g.any_response());
        let mut exchange = Exchange::single(Text::from(fill(template, &input)), response, params, model);
        exchange.system = system.clone();
        g.emit(t, exchange);
    }
}

/// A person using an open-source agent framework: its system prompt,
/// client and defaults on every request, their own tasks at their own
/// hours, each task a few steps of one conversation.
pub fn agent_framework_user(g: &mut Gen) {
    let framework = g.world.hydra.framework.clone();
    for day in 0..g.window.days {
        if !g.rng.random_bool(0.6) {
            continue;
        }
        for _ in 0..g.rng.random_range(1..=4) {
            let t = g.window.at_local(day, g.tz_minutes, timing::local_time(&mut g.rng, &PERSONAL)) as f64;
            let mut thread = g.person_thread();
            thread.system = Some(framework.system.clone());
            g.chat(t, &thread, framework.params, Model::Current, 0.3);
        }
    }
}

/// A customer a farm imitates: a support app with its system prompt,
/// client and parameters, customers' messages all day.
pub fn imitated_customer(g: &mut Gen, index: usize) {
    let customer = g.world.hydra.imitated[index % g.world.hydra.imitated.len()].clone();
    let per_day = 60.0 * g.intensity.min(3.0);
    for start in benign::service_arrivals(g, per_day / 2.0, &PERSONAL, 0.15) {
        let mut thread = g.human_thread();
        thread.system = Some(customer.system.clone());
        g.chat(start, &thread, customer.params, Model::Current, 0.45);
    }
}

/// The task a reasoning farm's member works on: a sampled chain of thought's
/// problem or a math word problem, from one shared order.
fn reasoning_task(g: &Gen, index: usize) -> Answered {
    let traces = &g.corpus.traces;
    if index < traces.len() {
        let t = &traces[index];
        Answered { prompt: t.prompt.clone(), response: t.response.clone() }
    } else {
        g.corpus.gsm8k[(index - traces.len()) % g.corpus.gsm8k.len()].clone()
    }
}

/// Tasks a reasoning farm sweeps.
pub fn reasoning_task_count(corpus: &crate::corpus::Corpus) -> usize {
    corpus.traces.len() + corpus.gsm8k.len()
}

/// A hydra farm member: its slice of the campaign's job at a light daily
/// quota, paced by the campaign's law, from the campaign's rotating
/// infrastructure, with its client, parameters and phrasing; opened when
/// the sign-up spread says, silent after a ban, ordinary chat mixed in.
pub fn hydra_member(g: &mut Gen, reasoning: bool) {
    let Some((campaign, member)) = g.world.campaign_of(g.account) else { return };
    let campaign = campaign.clone();
    let Some(tactics) = campaign.tactics.clone() else { return };
    let opened = if tactics.signup_spread_days == 0 { 0 } else { g.rng.random_range(0..=tactics.signup_spread_days) };
    let banned_after =
        g.rng.random_bool(tactics.banned_share).then(|| g.rng.random_range(opened + 1..=g.window.days.max(opened + 1)));
    let last = banned_after.unwrap_or(g.window.days).min(g.window.days);
    let mut k = 0;
    for day in opened..last {
        let quota = g.rng.random_range(tactics.daily_min..=tactics.daily_max);
        let day_start = (g.window.start + i64::from(day) * DAY) as f64;
        let mut times: Vec<f64> = (0..quota)
            .map(|i| match tactics.pacing {
                Pacing::Periodic { start_hour, hours } => {
                    let span = f64::from(hours) * 3600.0;
                    day_start
                        + f64::from(start_hour) * 3600.0
                        + f64::from(i) * span / f64::from(quota)
                        + g.rng.random::<f64>() * 120.0
                }
                Pacing::Poisson => day_start + g.rng.random::<f64>() * DAY as f64,
                Pacing::Sessions => {
                    g.window.at_local(day, g.tz_minutes, timing::local_time(&mut g.rng, &PERSONAL)) as f64
                }
            })
            .map(|t| day_start + (t - day_start).rem_euclid(DAY as f64))
            .collect();
        times.sort_by(f64::total_cmp);
        for t in times {
            if tactics.chat_share > 0.0 && g.rng.random_bool(tactics.chat_share) {
                let thread = g.person_thread();
                let params = benign::any_chat_params(g);
                g.chat(t, &thread, params, Model::Current, 0.5);
                continue;
            }
            let index = campaign.task(member, k);
            k += 1;
            let exchange = if reasoning {
                let task = reasoning_task(g, index);
                let phrase = *g.pick(&tactics.coercion);
                Exchange::single(
                    Text::from(format!("{}\n\n{phrase}", task.prompt)),
                    task.response,
                    tactics.params,
                    Model::Current,
                )
            } else {
                let task = crate::attack::farm_task(g, index);
                let prompt = tactics.wrapper.map_or_else(|| task.prompt.to_string(), |w| fill(w, &task.prompt));
                Exchange::single(Text::from(prompt), task.response, tactics.params, Model::Current)
            };
            let exchange = match &tactics.system {
                Some(system) => exchange.with_system(system.clone()),
                None => exchange,
            };
            g.emit(t, exchange);
        }
    }
}
