//! From signals to risk: each signal is turned into a bounded score by a
//! documented transform, the scores are weighted, and the weighted sum is
//! mapped into [0, 1]. Weights and transforms live here, in one versioned
//! table.
//!
//! [`Weights::default`] (`signals-v1`) is set by hand from the signals'
//! definitions: it is the prior, whose transforms the fit keeps.
//! [`Weights::builtin`] is the table `distillwatch weights fit` fitted on
//! simulated traffic built from one half of the data (`weights.json` beside
//! this file); audits use it.

use std::sync::LazyLock;

use dw_domain::{AccountScore, Contribution};
use serde::{Deserialize, Serialize};

use crate::levels::{FlagPolicy, LevelThresholds};
use crate::signals::Signal;

/// The version of the hand-set prior.
pub const PRIOR_VERSION: &str = "signals-v1";

/// How a signal's value becomes a score in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Transform {
    /// 0 at or below `low`, 1 at or above `high`, linear between.
    Ramp {
        /// Score 0 here.
        low: f64,
        /// Score 1 here.
        high: f64,
    },
    /// 1 at or below `low`, 0 at or above `high` (smaller values are riskier).
    FallingRamp {
        /// Score 1 here.
        low: f64,
        /// Score 0 here.
        high: f64,
    },
    /// A logistic in log10 of the value: 0.5 at `midpoint`, steepness `width` decades.
    LogLogistic {
        /// Score one half here.
        midpoint: f64,
        /// Decades from one half to about 0.73.
        width: f64,
    },
}

impl Transform {
    /// The score of a value.
    pub fn apply(self, value: f64) -> f64 {
        let score = match self {
            Transform::Ramp { low, high } => (value - low) / (high - low),
            Transform::FallingRamp { low, high } => (high - value) / (high - low),
            Transform::LogLogistic { midpoint, width } => {
                let z = (value.max(1e-9).log10() - midpoint.log10()) / width;
                1.0 / (1.0 + (-z).exp())
            }
        };
        score.clamp(0.0, 1.0)
    }
}

/// One signal's place in the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weight {
    /// The signal.
    pub signal: String,
    /// Its transform.
    pub transform: Transform,
    /// Its weight.
    pub weight: f64,
}

/// The model: per-signal transforms and weights, and the mapping of the
/// weighted sum `s` into risk `1 / (1 + exp(-(s - offset) * slope))`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    /// The version.
    pub version: String,
    /// Per signal.
    pub signals: Vec<Weight>,
    /// The weighted sum at which risk is one half.
    pub offset: f64,
    /// How fast risk rises around the offset.
    pub slope: f64,
    /// Linked clusters of at least this many accounts add a size term to
    /// their members' mean evidence.
    pub cluster_min_size: usize,
    /// The size term: this times log2 of the cluster's size.
    pub cluster_size_weight: f64,
    /// A cluster's evidence: this times its members' mean weighted sum.
    #[serde(default = "one")]
    pub cluster_evidence_weight: f64,
    /// The cluster's own offset (in the units of the weighted sum); `None`
    /// takes `offset`.
    #[serde(default)]
    pub cluster_offset: Option<f64>,
    /// A request stream's evidence: this times its weighted sum.
    #[serde(default = "one")]
    pub stream_evidence_weight: f64,
    /// A request stream's own offset; `None` takes `offset`.
    #[serde(default)]
    pub stream_offset: Option<f64>,
    /// A request stream's detachment: this times the share of its requests
    /// sent more than 30 minutes from any of the account's other requests.
    #[serde(default)]
    pub stream_detached_weight: f64,
}

fn one() -> f64 {
    1.0
}

/// Signals that are reported and shown as evidence but never weighed: they
/// describe how an account's traffic is built without pointing either way.
/// A generator script fills one template with ever new tasks, but an app
/// backend fills its template with its users' ever new input and a
/// translation job with ever new documents, so how templated an account is
/// and how diverse its fills are says nothing about extraction on its own;
/// what the fills are is read by `task_instruction_share`.
///
/// The coverage signals (`topic_entropy`, `topic_evenness`, `reask_share`)
/// are reported only for another reason: they need the audit's embedded
/// sample, and the fit's traffic is not embedded (see `docs/signals.md`).
pub const REPORTED_ONLY: &[&str] =
    &["template_share", "slot_fill_diversity", "topic_entropy", "topic_evenness", "reask_share"];

/// The fitted table committed with this build.
static BUILTIN: LazyLock<Weights> = LazyLock::new(|| {
    serde_json::from_str(include_str!("weights.json")).expect("weights.json is written by `distillwatch weights fit`")
});

impl Weights {
    /// The fitted table audits use.
    pub fn builtin() -> &'static Weights {
        &BUILTIN
    }

    /// A linked cluster's risk from its members' mean weighted sum and its size.
    pub fn cluster_risk(&self, mean_evidence: f64, size: usize) -> f64 {
        let bonus = if size >= self.cluster_min_size { self.cluster_size_weight * (size as f64).log2() } else { 0.0 };
        let offset = self.cluster_offset.unwrap_or(self.offset);
        1.0 / (1.0 + (-(self.cluster_evidence_weight * mean_evidence + bonus - offset) * self.slope).exp())
    }

    /// A request stream's risk from its own weighted sum and its detached
    /// share.
    pub fn stream_risk(&self, weighted_sum: f64, detached_share: f64) -> f64 {
        let offset = self.stream_offset.unwrap_or(self.offset);
        let logit = self.stream_evidence_weight * weighted_sum + self.stream_detached_weight * detached_share - offset;
        1.0 / (1.0 + (-logit * self.slope).exp())
    }

    /// Risk of a weighted sum of scores.
    pub fn risk(&self, weighted_sum: f64) -> f64 {
        1.0 / (1.0 + (-(weighted_sum - self.offset) * self.slope).exp())
    }
}

