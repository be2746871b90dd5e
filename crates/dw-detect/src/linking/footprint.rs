//! What an account's own traffic says about who runs it, and the links
//! between accounts that share too much of it to be strangers.
//!
//! An account leaves two kinds of traces:
//!
//! - **infrastructure**: the networks (/24, IPv6 /48) that carry a real
//!   share of its requests, and whether its addresses rotate like a proxy
//!   pool's (a new /16 for most requests: neither a home, nor a phone on a
//!   carrier's few NAT prefixes, nor a server does that);
//! - **fingerprint**: what its software sends: the parameter vector it sets
//!   on most requests, its system prompt, the wrappers around its prompts.
//!
//! One kind alone never links: unrelated apps share a cloud provider's
//! egress network, users of one agent framework share its system prompt and
//! parameters, a campus shares its networks. A group of accounts is linked
//! when its members share a trace of each kind, and only when the number of
//! accounts sharing that pair is far above what chance gives the two traces'
//! own frequencies in the window's population: with `a` accounts on a network,
//! `b` accounts sending a fingerprint and `n` accounts in all, about
//! `a·b/n` share both by coincidence. A group of `k` sharing both links when
//! a Poisson count of that mean reaches `k` with probability under
//! [`SURPRISE_P`]. Twenty apps on one egress that each set their own
//! parameters share no pair; three of them that happen to set the same
//! `max_tokens` are what chance predicts; thirty accounts of one job on
//! three hosting networks with one system prompt are not.
//!
//! A network links only the group that holds most of its accounts
//! ([`NETWORK_OWNER_SHARE`]): on a network many tenants share, the tenants
//! pick their software from the same few options, so a handful of them
//! sharing a template is what chance among them gives.
//!
//! The client's user agent is never a trace: everything deployed on one
//! platform in one month carries the same SDK version.
//!
//! Where the log keeps no client address, **the schedule** stands in for the
//! infrastructure ([`daily_start`]): accounts that start each day in the same
//! hour after a quiet stretch are run by one scheduler's shift, not by
//! people, whose mornings move. Sending round the clock is no trace: every
//! service does it, so it says "a machine", not "this operator" (tried on
//! the standard development suite without client addresses, it joined apps
//! built on one template and a customer a farm imitates to nothing but
//! chance). A start hour is nobody's own either (cron jobs start on the
//! hour), so it links a group only when, besides being beyond chance,
//! the group holds most of the accounts sending the fingerprint
//! ([`FINGERPRINT_OWNER_SHARE`]: the software is theirs, not one that many
//! services pick alike) and its members mostly do not repeat each other's
//! tasks ([`MAX_REPEATED_TASKS`]: one job split into slices, not the users of
//! one eval harness running one benchmark on one nightly cron).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use dw_domain::RequestRecord;
use serde::Serialize;

/// A network must carry at least this share of an account's addressed
/// requests to be one of its networks...
pub const NETWORK_SHARE: f64 = 0.1;

/// ... and at least this many of them.
pub const NETWORK_MIN_REQUESTS: usize = 3;

/// An account keeps at most this many networks (its busiest).
pub const MAX_NETWORKS: usize = 8;

/// Addressed requests needed to say whether an account's addresses rotate.
pub const MIN_REQUESTS_FOR_CHURN: usize = 10;

/// An account whose requests come from a /16 it had not used before at
/// least this often rotates its addresses like a proxy pool.
pub const PROXY_CHURN: f64 = 0.5;

/// A parameter vector or system prompt is an account's fingerprint when at
/// least this share of its requests carries it.
pub const FINGERPRINT_SHARE: f64 = 0.5;

/// Requests needed before an account has a fingerprint.
pub const MIN_REQUESTS_FOR_FINGERPRINT: usize = 5;

/// A group sharing a trace of each kind links when chance would give that
/// many with a probability under this. An audit of a few thousand accounts
/// looks at up to about ten thousand pairs of traces that two or more
/// accounts share, so this keeps the chance of any coincidental link in an
/// audit near 1%. It also means two accounts never link on traces alone
/// (two apps on one egress with one open-source template are what a
/// platform's many pairs give by chance); three can, when both traces are
/// rare, and a campaign's dozens do whatever their traces.
pub const SURPRISE_P: f64 = 1e-6;

