//! Cross-account linking: accounts that share what one operator's accounts
//! share, joined into clusters whose evidence raises each member's risk.
//!
//! Three kinds of edge, each with the members it joins and why:
//!
//! - **traces** ([`footprint`]): an infrastructure trace (a network carrying
//!   a real share of the traffic, or addresses rotating like a proxy pool's)
//!   together with a fingerprint of the software (parameters, system prompt,
//!   wrapper), shared by more accounts than the two traces' frequencies in
//!   the window explain. One kind alone never links: a cloud egress, a
//!   campus or a carrier's NAT pool shares networks, an agent framework
//!   shares its system prompt and parameters, a viral prompt shares content;
//! - **a payment instrument** (imported attributes);
//! - **a registration burst** on one e-mail domain (imported attributes), on
//!   its own or among the domain's accounts that send one wrapper.
//!
//! Clusters are the connected components, except where the members of one
//! are two jobs by their tasks ([`tasks`]: two operators running one kit
//! through one proxy pool repeat each other's tasks, the accounts of one job
//! do not): the edges are then cut between the two. A member is in a cluster only
//! through edges of its own: an account that shares a farm's software but
//! not its infrastructure (an imitated customer, a user of the same tool)
//! is not joined to it. Templates shared across accounts are shown as
//! evidence, not linked (see [`crate::templates::shared_templates`] and
//! `docs/signals.md`).

pub mod footprint;
pub mod tasks;

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

pub use footprint::{Footprint, Trace, TraceLink};

/// The /24 (IPv4) or /48 (IPv6) network of an address, as text.
pub fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// A cluster of linked accounts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cluster {
    /// A stable id: the same members give the same id in every run.
    pub id: String,
    /// Member indices into the population, ascending.
    pub members: Vec<usize>,
    /// Why they are linked, in words.
    pub reason: String,
    /// Every edge that joins its members, strongest first.
    pub edges: Vec<Edge>,
}

impl Cluster {
    /// Whether `member` is joined by an edge that says one operator runs it
    /// ([`Edge::operation`]).
    pub fn operated(&self, member: usize) -> bool {
        self.edges.iter().any(|e| e.operation && e.members.contains(&member))
    }

    /// What joins one member to the others: the edges it is part of, in
    /// words (at most three, the largest first).
    /// `None` when every edge of the cluster joins it (the cluster's reason
    /// already says it all).
    pub fn member_reason(&self, member: usize) -> Option<String> {
        let own: Vec<&str> =
            self.edges.iter().filter(|e| e.members.contains(&member)).take(3).map(|e| e.words.as_str()).collect();
        (!own.is_empty() && own.len() < self.edges.len()).then(|| own.join("; "))
    }
}

/// One reason some accounts are linked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    /// The accounts it joins (indices, ascending).
    pub members: Vec<usize>,
    /// What they share, in words, with how rare it is.
    pub words: String,
    /// Whether it says one operator runs them (traces of one software on
    /// one infrastructure, or one generator's wrapper in one sign-up burst),
    /// rather than that they have one owner (a card, a sign-up burst): only
    /// accounts run by one operator are read as one actor
    /// ([`crate::operator`]). A family or a company shares a card, not a
    /// clock.
    pub operation: bool,
}

/// An [`Edge`] with its members named: what an audit keeps of it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct NamedEdge {
    /// The accounts it joins.
    pub members: Vec<String>,
    /// What they share, in words, with how rare it is.
    pub words: String,
    /// Whether it says one operator runs them ([`Edge::operation`]).
    pub operation: bool,
}

/// What can link an account to others.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkKeys<'a> {
    /// Its infrastructure and software traces (its wrappers among them).
    pub footprint: Option<&'a Footprint>,
    /// The fingerprint of its payment instrument (imported attributes).
    pub payment: Option<&'a str>,
    /// The fingerprint of its e-mail domain and when it was opened (Unix
    /// milliseconds), both from imported attributes.
    pub registration: Option<(&'a str, i64)>,
}

/// A frame counts as one of an account's wrappers when at least this share
/// of its prompts...
pub const WRAPPER_SHARE: f64 = 0.2;

/// ... and at least this many carry it.
pub const WRAPPER_MIN_PROMPTS: usize = 5;