impl Default for Weights {
    /// The prior: every weighed signal's transform and weight from
    /// [`crate::signals::registry`], and the models' starting constants.
    fn default() -> Self {
        Self {
            version: PRIOR_VERSION.to_owned(),
            signals: crate::signals::registry::SIGNALS
                .iter()
                .filter_map(|d| {
                    d.prior.map(|(transform, weight)| Weight { signal: d.name.to_owned(), transform, weight })
                })
                .collect(),
            offset: 3.2,
            slope: 1.6,
            cluster_min_size: 3,
            cluster_size_weight: 0.35,
            cluster_evidence_weight: 1.0,
            cluster_offset: None,
            stream_evidence_weight: 1.0,
            stream_offset: None,
            stream_detached_weight: 0.0,
        }
    }
}

/// An account's signals with their scores and contributions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScoredSignal {
    /// The signal.
    #[serde(flatten)]
    pub signal: Signal,
    /// Its percentile among the window's accounts that have it (0–100).
    pub percentile: Option<f64>,
    /// Its transformed score.
    pub score: Option<f64>,
    /// Its weight.
    pub weight: f64,
    /// What it added to the risk.
    pub contribution: f64,
}

/// Scores one account from its signals and their population percentiles.
pub fn score_account(
    account_id: &str,
    signals: Vec<(Signal, Option<f64>)>,
    weights: &Weights,
    levels: &LevelThresholds,
    policy: &FlagPolicy,
) -> (AccountScore, Vec<ScoredSignal>) {
    let mut scored: Vec<ScoredSignal> = signals
        .into_iter()
        .map(|(signal, percentile)| {
            let weight = weights.signals.iter().find(|w| w.signal == signal.name);
            // A value that is not a number (a 0/0 somewhere upstream) is
            // taken as not computed: it weighs nothing, rather than making
            // the whole risk NaN, which no level admits and no flag raises.
            let value = signal.value.filter(|v| !v.is_nan());
            let score = weight.zip(value).map(|(w, v)| w.transform.apply(v));
            ScoredSignal { percentile, score, weight: weight.map_or(0.0, |w| w.weight), contribution: 0.0, signal }
        })
        .collect();
    let sum: f64 = scored.iter().map(|s| s.score.unwrap_or(0.0) * s.weight).sum();
    let risk = weights.risk(sum);
    // Contributions split the risk in proportion to each signal's weighted score.
    for s in &mut scored {
        let part = s.score.unwrap_or(0.0) * s.weight;
        s.contribution = if sum > 0.0 { risk * part / sum } else { 0.0 };
    }
    let mut top: Vec<Contribution> = scored
        .iter()
        .filter(|s| s.contribution > 0.0)
        .map(|s| Contribution { signal: s.signal.name.to_owned(), contribution: s.contribution })
        .collect();
    top.sort_by(|a, b| b.contribution.total_cmp(&a.contribution).then(a.signal.cmp(&b.signal)));
    top.truncate(5);
    let level = levels.level(risk);
    let score = AccountScore {
        account_id: account_id.to_owned(),
        risk,
        level,
        flagged: policy.flags(account_id, level),
        cluster_id: None,
        top_signals: top,
    };
    (score, scored)
}

/// Percentile (0–100, ties at their mid-rank) of each value among `values`.
pub fn percentiles(values: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut known: Vec<f64> = values.iter().flatten().copied().collect();
    known.sort_by(f64::total_cmp);
    values
        .iter()
        .map(|v| {
            let v = (*v)?;
            let below = known.partition_point(|x| *x < v);
            let equal = known.partition_point(|x| *x <= v) - below;
            Some(100.0 * (below as f64 + equal as f64 / 2.0) / known.len() as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms_are_bounded_and_monotone() {
        let ramp = Transform::Ramp { low: 0.25, high: 0.75 };
        assert_eq!((ramp.apply(0.0), ramp.apply(0.5), ramp.apply(9.0)), (0.0, 0.5, 1.0));
        let falling = Transform::FallingRamp { low: 0.5, high: 1.5 };
        assert_eq!((falling.apply(0.0), falling.apply(1.0), falling.apply(3.0)), (1.0, 0.5, 0.0));
        let log = Transform::LogLogistic { midpoint: 100.0, width: 0.5 };
        assert!((log.apply(100.0) - 0.5).abs() < 1e-12);
        assert!(log.apply(10.0) < 0.2 && log.apply(1000.0) > 0.8);
    }

    #[test]
    fn percentiles_put_ties_at_their_mid_rank() {
        let p = percentiles(&[Some(1.0), Some(2.0), Some(2.0), None, Some(3.0)]);
        assert_eq!(p, vec![Some(12.5), Some(50.0), Some(50.0), None, Some(87.5)]);
    }
}