/// A network links a group only when the group holds at least this share
/// of the accounts on it: the network is then theirs (the hosting range an
/// operator rents). Where they are a minority the network is shared by
/// tenants that chose their software from the same few options (apps on a
/// cloud's egress built on one open-source template, developers behind an
/// office NAT on the company's defaults), and chance among those tenants,
/// not among the whole window, explains what they share.
pub const NETWORK_OWNER_SHARE: f64 = 0.5;

/// Trace frequencies are counted as if among at least this many accounts. A
/// small audit (a tip-off list, a quiet window) cannot say how common a
/// network or a system prompt is among the provider's customers; the
/// accounts outside it are taken not to carry the traces it sees, so six
/// accounts of an eight-account audit on one network with one wrapper are
/// still a surprise.
pub const MIN_POPULATION: usize = 1_000;

/// Requests needed to read an account's daily schedule...
pub const MIN_REQUESTS_FOR_SCHEDULE: usize = 48;

/// ... on at least this many days.
pub const MIN_DAYS_FOR_SCHEDULE: usize = 3;

/// An hour of the day is quiet for an account when it carries less than
/// this share of what an even spread over the day would give it.
pub const QUIET_SHARE: f64 = 0.2;

/// An account's day needs a quiet stretch of this many hours to have a
/// start: one with none sends round the clock.
pub const NIGHT_HOURS: usize = 3;

/// An account starts each day in one hour when its first request after the
/// quiet stretch falls in that hour on at least this share of its days.
pub const START_SHARE: f64 = 0.8;

/// A schedule links a group only when the group holds at least this share of
/// the accounts sending the fingerprint it shares.
pub const FINGERPRINT_OWNER_SHARE: f64 = 0.5;

/// A schedule links a group only when at most this share of its members'
/// task keys is held by two members or more.
pub const MAX_REPEATED_TASKS: f64 = 0.5;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// One trace an account leaves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Trace {
    /// A network carrying at least [`NETWORK_SHARE`] of its requests.
    Network(String),
    /// Its addresses rotate like a proxy pool's.
    RotatingAddresses,
    /// The parameters it sets on most requests (never "none set").
    Parameters(String),
    /// The system prompt on most of its requests (its first 80 characters
    /// are shown; the whole text is compared through its hash).
    SystemPrompt {
        /// A stable hash of the whole prompt.
        hash: u64,
        /// Its opening, for the analyst.
        opening: String,
    },
    /// A wrapper around its prompts ([`super::wrappers`]).
    Wrapper(String),
    /// It starts each day in this UTC hour, after a quiet stretch
    /// ([`daily_start`]).
    DailyStart(u8),
}

impl Trace {
    /// Whether the trace is of how the account is run, its infrastructure or
    /// its schedule (else of its software).
    pub fn is_infrastructure(&self) -> bool {
        matches!(self, Trace::Network(_) | Trace::RotatingAddresses) || self.is_schedule()
    }

    /// Whether the trace is of the account's schedule.
    pub fn is_schedule(&self) -> bool {
        matches!(self, Trace::DailyStart(_))
    }

    /// The trace in words.
    pub fn words(&self) -> String {
        match self {
            Trace::Network(network) => format!("sending from {network}"),
            Trace::RotatingAddresses => "sending from rotating addresses (a new /16 for most requests)".into(),
            Trace::Parameters(params) => format!("setting {params}"),
            Trace::SystemPrompt { opening, .. } => format!("with the system prompt {opening:?}"),
            Trace::Wrapper(wrapper) => format!("with the {wrapper}"),
            Trace::DailyStart(hour) => {
                format!(
                    "starting each day between {hour:02}:00 and {:02}:00 UTC after a quiet stretch",
                    (hour + 1) % 24
                )
            }
        }
    }
}

/// An account's traces.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Footprint {
    /// Its traces, infrastructure first.
    pub traces: Vec<Trace>,
    /// Its sampled task keys ([`super::tasks::task_keys`]): never an edge,
    /// they tell apart two jobs that the traces joined.
    #[serde(skip)]
    pub tasks: Vec<u64>,
}

