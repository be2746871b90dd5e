//! A linked cluster read as one actor.
//!
//! A hydra farm keeps each account under every per-account line: thirty
//! accounts at a few dozen requests a day each, every one a light user. Its
//! operator is not light: together they send what a bulk harvester sends,
//! with one harvest shape. Once linking has joined the accounts (each member
//! through edges of its own), the cluster's requests are merged into one
//! time-ordered stream and scored with the account model, like any account:
//! its volume, its coverage, its templates and its harvest signals; and by
//! the cluster model (evidence and size, [`Weights::cluster_risk`]) on that
//! merged evidence rather than on its members' mean. A member rises to its
//! operator's risk when that is higher (`linked_operator`).
//!
//! The audit reads the members' requests again after linking
//! ([`readings`] says whose); this module is the pure half: which members
//! are read, and what the operator's signals do to its members' verdicts.

use serde::Serialize;

use dw_domain::{Contribution, RiskLevel};

use crate::DetectConfig;
use crate::detector::Verdict;
use crate::scoring::{ScoredSignal, Weights};
use crate::signals::Signal;

/// The most requests read to score one operator: members are read in
/// account order until the next would pass it (memory holds them all at
/// once). An operator read in part says so in its evidence.
pub const MAX_OPERATOR_REQUESTS: usize = 50_000;

/// What the audit reads to score one cluster as an actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The cluster.
    pub cluster_id: String,
    /// Its members whose requests are read, in account order.
    pub accounts: Vec<String>,
    /// Its members in all.
    pub members: usize,
}

/// The clusters of a population's verdicts and the members to read for
/// each, in cluster order: the members an edge of their own says one
/// operator runs ([`Verdict::operated`]; accounts tied only by a card or a
/// sign-up burst have one owner, not one clock). A cluster of which fewer
/// than two such members fit under [`MAX_OPERATOR_REQUESTS`] is not read:
/// one account is already scored as itself.
pub fn readings(verdicts: &[Verdict]) -> Vec<Reading> {
    let mut clusters: std::collections::BTreeMap<&str, Vec<(&str, usize)>> = Default::default();
    for v in verdicts.iter().filter(|v| v.operated) {
        if let Some(cluster) = v.score.cluster_id.as_deref() {
            clusters.entry(cluster).or_default().push((v.score.account_id.as_str(), v.requests));
        }
    }
    clusters
        .into_iter()
        .filter_map(|(cluster_id, mut members)| {
            members.sort_unstable();
            let mut total = 0;
            let accounts: Vec<String> = members
                .iter()
                .take_while(|(_, requests)| {
                    total += requests;
                    total <= MAX_OPERATOR_REQUESTS
                })
                .map(|(id, _)| (*id).to_owned())
                .collect();
            (accounts.len() >= 2).then(|| Reading {
                cluster_id: cluster_id.to_owned(),
                accounts,
                members: members.len(),
            })
        })
        .collect()
}

/// A cluster's merged requests reduced to what its operator is scored on:
/// its signals. Its footprint, end users, request streams and templates are
/// its members', already scored.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The requests read.
    pub requests: usize,
    /// Their signals, as one account's.
    pub signals: Vec<Signal>,
}

impl Merged {
    /// The members' requests, merged in time order (`topics` as for
    /// accounts); `None` when there are none.
    pub fn of(requests: &[dw_domain::RequestRecord], topics: Option<&crate::topics::Topics>) -> Option<Self> {
        if requests.is_empty() {
            return None;
        }
        let structure = crate::signals::PromptStructure::of(requests);
        let signals =
            crate::signals::account_signals(requests, &structure, topics, None, crate::signals::MIN_REQUESTS_FOR_SHARE);
        Some(Self { requests: requests.len(), signals })
    }
}

/// A cluster scored as one actor, shown with each of its members.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OperatorVerdict {
    /// The cluster.
    pub cluster_id: String,
    /// Its members run by one operator (all of them, unless some are tied
    /// to it only by a card or a sign-up burst).
    pub members: usize,
    /// The members whose requests were read (all, unless the cluster's
    /// requests passed [`MAX_OPERATOR_REQUESTS`]).
    pub members_read: usize,
    /// The requests read.
    pub requests: usize,
    /// Its risk: the higher of the account model on its merged requests and
    /// the cluster model on the same evidence with its size.
    pub risk: f64,
    /// Its level.
    pub level: RiskLevel,
    /// Its largest contributions.
    pub top_signals: Vec<Contribution>,
    /// The signals behind them, with their values and counts.
    pub signals: Vec<ScoredSignal>,
}

/// Scores each operator (a cluster's merged requests reduced to signals,
/// with its [`Reading`]) and raises its operated members to the operator's
/// risk where that is higher. Members keep their own signals; the operator's are shown
/// beside them.
pub fn score_operators(
    verdicts: &mut [Verdict],
    operators: Vec<(Reading, Merged)>,
    config: &DetectConfig,
    weights: &Weights,
) {
    let mut index: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for (i, v) in verdicts.iter().enumerate().filter(|(_, v)| v.operated) {
        if let Some(cluster) = &v.score.cluster_id {
            index.entry(cluster.clone()).or_default().push(i);
        }
    }
    for (reading, merged) in operators {
        let Some(members) = index.get(&reading.cluster_id) else { continue };
        let operator = score_operator(&reading, merged, config, weights);
        for m in members {
            let verdict = &mut verdicts[*m];
            if operator.risk > verdict.score.risk {
                crate::detector::raise(&mut verdict.score, operator.risk, "linked_operator", config);
            }
            verdict.operator = Some(operator.clone());
        }
    }
}

fn score_operator(reading: &Reading, merged: Merged, config: &DetectConfig, weights: &Weights) -> OperatorVerdict {
    let with_percentiles = merged.signals.into_iter().map(|s| (s, None)).collect();
    let (mut score, scored) =
        crate::scoring::score_account(&reading.cluster_id, with_percentiles, weights, &config.levels, &config.flags);
    let sum = crate::detector::weighted_sum(&scored);
    // The cluster model on the operator's own evidence: the members' mean
    // understates a job split into slices (each slice too small for a share,
    // a rate or a coverage to show), the merged stream does not.
    let as_cluster = weights.cluster_risk(sum, reading.members);
    if as_cluster > score.risk {
        crate::detector::raise(&mut score, as_cluster, "operator_evidence_as_cluster", config);
    }
    let mut shown: Vec<ScoredSignal> = scored.into_iter().filter(|s| s.contribution > 0.0).collect();
    shown.sort_by(|a, b| b.contribution.total_cmp(&a.contribution).then(a.signal.name.cmp(b.signal.name)));
    shown.truncate(5);
    OperatorVerdict {
        cluster_id: reading.cluster_id.clone(),
        members: reading.members,
        members_read: reading.accounts.len(),
        requests: merged.requests,
        risk: score.risk,
        level: score.level,
        top_signals: score.top_signals,
        signals: shown,
    }
}