/// An account's wrappers: the openings and closings (five words, masked;
/// [`crate::signals::prompt_frame`]) that at least [`WRAPPER_SHARE`] and
/// [`WRAPPER_MIN_PROMPTS`] of its prompts share around changing content
/// (prompts of ten words or fewer are all frame and are left out), at most
/// three, most used first. A generator script's wrapper shows here; so does
/// an app's template, which is why a wrapper links only together with
/// another trace of one operator: a network or rotating addresses beyond
/// chance ([`footprint`]), or a registration burst.
pub fn wrappers(frames: &[(String, String)]) -> Vec<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (head, tail) in frames {
        if head == tail {
            continue;
        }
        *counts.entry(format!("opening \"{head}\"")).or_default() += 1;
        *counts.entry(format!("ending \"{tail}\"")).or_default() += 1;
    }
    let needed = WRAPPER_MIN_PROMPTS.max((WRAPPER_SHARE * frames.len() as f64).ceil() as usize);
    let mut kept: Vec<(usize, String)> =
        counts.into_iter().filter(|(_, n)| *n >= needed).map(|(w, n)| (n, w)).collect();
    kept.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    kept.into_iter().take(3).map(|(_, w)| w).collect()
}

/// Accounts opened within this span of each other form a registration burst.
pub const BURST_MS: i64 = 48 * 3_600_000;

/// A burst links its accounts when it has at least this many...
pub const BURST_MIN_ACCOUNTS: usize = 3;

/// ... and holds at least this share of the window's accounts on its e-mail
/// domain: a big provider's or a company's accounts are opened over years,
/// and a few opened on the same day are a coincidence or an onboarding; an
/// operator opens its campaign's accounts together.
pub const BURST_DOMAIN_SHARE: f64 = 0.5;

/// Clusters of two or more accounts: the connected components of the graph
/// whose edges join accounts sharing traces beyond chance, a payment
/// instrument, or a registration burst. The reason names what is shared.
pub fn clusters(accounts: &[(&str, LinkKeys<'_>)]) -> Vec<Cluster> {
    let mut edges: Vec<Edge> = Vec::new();
    let footprints: Vec<Option<&Footprint>> = accounts.iter().map(|(_, k)| k.footprint).collect();
    // One edge per group and network: the fingerprints it shares there listed together.
    let mut by_group: BTreeMap<(Vec<usize>, Trace), Vec<TraceLink>> = BTreeMap::new();
    for link in footprint::trace_links(&footprints) {
        by_group.entry((link.members.clone(), link.infrastructure.clone())).or_default().push(link);
    }
    for ((members, _), links) in by_group {
        edges.push(Edge { words: TraceLink::words_of(&links), members, operation: true });
    }
    let mut by_payment: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, (_, keys)) in accounts.iter().enumerate() {
        if let Some(payment) = keys.payment {
            by_payment.entry(payment).or_default().push(index);
        }
    }
    for (payment, members) in by_payment.into_iter().filter(|(_, m)| m.len() >= 2) {
        let short: String = payment.chars().take(12).collect();
        edges.push(Edge {
            words: format!("paying with one payment instrument ({short}…)"), members, operation: false
        });
    }
    for (domain, members) in
        registration_bursts(accounts).into_iter().flat_map(|(d, b)| b.into_iter().map(move |m| (d, m)))
    {
        let short: String = domain.chars().take(12).collect();
        edges.push(Edge {
            words: format!("opened within 48 hours on one e-mail domain ({short}…)"),
            members,
            operation: false,
        });
    }
    for ((domain, wrapper), members) in
        wrapper_bursts(accounts).into_iter().flat_map(|(k, b)| b.into_iter().map(move |m| (k, m)))
    {
        let short: String = domain.chars().take(12).collect();
        let words = format!("opened within 48 hours on one e-mail domain ({short}…), sending the {wrapper}");
        edges.push(Edge { words, members, operation: true });
    }
    // Largest first; ties in the order found (traces, payments, bursts), which is deterministic.
    edges.sort_by_key(|e| std::cmp::Reverse(e.members.len()));
    let (edges, notes) = split_jobs(accounts, edges);
    let mut parent = union(accounts.len(), &edges);
    let mut components: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for index in 0..accounts.len() {
        let r = root(&mut parent, index);
        components.entry(r).or_default().push(index);
    }
    let mut by_component: BTreeMap<usize, Vec<Edge>> = BTreeMap::new();
    for edge in edges {
        by_component.entry(root(&mut parent, edge.members[0])).or_default().push(edge);
    }
    components
        .into_iter()
        .filter(|(_, members)| members.len() >= 2)
        .map(|(r, members)| {
            let mut ids: Vec<&str> = members.iter().map(|m| accounts[*m].0).collect();
            ids.sort_unstable();
            let edges = by_component.remove(&r).unwrap_or_default();
            let reason = match edges.as_slice() {
                [edge] if edge.members.len() == members.len() => format!("{} accounts {}", members.len(), edge.words),
                _ => {
                    let shown: Vec<String> =
                        edges.iter().take(4).map(|e| format!("{} {}", e.members.len(), e.words)).collect();
                    let more = match edges.len().saturating_sub(4) {
                        0 => String::new(),
                        more => format!("; and {more} more shared traces, instruments or domains"),
                    };
                    format!("{} linked accounts: {}{more}", members.len(), shown.join("; "))
                }
            };
            let reason = match members.iter().find_map(|m| notes.get(m)) {
                Some(note) => format!("{reason}; {note}"),
                None => reason,
            };
            Cluster { id: format!("c-{:016x}", stable_hash(&ids.join("\n"))), reason, members, edges }
        })
        .collect()
}

fn root(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// The union-find forest of `edges` over `n` accounts.
fn union(n: usize, edges: &[Edge]) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..n).collect();
    for edge in edges {
        for m in &edge.members[1..] {
            let (a, b) = (root(&mut parent, edge.members[0]), root(&mut parent, *m));
            parent[a.max(b)] = a.min(b);
        }
    }
    parent
}