/// The share of an account's addressed requests (in time order) that came
/// from a /16 it had not used before, when it has enough of them
/// ([`MIN_REQUESTS_FOR_CHURN`]).
pub fn address_churn(addressed: &[IpAddr]) -> Option<f64> {
    (addressed.len() >= MIN_REQUESTS_FOR_CHURN).then(|| {
        let mut seen = BTreeSet::new();
        let fresh = addressed.iter().filter(|ip| seen.insert(prefix16(**ip))).count();
        fresh as f64 / addressed.len() as f64
    })
}

impl Footprint {
    /// The footprint of an account's requests (in time order), with the
    /// wrappers already found in its prompts.
    pub fn of(requests: &[RequestRecord], wrappers: &[String]) -> Self {
        let mut traces = Vec::new();
        let addressed: Vec<IpAddr> = requests.iter().filter_map(|r| r.client_ip).collect();
        let mut by_network: BTreeMap<String, usize> = BTreeMap::new();
        for ip in &addressed {
            *by_network.entry(super::network_of(*ip)).or_default() += 1;
        }
        let needed = NETWORK_MIN_REQUESTS.max((NETWORK_SHARE * addressed.len() as f64).ceil() as usize);
        let mut networks: Vec<(usize, String)> =
            by_network.into_iter().filter(|(_, n)| *n >= needed).map(|(net, n)| (n, net)).collect();
        networks.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        traces.extend(networks.into_iter().take(MAX_NETWORKS).map(|(_, net)| Trace::Network(net)));
        if address_churn(&addressed).is_some_and(|c| c >= PROXY_CHURN) {
            traces.push(Trace::RotatingAddresses);
        }
        let mut times: Vec<i64> = requests.iter().map(|r| r.ts_ms).collect();
        times.sort_unstable();
        traces.extend(daily_start(&times).map(Trace::DailyStart));
        if requests.len() >= MIN_REQUESTS_FOR_FINGERPRINT {
            let needed = (FINGERPRINT_SHARE * requests.len() as f64).ceil() as usize;
            if let Some(params) = most_common(requests.iter().filter_map(parameters), needed) {
                traces.push(Trace::Parameters(params));
            }
            let system = requests.iter().filter_map(|r| r.system_prompt.as_deref().filter(|s| !s.trim().is_empty()));
            if let Some(prompt) = most_common(system, needed) {
                let opening: String = prompt.chars().take(80).collect();
                traces.push(Trace::SystemPrompt { hash: super::stable_hash(&prompt), opening });
            }
        }
        traces.extend(wrappers.iter().map(|w| Trace::Wrapper(w.clone())));
        Self { traces, tasks: super::tasks::task_keys(requests.iter().map(|r| r.prompt.as_str())) }
    }

    /// The wrappers among its traces.
    pub fn wrappers(&self) -> impl Iterator<Item = &str> {
        self.traces.iter().filter_map(|t| match t {
            Trace::Wrapper(w) => Some(w.as_str()),
            _ => None,
        })
    }
}

/// The UTC hour an account starts each day in, from its request times (Unix
/// milliseconds, ascending), when it has [`MIN_REQUESTS_FOR_SCHEDULE`] on
/// [`MIN_DAYS_FOR_SCHEDULE`] days, its day (all days pooled, by UTC hour) has
/// a quiet stretch of [`NIGHT_HOURS`] or more, and, its days cut in the
/// middle of its longest quiet stretch, the first request of at least
/// [`START_SHARE`] of them falls in one hour. `None` for a person's day (its
/// start moves), a service's round the clock (no quiet stretch), or too few
/// requests to say.
pub fn daily_start(times: &[i64]) -> Option<u8> {
    let days: BTreeSet<i64> = times.iter().map(|t| t.div_euclid(DAY_MS)).collect();
    if times.len() < MIN_REQUESTS_FOR_SCHEDULE || days.len() < MIN_DAYS_FOR_SCHEDULE {
        return None;
    }
    let mut hours = [0usize; 24];
    for t in times {
        hours[hour_of(*t)] += 1;
    }
    let floor = QUIET_SHARE * times.len() as f64 / 24.0;
    let quiet: Vec<bool> = hours.iter().map(|c| (*c as f64) < floor).collect();
    // The longest circular run of quiet hours: its first hour and length.
    let (mut start, mut len) = (0, 0);
    for first in (0..24).filter(|h| quiet[*h] && !quiet[(h + 23) % 24]) {
        let run = (0..24).take_while(|k| quiet[(first + k) % 24]).count();
        if run > len {
            (start, len) = (first, run);
        }
    }
    if len < NIGHT_HOURS {
        return None;
    }
    let cut = ((start + len / 2) % 24) as i64 * HOUR_MS;
    let mut first_hours: BTreeMap<i64, usize> = BTreeMap::new();
    for t in times {
        first_hours.entry((t - cut).div_euclid(DAY_MS)).or_insert_with(|| hour_of(*t));
    }
    let mut by_hour = [0usize; 24];
    for h in first_hours.values() {
        by_hour[*h] += 1;
    }
    let (hour, count) = by_hour.iter().enumerate().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))?;
    (first_hours.len() >= MIN_DAYS_FOR_SCHEDULE && *count as f64 >= START_SHARE * first_hours.len() as f64)
        .then_some(hour as u8)
}