/// The edges with those between two jobs of one component cut
/// ([`tasks::jobs`]), and the words that say so for each member of a
/// component that was split.
fn split_jobs(accounts: &[(&str, LinkKeys<'_>)], edges: Vec<Edge>) -> (Vec<Edge>, BTreeMap<usize, String>) {
    let mut parent = union(accounts.len(), &edges);
    let mut components: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for edge in &edges {
        for m in &edge.members {
            components.entry(root(&mut parent, *m)).or_default().push(*m);
        }
    }
    // A member's job: its component's root and its label there.
    let mut job: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    let mut notes = BTreeMap::new();
    for (r, mut members) in components {
        members.sort_unstable();
        members.dedup();
        if members.len() < 2 * tasks::MIN_PART {
            continue;
        }
        let keys: Vec<&[u64]> =
            members.iter().map(|m| accounts[*m].1.footprint.map_or(&[][..], |f| f.tasks.as_slice())).collect();
        if let Some(split) = tasks::jobs(&keys) {
            for (m, label) in members.iter().zip(&split.labels) {
                job.insert(*m, (r, *label));
                if let Some(note) = split.notes.get(label) {
                    notes.insert(*m, note.clone());
                }
            }
        }
    }
    if job.is_empty() {
        return (edges, notes);
    }
    let mut cut = Vec::with_capacity(edges.len());
    for edge in edges {
        let mut parts: BTreeMap<Option<(usize, usize)>, Vec<usize>> = BTreeMap::new();
        for m in &edge.members {
            parts.entry(job.get(m).copied()).or_default().push(*m);
        }
        if parts.len() == 1 {
            cut.push(edge);
            continue;
        }
        for members in parts.into_values().filter(|m| m.len() >= 2) {
            cut.push(Edge { members, words: edge.words.clone(), operation: edge.operation });
        }
    }
    cut.sort_by_key(|e| std::cmp::Reverse(e.members.len()));
    (cut, notes)
}

/// Registration bursts by e-mail domain: per domain, the accounts opened in
/// its busiest span of [`BURST_MS`], when they are at least
/// [`BURST_MIN_ACCOUNTS`] and [`BURST_DOMAIN_SHARE`] of the domain's accounts.
fn registration_bursts<'a>(accounts: &[(&str, LinkKeys<'a>)]) -> BTreeMap<&'a str, Vec<Vec<usize>>> {
    let mut by_domain: BTreeMap<&str, Vec<(i64, usize)>> = BTreeMap::new();
    for (index, (_, keys)) in accounts.iter().enumerate() {
        if let Some((domain, opened)) = keys.registration {
            by_domain.entry(domain).or_default().push((opened, index));
        }
    }
    bursts(by_domain)
}