/// The UTC hour of a time (Unix milliseconds).
fn hour_of(t: i64) -> usize {
    (t.rem_euclid(DAY_MS) / HOUR_MS) as usize
}

/// The most frequent value (ties: the smallest), when it is carried at least
/// `needed` times, as owned text.
fn most_common<T: AsRef<str> + Ord>(values: impl Iterator<Item = T>, needed: usize) -> Option<String> {
    let mut counts: BTreeMap<T, usize> = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let (top, count) = counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))?;
    (count >= needed.max(1)).then(|| top.as_ref().to_owned())
}

/// The parameters a request sets, in words; `None` when it sets none (the
/// API's defaults say nothing of who sent it, and a log without parameters
/// must not make every account look alike).
fn parameters(r: &RequestRecord) -> Option<String> {
    let mut set = Vec::new();
    if let Some(t) = r.temperature {
        set.push(format!("temperature {t}"));
    }
    if let Some(m) = r.max_tokens {
        set.push(format!("max_tokens {m}"));
    }
    if let Some(n) = r.n {
        set.push(format!("n {n}"));
    }
    if let Some(l) = r.logprobs {
        set.push(format!("logprobs {l}"));
    }
    (!set.is_empty()).then(|| set.join(", "))
}

/// The /16 (IPv4) or /32 (IPv6) of an address: a proxy pool's addresses
/// change it, a carrier's NAT pool or a campus keeps it.
fn prefix16(ip: IpAddr) -> (bool, u32) {
    match ip {
        IpAddr::V4(v4) => (false, u32::from(v4) >> 16),
        IpAddr::V6(v6) => (true, (u128::from(v6) >> 96) as u32),
    }
}

/// A group of accounts that share one trace of each kind, more of them than
/// chance explains.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceLink {
    /// Member indices into the population, ascending.
    pub members: Vec<usize>,
    /// The infrastructure trace they share.
    pub infrastructure: Trace,
    /// The fingerprint they share.
    pub fingerprint: Trace,
    /// Accounts in the window showing the infrastructure trace.
    pub infrastructure_accounts: usize,
    /// Accounts in the window showing the fingerprint.
    pub fingerprint_accounts: usize,
    /// Accounts in the window.
    pub population: usize,
    /// How many would share both by chance (`a·b/n`, `n` at least
    /// [`MIN_POPULATION`]).
    pub expected: f64,
}

impl TraceLink {
    /// Links of one group on one infrastructure trace in words, with how
    /// rare each trace is: "sending from N (a of n accounts) and setting P
    /// (b of n), with the opening W (c of n); at most x expected to share
    /// both by chance".
    pub fn words_of(links: &[TraceLink]) -> String {
        let Some(first) = links.first() else { return String::new() };
        let fingerprints: Vec<String> = links
            .iter()
            .map(|l| format!("{} ({} of {})", l.fingerprint.words(), l.fingerprint_accounts, l.population))
            .collect();
        let most = links.iter().map(|l| l.expected).fold(0.0, f64::max);
        format!(
            "{} ({} of {} accounts) and {}; {most:.2} or fewer expected to share both by chance",
            first.infrastructure.words(),
            first.infrastructure_accounts,
            first.population,
            fingerprints.join(", ")
        )
    }
}