/// Registration bursts among the accounts of one e-mail domain that send one
/// wrapper: on a big provider's domain a campaign's accounts are too few of
/// the domain's for a burst of their own, but among the domain's accounts
/// sending the campaign's wrapper they are most. Unrelated users of a popular
/// prompt or tool were opened over years, so they make no burst.
fn wrapper_bursts<'a>(accounts: &[(&str, LinkKeys<'a>)]) -> BTreeMap<(&'a str, &'a str), Vec<Vec<usize>>> {
    let mut by_key: BTreeMap<(&str, &str), Vec<(i64, usize)>> = BTreeMap::new();
    for (index, (_, keys)) in accounts.iter().enumerate() {
        if let Some((domain, opened)) = keys.registration {
            for wrapper in keys.footprint.into_iter().flat_map(Footprint::wrappers) {
                by_key.entry((domain, wrapper)).or_default().push((opened, index));
            }
        }
    }
    bursts(by_key)
}

/// Per group, its bursts: the accounts opened in its busiest span of
/// [`BURST_MS`], when they are at least [`BURST_MIN_ACCOUNTS`] and
/// [`BURST_DOMAIN_SHARE`] of the group's accounts, then the busiest span of
/// the rest under the same rule, the share now of the accounts no burst has
/// taken (two campaigns can open their accounts on one big provider behind
/// one popular wrapper, and the second is then a minority of the whole
/// group but most of what the first leaves). Each burst is its own member
/// list: it links its own accounts, and two bursts of one group are joined
/// only if something else links them.
fn bursts<K: Ord>(groups: BTreeMap<K, Vec<(i64, usize)>>) -> BTreeMap<K, Vec<Vec<usize>>> {
    let mut found = BTreeMap::new();
    for (key, mut opened) in groups {
        opened.sort_unstable();
        let mut group_bursts = Vec::new();
        while opened.len() >= BURST_MIN_ACCOUNTS {
            // The busiest span: two pointers over the opening times.
            let (mut best, mut first) = ((0, 0), 0);
            for last in 0..opened.len() {
                while opened[last].0 - opened[first].0 > BURST_MS {
                    first += 1;
                }
                if last + 1 - first > best.1 - best.0 {
                    best = (first, last + 1);
                }
            }
            let count = best.1 - best.0;
            if count < BURST_MIN_ACCOUNTS || (count as f64) < BURST_DOMAIN_SHARE * opened.len() as f64 {
                break;
            }
            let mut members: Vec<usize> = opened.drain(best.0..best.1).map(|(_, i)| i).collect();
            members.sort_unstable();
            group_bursts.push(members);
        }
        if !group_bursts.is_empty() {
            found.insert(key, group_bursts);
        }
    }
    found
}