/// The groups of accounts that share an infrastructure trace and a
/// fingerprint more often than chance explains (see the module's page).
/// Each account offers at most a few traces of each kind, so the pairs of
/// traces are bucketed, never the pairs of accounts: linear in accounts.
pub fn trace_links(footprints: &[Option<&Footprint>]) -> Vec<TraceLink> {
    let population = footprints.len();
    let counted_among = population.max(MIN_POPULATION);
    let mut accounts_with: BTreeMap<&Trace, usize> = BTreeMap::new();
    for footprint in footprints.iter().flatten() {
        for trace in &footprint.traces {
            *accounts_with.entry(trace).or_default() += 1;
        }
    }
    let mut pairs: BTreeMap<(&Trace, &Trace), Vec<usize>> = BTreeMap::new();
    for (index, footprint) in footprints.iter().enumerate() {
        let Some(footprint) = footprint else { continue };
        let (infrastructure, fingerprint): (Vec<&Trace>, Vec<&Trace>) =
            footprint.traces.iter().filter(|t| accounts_with[t] >= 2).partition(|t| t.is_infrastructure());
        for i in &infrastructure {
            for f in &fingerprint {
                pairs.entry((*i, *f)).or_default().push(index);
            }
        }
    }
    pairs
        .into_iter()
        .filter(|(_, members)| members.len() >= 2)
        .filter(|((infrastructure, fingerprint), members)| match infrastructure {
            Trace::Network(_) => members.len() as f64 >= NETWORK_OWNER_SHARE * accounts_with[*infrastructure] as f64,
            Trace::DailyStart(_) => {
                members.len() as f64 >= FINGERPRINT_OWNER_SHARE * accounts_with[*fingerprint] as f64
                    && repeated_tasks(members.iter().filter_map(|m| footprints[*m]))
                        .is_some_and(|share| share <= MAX_REPEATED_TASKS)
            }
            _ => true,
        })
        .filter_map(|((infrastructure, fingerprint), members)| {
            let (a, b) = (accounts_with[infrastructure], accounts_with[fingerprint]);
            let expected = a as f64 * b as f64 / counted_among as f64;
            (poisson_tail(expected, members.len()) < SURPRISE_P).then(|| TraceLink {
                members,
                infrastructure: infrastructure.clone(),
                fingerprint: fingerprint.clone(),
                infrastructure_accounts: a,
                fingerprint_accounts: b,
                population,
                expected,
            })
        })
        .collect()
}

/// The share of a group's task keys (one per member and key) that two
/// members or more hold; `None` when the members hold none (their tasks say
/// nothing of a job).
fn repeated_tasks<'a>(members: impl Iterator<Item = &'a Footprint>) -> Option<f64> {
    let mut holders: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    for footprint in members {
        for key in &footprint.tasks {
            *holders.entry(*key).or_default() += 1;
        }
    }
    let total: usize = holders.values().sum();
    let repeated: usize = holders.values().filter(|n| **n >= 2).sum();
    (total > 0).then(|| repeated as f64 / total as f64)
}

/// P(X ≥ k) for X ~ Poisson(mean), summed in log space from k up (the terms
/// fall fast once past the mean; for k at or below the mean the answer is
/// not small, and 1 is returned).
pub fn poisson_tail(mean: f64, k: usize) -> f64 {
    if k == 0 || mean >= k as f64 {
        return 1.0;
    }
    if mean <= 0.0 {
        return 0.0;
    }
    let ln_term = |j: usize| -mean + j as f64 * mean.ln() - ln_factorial(j);
    let mut total = 0.0;
    let mut j = k;
    loop {
        let term = ln_term(j).exp();
        total += term;
        if term < total * 1e-12 || j > k + 10_000 {
            break;
        }
        j += 1;
    }
    total.min(1.0)
}