/// FNV-1a: stable across runs and platforms (std's hasher is randomly keyed).
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::test_support::request;
    use dw_domain::RequestRecord;

    /// `count` requests from addresses in `network` (a /24 prefix such as
    /// "203.0.113"), with one system prompt.
    fn script(network: &str, system: &str, count: usize) -> Vec<RequestRecord> {
        (0..count)
            .map(|i| {
                let mut r = request(i, i as i64 * 60_000, "p");
                r.client_ip = Some(format!("{network}.{}", 2 + i % 200).parse().unwrap());
                r.user_agent = Some("OpenAI/Python 1.50.0".into());
                r.system_prompt = Some(system.into());
                r
            })
            .collect()
    }

    /// Accounts that share nothing: each its own network and system prompt.
    fn strangers(count: usize) -> Vec<Footprint> {
        (0..count)
            .map(|k| Footprint::of(&script(&format!("100.{}.{}", k / 250, k % 250), &format!("Bot {k}."), 10), &[]))
            .collect()
    }

    /// An account that sends these wrappers and leaves no other trace.
    fn sending(wrappers: &[&str]) -> &'static Footprint {
        Box::leak(Box::new(Footprint {
            traces: wrappers.iter().map(|w| Trace::Wrapper((*w).to_owned())).collect(),
            ..Footprint::default()
        }))
    }

    fn traced(footprints: &[Footprint]) -> Vec<(String, Footprint)> {
        footprints.iter().enumerate().map(|(i, f)| (format!("a{i:03}"), f.clone())).collect()
    }

    fn link(accounts: &[(String, Footprint)]) -> Vec<Cluster> {
        let keys: Vec<(&str, LinkKeys<'_>)> = accounts
            .iter()
            .map(|(id, f)| (id.as_str(), LinkKeys { footprint: Some(f), ..LinkKeys::default() }))
            .collect();
        clusters(&keys)
    }

    #[test]
    fn a_network_and_a_system_prompt_shared_beyond_chance_form_a_stable_cluster_and_either_alone_does_not() {
        let mut footprints = Vec::new();
        // Six accounts of one script on one hosting network.
        for _ in 0..6 {
            footprints.push(Footprint::of(&script("203.0.113", "You are a data labeller.", 20), &[]));
        }
        // Four apps on the same network, each its own system prompt (the
        // farm holds most of the network: a busy egress is footprint.rs's test).
        for k in 0..4 {
            footprints.push(Footprint::of(&script("203.0.113", &format!("You are app {k}."), 20), &[]));
        }
        // Ten users of a tool with the script's system prompt, each on its own network.
        for k in 0..10 {
            footprints.push(Footprint::of(&script(&format!("198.51.{k}"), "You are a data labeller.", 20), &[]));
        }
        footprints.extend(strangers(1000));
        let accounts = traced(&footprints);
        let found = link(&accounts);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].members, (0..6).collect::<Vec<_>>());
        assert!(
            found[0].reason.starts_with(
                "6 accounts sending from 203.0.113.0/24 (10 of 1020 accounts) and with the system prompt \"You are a data labeller.\" (16 of 1020);"
            ),
            "{}",
            found[0].reason
        );
        assert_eq!(found[0].member_reason(0), None, "one edge: the cluster's reason says it");
        // The same accounts in another order: the same id.
        let mut reordered = accounts.clone();
        reordered.reverse();
        assert_eq!(link(&reordered)[0].id, found[0].id);
    }

    #[test]
    fn two_jobs_behind_one_pool_and_one_kit_are_two_clusters_and_one_job_stays_whole() {
        let kit = |tasks: Vec<u64>| Footprint {
            traces: vec![Trace::RotatingAddresses, Trace::Wrapper("ending \"think step by step\"".into())],
            tasks,
        };
        // Two operators sweep one task set of 4,500 through one proxy pool with one kit.
        let mut footprints: Vec<Footprint> =
            super::tasks::tests::sliced(30, 150, 1, 4500).into_iter().map(kit).collect();
        footprints.extend(super::tasks::tests::sliced(20, 225, 2, 4500).into_iter().map(kit));
        footprints.extend(strangers(1000));
        let found = link(&traced(&footprints));
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].members, (0..30).collect::<Vec<_>>());
        assert_eq!(found[1].members, (30..50).collect::<Vec<_>>());
        assert!(found[0].edges.iter().all(|e| e.operation), "{:?}", found[0].edges);
        assert!(
            found[1].reason.contains("; told apart by their tasks from 30 accounts that share these traces"),
            "{}",
            found[1].reason
        );
        // Without the second operator the first is one cluster, and its tasks say nothing.
        let mut one: Vec<Footprint> = footprints[..30].to_vec();
        one.extend(strangers(1000));
        let found = link(&traced(&one));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].members, (0..30).collect::<Vec<_>>());
        assert!(!found[0].reason.contains("told apart"), "{}", found[0].reason);
    }

    #[test]
    fn shared_payment_instruments_join_accounts_and_bridge_networks() {
        let farm = Footprint::of(&script("203.0.113", "Answer in full.", 20), &[]);
        let mut accounts: Vec<(String, LinkKeys<'_>)> = Vec::new();
        for id in ["h1", "h2", "h3"] {
            accounts.push((id.into(), LinkKeys { footprint: Some(&farm), ..LinkKeys::default() }));
        }
        accounts[0].1.payment = Some("card-aaaaaaaaaaaa-1");
        // Residential members: nothing shared but the cards, one of them also used on the farm's server.
        accounts.push(("r1".into(), LinkKeys { payment: Some("card-aaaaaaaaaaaa-1"), ..LinkKeys::default() }));
        accounts.push(("r2".into(), LinkKeys { payment: Some("card-bbbbbbbbbbbb-2"), ..LinkKeys::default() }));
        accounts.push(("r3".into(), LinkKeys { payment: Some("card-bbbbbbbbbbbb-2"), ..LinkKeys::default() }));
        accounts.push(("alone".into(), LinkKeys { payment: Some("card-cccccccccccc-3"), ..LinkKeys::default() }));
        let strangers = strangers(1000);
        accounts.extend(
            strangers.iter().map(|f| ("s".to_string(), LinkKeys { footprint: Some(f), ..LinkKeys::default() })),
        );
        let keys: Vec<(&str, LinkKeys<'_>)> = accounts.iter().map(|(id, k)| (id.as_str(), *k)).collect();
        let found = clusters(&keys);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].members, vec![0, 1, 2, 3]);
        assert!(found[0].reason.starts_with("4 linked accounts: 3 sending from 203.0.113.0/24"), "{}", found[0].reason);
        assert!(
            found[0].reason.contains("; 2 paying with one payment instrument (card-aaaaaaa…)"),
            "{}",
            found[0].reason
        );
        assert_eq!(found[0].member_reason(3).unwrap(), "paying with one payment instrument (card-aaaaaaa…)");
        assert_eq!(found[1].members, vec![4, 5]);
        assert_eq!(found[1].reason, "2 accounts paying with one payment instrument (card-bbbbbbb…)");
    }

    #[test]
    fn accounts_opened_together_on_one_domain_are_linked_and_a_big_providers_are_not() {
        const HOUR: i64 = 3_600_000;
        let registration = |domain: &'static str, opened: i64| LinkKeys {
            registration: Some((domain, opened)),
            ..LinkKeys::default()
        };
        let mut accounts: Vec<(String, LinkKeys<'static>)> = Vec::new();
        // An operator's domain: five accounts opened over a day and a half.
        for k in 0..5 {
            accounts.push((format!("op{k}"), registration("dom-operator", 1000 * HOUR + k * 9 * HOUR)));
        }
        // A big provider: forty accounts opened over years, three of them on one day.
        for k in 0..40 {
            let opened = if k < 3 { 5000 * HOUR + k * HOUR } else { k * 700 * HOUR };
            accounts.push((format!("big{k:02}"), registration("dom-bigmail", opened)));
        }
        // A company: two seats opened the same day is a coincidence, not a burst.
        accounts.push(("co1".into(), registration("dom-company", 100 * HOUR)));
        accounts.push(("co2".into(), registration("dom-company", 101 * HOUR)));
        let linked: Vec<(&str, LinkKeys<'_>)> = accounts.iter().map(|(id, k)| (id.as_str(), *k)).collect();
        let found = clusters(&linked);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].members, vec![0, 1, 2, 3, 4]);
        assert_eq!(found[0].reason, "5 accounts opened within 48 hours on one e-mail domain (dom-operator…)");
        // One member opened a week later is not part of the burst.
        accounts[4].1 = registration("dom-operator", 1200 * HOUR);
        let linked: Vec<(&str, LinkKeys<'_>)> = accounts.iter().map(|(id, k)| (id.as_str(), *k)).collect();
        assert_eq!(clusters(&linked)[0].members, vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_wrapper_is_an_accounts_when_a_fifth_of_its_prompts_carry_it() {
        const SUBJECTS: [&str; 10] =
            ["rivers", "tax law", "sourdough", "orbits", "sonnets", "tariffs", "enzymes", "chess", "glaciers", "jazz"];
        let framed = |i: usize| {
            crate::signals::prompt_frame(&format!(
                "Answer the following task in full detail please: write an essay on {} for a class",
                SUBJECTS[i]
            ))
        };
        let mut frames: Vec<(String, String)> = (0..10).map(framed).collect();
        frames.extend((0..20).map(|i| (format!("head {i}"), format!("tail {i}"))));
        // A short prompt is all frame, not a wrapper around content.
        frames.extend((0..10).map(|_| ("hi there".to_string(), "hi there".to_string())));
        assert_eq!(wrappers(&frames), vec!["opening \"answer the following task in\"".to_string()]);
        assert!(wrappers(&frames[..4]).is_empty(), "four framed prompts are too few");
        assert!(wrappers(&frames[10..]).is_empty());
    }

    #[test]
    fn accounts_opened_together_on_a_big_provider_link_only_when_they_send_one_wrapper() {
        const HOUR: i64 = 3_600_000;
        let keys = |opened: i64, wrappers: &'static Footprint| LinkKeys {
            registration: Some(("dom-bigmail", opened)),
            footprint: Some(wrappers),
            ..LinkKeys::default()
        };
        let wrapper = sending(&["opening \"answer the following task in\""]);
        let other = sending(&["ending \"in the style of shakespeare\""]);
        let none = sending(&[]);
        let mut accounts: Vec<(String, LinkKeys<'static>)> = Vec::new();
        // Forty people on the provider, opened over years; two of them use the same wrapper.
        for k in 0..40 {
            let wrappers = if k < 2 { wrapper } else { none };
            accounts.push((format!("big{k:02}"), keys(k * 700 * HOUR, wrappers)));
        }
        // A campaign: four accounts opened within a day, all with the wrapper.
        for k in 0..4 {
            accounts.push((format!("farm{k}"), keys(90_000 * HOUR + k * 5 * HOUR, wrapper)));
        }
        // Three others opened that same day with another wrapper and one with none: no burst of theirs.
        for k in 0..2 {
            accounts.push((format!("newcomer{k}"), keys(90_000 * HOUR + k * HOUR, other)));
        }
        accounts.push(("newcomer2".into(), keys(90_001 * HOUR, none)));
        let linked: Vec<(&str, LinkKeys<'_>)> = accounts.iter().map(|(id, k)| (id.as_str(), *k)).collect();
        let found = clusters(&linked);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].members, vec![40, 41, 42, 43]);
        assert_eq!(
            found[0].reason,
            "4 accounts opened within 48 hours on one e-mail domain (dom-bigmail…), sending the opening \"answer the following task in\""
        );
        // The same four opened months apart are unrelated users of one wrapper.
        for (k, account) in accounts[40..44].iter_mut().enumerate() {
            account.1 = keys((k as i64) * 2000 * HOUR + 123 * HOUR, wrapper);
        }
        let linked: Vec<(&str, LinkKeys<'_>)> = accounts.iter().map(|(id, k)| (id.as_str(), *k)).collect();
        assert!(clusters(&linked).is_empty());
    }

    #[test]
    fn two_campaigns_behind_one_wrapper_on_one_provider_are_two_clusters() {
        const HOUR: i64 = 3_600_000;
        let wrapper = sending(&["opening \"respond in full detail:\""]);
        let keys = |opened: i64| LinkKeys {
            registration: Some(("dom-bigmail", opened)),
            footprint: Some(wrapper),
            ..LinkKeys::default()
        };
        let mut accounts: Vec<(String, LinkKeys<'static>)> = Vec::new();
        for k in 0..5 {
            accounts.push((format!("first{k}"), keys(1_000 * HOUR + k * HOUR)));
        }
        for k in 0..5 {
            accounts.push((format!("second{k}"), keys(9_000 * HOUR + k * HOUR)));
        }
        let linked: Vec<(&str, LinkKeys<'_>)> = accounts.iter().map(|(id, k)| (id.as_str(), *k)).collect();
        let found = clusters(&linked);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].members.clone(), found[1].members.clone()), ((0..5).collect(), (5..10).collect()));

        // A larger campaign first, a smaller one (a minority of the whole
        // group, most of what the first leaves), and people who send the same
        // popular wrapper from accounts opened months apart.
        let mut accounts: Vec<(String, LinkKeys<'static>)> = Vec::new();
        for k in 0..9 {
            accounts.push((format!("big{k}"), keys(1_000 * HOUR + k * 5 * HOUR)));
        }
        for k in 0..4 {
            accounts.push((format!("small{k}"), keys(9_000 * HOUR + k * 11 * HOUR)));
        }
        for k in 0..3 {
            accounts.push((format!("person{k}"), keys(20_000 * HOUR + k * 2_000 * HOUR)));
        }
        let linked: Vec<(&str, LinkKeys<'_>)> = accounts.iter().map(|(id, k)| (id.as_str(), *k)).collect();
        let found = clusters(&linked);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].members.clone(), found[1].members.clone()), ((0..9).collect(), (9..13).collect()));
    }
}