/// ln(j!), exact below 20 and by Stirling's series above.
fn ln_factorial(j: usize) -> f64 {
    if j < 20 {
        return (2..=j).map(|i| (i as f64).ln()).sum();
    }
    let x = j as f64;
    x * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI * x).ln() + 1.0 / (12.0 * x) - 1.0 / (360.0 * x.powi(3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::test_support::request;

    fn from(ips: &[String], temperature: Option<f32>) -> Vec<RequestRecord> {
        ips.iter()
            .enumerate()
            .map(|(i, ip)| {
                let mut r = request(i, i as i64 * 60_000, "p");
                r.client_ip = Some(ip.parse().unwrap());
                r.temperature = temperature;
                r
            })
            .collect()
    }

    #[test]
    fn networks_with_a_real_share_of_the_traffic_are_an_accounts_and_a_pool_rotates() {
        // A script on three hosting networks at random, 30 requests.
        let three: Vec<String> = (0..30).map(|i| format!("34.{}.7.{}", i % 3, 10 + i)).collect();
        let footprint = Footprint::of(&from(&three, Some(0.7)), &[]);
        assert_eq!(
            footprint.traces,
            vec![
                Trace::Network("34.0.7.0/24".into()),
                Trace::Network("34.1.7.0/24".into()),
                Trace::Network("34.2.7.0/24".into()),
                Trace::Parameters("temperature 0.7".into()),
            ]
        );
        let addresses = |ips: &[String]| ips.iter().map(|ip| ip.parse().unwrap()).collect::<Vec<IpAddr>>();
        assert_eq!(address_churn(&addresses(&three)), Some(3.0 / 30.0));
        // A residential proxy pool: a new /16 for each request, no network of its own.
        let pool: Vec<String> = (0..30).map(|i| format!("{}.{}.{}.9", 70 + i % 20, i * 7, i)).collect();
        let footprint = Footprint::of(&from(&pool, None), &[]);
        assert_eq!(footprint.traces, vec![Trace::RotatingAddresses], "no parameters set is no fingerprint");
        // A person: home, and a phone on a carrier's NAT prefix (one /16, many /24s).
        let mut person: Vec<String> = (0..24).map(|_| "82.10.20.5".to_string()).collect();
        person.extend((0..6).map(|i| format!("47.100.{}.3", 10 * i)));
        let footprint = Footprint::of(&from(&person, None), &[]);
        assert_eq!(footprint.traces, vec![Trace::Network("82.10.20.0/24".into())]);
        assert_eq!(address_churn(&addresses(&person)), Some(2.0 / 30.0));
        // Too few requests to say anything of churn or software.
        assert_eq!(Footprint::of(&from(&pool[..4], Some(1.0)), &[]).traces, Vec::new());
    }

    #[test]
    fn a_minority_of_a_shared_network_does_not_link_on_what_its_tenants_pick_alike() {
        let template = Trace::Wrapper("opening \"create a detailed study guide\"".into());
        let egress = Trace::Network("44.59.57.0/24".into());
        let app = |k: usize, shared: bool| Footprint {
            traces: vec![
                egress.clone(),
                if shared { template.clone() } else { Trace::Wrapper(format!("opening \"app template {k}\"")) },
            ],
            ..Footprint::default()
        };
        // Thirty apps on one egress, five of them on one open-source template.
        let apps: Vec<Footprint> = (0..30).map(|k| app(k, k < 5)).collect();
        let person = Footprint { traces: vec![Trace::Network("82.1.1.0/24".into())], ..Footprint::default() };
        let mut all: Vec<Option<&Footprint>> = apps.iter().map(Some).collect();
        all.extend(std::iter::repeat_n(Some(&person), 2000));
        assert!(trace_links(&all).is_empty());
        // The same five alone on a network of their own are one operator's.
        let owned: Vec<Footprint> = (0..5)
            .map(|_| Footprint {
                traces: vec![Trace::Network("34.9.9.0/24".into()), template.clone()],
                ..Footprint::default()
            })
            .collect();
        all.extend(owned.iter().map(Some));
        let links = trace_links(&all);
        assert_eq!(links.len(), 1, "{links:?}");
        assert_eq!(links[0].members, (2030..2035).collect::<Vec<_>>());
    }

    /// A small deterministic generator for the schedule tests.
    fn lcg(state: &mut u64) -> f64 {
        *state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (*state >> 11) as f64 / (1u64 << 53) as f64
    }

    const H: i64 = 3_600_000;

    #[test]
    fn a_schedulers_day_starts_in_one_hour_and_a_persons_or_a_round_the_clock_services_does_not() {
        let mut state = 7;
        let day0 = 20_000 * 24 * H;
        // A script at random over the whole day, 12 requests a day for 5 days.
        let mut poisson: Vec<i64> =
            (0..60).map(|i| day0 + (i / 12) * 24 * H + (lcg(&mut state) * 24.0 * H as f64) as i64).collect();
        poisson.sort_unstable();
        assert_eq!(daily_start(&poisson), None, "round the clock is every service's, no trace");
        // A scheduler's shift from 05:00 for 10 hours, 15 requests a day.
        let shift = |start: i64, hours: i64, state: &mut u64| {
            let mut times: Vec<i64> = (0..75)
                .map(|i| {
                    day0 + (i / 15) * 24 * H + start * H + (i % 15) * hours * H / 15 + (lcg(state) * 90_000.0) as i64
                })
                .collect();
            times.sort_unstable();
            times
        };
        assert_eq!(daily_start(&shift(5, 10, &mut state)), Some(5));
        // One from 20:00 for 12 hours crosses midnight: its day starts at 20:00.
        assert_eq!(daily_start(&shift(20, 12, &mut state)), Some(20));
        // A person: sessions between 08:00 and 23:00 that start at another hour each day.
        let mut person = Vec::new();
        for day in 0..6 {
            let first = 8 + (day * 5) % 7;
            for k in 0..10 {
                person.push(day0 + day * 24 * H + first * H + (lcg(&mut state) * ((23 - first) * H) as f64) as i64 + k);
            }
        }
        person.sort_unstable();
        assert_eq!(daily_start(&person), None);
        // Too few requests, or too few days, say nothing.
        assert_eq!(daily_start(&shift(5, 10, &mut state)[..40]), None);
        let two_days: Vec<i64> = (0..60).map(|i| day0 + (i % 2) * 24 * H + i * 1_000).collect();
        assert_eq!(daily_start(&two_days), None);
    }

    /// A footprint with these traces and task keys.
    fn print(traces: &[Trace], tasks: std::ops::Range<u64>) -> Footprint {
        Footprint { traces: traces.to_vec(), tasks: tasks.collect() }
    }

    #[test]
    fn a_schedule_links_only_a_group_that_owns_its_software_and_splits_one_job() {
        let params = Trace::Parameters("temperature 0.3, max_tokens 3000".into());
        let person = print(&[], 0..0);
        // Twenty accounts of a farm without client addresses: one shift
        // starting at 06:00, one parameter vector, each its own slice of one job.
        let farm: Vec<Footprint> =
            (0..20).map(|k| print(&[Trace::DailyStart(6), params.clone()], k * 10..k * 10 + 10)).collect();
        // Two hundred batch jobs starting at 06:00, each with its own parameters.
        let services: Vec<Footprint> = (0..200)
            .map(|k| print(&[Trace::DailyStart(6), Trace::Parameters(format!("max_tokens {k}"))], 0..0))
            .collect();
        let mut all: Vec<Option<&Footprint>> = farm.iter().map(Some).collect();
        all.extend(services.iter().map(Some));
        all.extend(std::iter::repeat_n(Some(&person), 1500));
        let links = trace_links(&all);
        assert_eq!(links.len(), 1, "{links:?}");
        assert_eq!((links[0].members.clone(), &links[0].infrastructure), ((0..20).collect(), &Trace::DailyStart(6)));

        // Sixty of the batch jobs picked one common vector, which three
        // hundred developers also set: the jobs are a minority of its accounts.
        let common = Trace::Parameters("temperature 0.7".into());
        let picked: Vec<Footprint> =
            (0..60).map(|k| print(&[Trace::DailyStart(6), common.clone()], k..k + 1)).collect();
        let developer = print(std::slice::from_ref(&common), 0..0);
        let mut all: Vec<Option<&Footprint>> = picked.iter().map(Some).collect();
        all.extend(services.iter().map(Some));
        all.extend(std::iter::repeat_n(Some(&developer), 300));
        // In a window of 5,800 that is more than chance (about 17 expected)...
        all.extend(std::iter::repeat_n(Some(&person), 5000));
        // ... but what many accounts pick alike is not the group's own.
        assert!(trace_links(&all).is_empty());

        // Twelve users of one eval harness (its system prompt) on one nightly
        // cron, all running one benchmark: they repeat each other's tasks.
        let harness = Trace::SystemPrompt { hash: 9, opening: "You are being evaluated.".into() };
        let users: Vec<Footprint> = (0..12).map(|_| print(&[Trace::DailyStart(0), harness.clone()], 0..40)).collect();
        let mut all: Vec<Option<&Footprint>> = users.iter().map(Some).collect();
        all.extend(std::iter::repeat_n(Some(&person), 1500));
        assert!(trace_links(&all).is_empty());
        // The same twelve splitting one job among them are one operation's.
        let slices: Vec<Footprint> =
            (0..12).map(|k| print(&[Trace::DailyStart(0), harness.clone()], k * 40..k * 40 + 40)).collect();
        let mut all: Vec<Option<&Footprint>> = slices.iter().map(Some).collect();
        all.extend(std::iter::repeat_n(Some(&person), 1500));
        let links = trace_links(&all);
        assert_eq!(links.len(), 1, "{links:?}");
        assert_eq!(links[0].members, (0..12).collect::<Vec<_>>());
        // With no task keys the tasks say nothing of a job: no link on a schedule.
        let silent: Vec<Footprint> = (0..12).map(|_| print(&[Trace::DailyStart(0), harness.clone()], 0..0)).collect();
        let mut all: Vec<Option<&Footprint>> = silent.iter().map(Some).collect();
        all.extend(std::iter::repeat_n(Some(&person), 1500));
        assert!(trace_links(&all).is_empty());
    }

    #[test]
    fn the_poisson_tail_is_exact_where_it_matters() {
        // P(X >= 2 | 0.1) = 1 - e^-0.1 (1 + 0.1)
        let exact = 1.0 - (-0.1f64).exp() * 1.1;
        assert!((poisson_tail(0.1, 2) - exact).abs() < 1e-12, "{}", poisson_tail(0.1, 2));
        assert_eq!(poisson_tail(3.0, 3), 1.0);
        assert_eq!(poisson_tail(0.0, 1), 0.0);
        // Stirling above 20 agrees with the product.
        let product: f64 = (2..=25).map(|i| (i as f64).ln()).sum();
        assert!((ln_factorial(25) - product).abs() < 1e-9);
        assert!(poisson_tail(0.5, 30) < 1e-30);
    }

    #[test]
    fn a_pool_and_a_fingerprint_link_when_more_share_them_than_chance_gives() {
        let pool = Footprint {
            traces: vec![Trace::RotatingAddresses, Trace::Wrapper("ending \"think step by step\"".into())],
            ..Footprint::default()
        };
        let pool_only = Footprint { traces: vec![Trace::RotatingAddresses], ..Footprint::default() };
        let person = Footprint { traces: vec![Trace::Network("82.1.1.0/24".into())], ..Footprint::default() };
        // 12 farm accounts, 60 other pool users (VPNs), 900 people.
        let mut all: Vec<&Footprint> = vec![&pool; 12];
        all.extend(std::iter::repeat_n(&pool_only, 60));
        all.extend(std::iter::repeat_n(&person, 900));
        let links = trace_links(&all.iter().map(|f| Some(*f)).collect::<Vec<_>>());
        assert_eq!(links.len(), 1, "{links:?}");
        assert_eq!(links[0].members, (0..12).collect::<Vec<_>>());
        assert_eq!(
            (links[0].infrastructure_accounts, links[0].fingerprint_accounts, links[0].population),
            (72, 12, 972)
        );
        // A tenth of the window on rotating addresses and a tenth sending the
        // phrase, independently: ten send both, which is what chance gives.
        let phrase_only = Footprint {
            traces: vec![Trace::Network("82.1.1.0/24".into()), Trace::Wrapper("ending \"think step by step\"".into())],
            ..Footprint::default()
        };
        let mut crowded: Vec<&Footprint> = vec![&pool; 10];
        crowded.extend(std::iter::repeat_n(&pool_only, 90));
        crowded.extend(std::iter::repeat_n(&phrase_only, 90));
        crowded.extend(std::iter::repeat_n(&person, 810));
        let links = trace_links(&crowded.iter().map(|f| Some(*f)).collect::<Vec<_>>());
        assert!(links.is_empty(), "{links:?}");
    }
}
