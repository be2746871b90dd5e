//! Fitting the signal weights on labelled traffic.
//!
//! Each account is a row of its signals' transformed scores (a signal not
//! computed scores 0, as in scoring) with its label. The weights are a
//! class-balanced logistic regression on those rows, constrained to be
//! non-negative (a signal may only ever add to the risk, so that every
//! contribution an analyst reads is a reason for suspicion): signals whose
//! weight comes out negative are dropped and the rest refitted. The offset
//! is then placed so that at most the target share of benign rows reaches
//! the flag level: the operating point is chosen on the fit data, never on
//! the evaluation. Transforms, levels and the cluster terms are kept.

use serde::Serialize;

use crate::learn::newton_logistic;
use crate::scoring::Weights;

/// One labelled account.
#[derive(Debug, Clone, PartialEq)]
pub struct FitRow {
    /// Transformed score of each signal of the base table, in its order.
    pub scores: Vec<f64>,
    /// Whether the account extracts.
    pub attack: bool,
}

/// How to fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    /// L2 penalty on the weights (not the intercept), per row.
    pub l2: f64,
    /// At most this share of benign rows may reach `flag_risk`.
    pub benign_flag_share: f64,
    /// The risk of the flag level.
    pub flag_risk: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self { l2: 0.01, benign_flag_share: 0.002, flag_risk: 0.75 }
    }
}

/// What the fit found, for the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitReport {
    /// Rows by class.
    pub attacks: usize,
    /// Benign rows.
    pub benign: usize,
    /// Signals whose weight was forced to 0 (negative when free).
    pub dropped: Vec<String>,
    /// The logistic intercept, before the offset was placed.
    pub intercept: f64,
    /// Whether the benign share moved the offset above the logistic's own.
    pub offset_raised: bool,
}

/// Fits the weights of `base`'s signals on `rows`; `version` names the result.
pub fn fit_weights(base: &Weights, rows: &[FitRow], options: FitOptions, version: &str) -> (Weights, FitReport) {
    let width = base.signals.len();
    let attacks = rows.iter().filter(|r| r.attack).count();
    let benign = rows.len() - attacks;
    let class_weight = |attack: bool| {
        let n = if attack { attacks } else { benign };
        rows.len() as f64 / 2.0 / n.max(1) as f64
    };
    let mut active: Vec<usize> =
        (0..width).filter(|i| !crate::scoring::REPORTED_ONLY.contains(&base.signals[*i].signal.as_str())).collect();
    let mut dropped = Vec::new();
    let beta = loop {
        let design: Vec<Vec<f64>> =
            rows.iter().map(|r| std::iter::once(1.0).chain(active.iter().map(|i| r.scores[*i])).collect()).collect();
        let targets: Vec<f64> = rows.iter().map(|r| f64::from(u8::from(r.attack))).collect();
        let weights: Vec<f64> = rows.iter().map(|r| class_weight(r.attack)).collect();
        let beta = newton_logistic(&design, &targets, &weights, options.l2 * rows.len() as f64);
        let negative: Vec<usize> = (1..beta.len()).filter(|k| beta[*k] < 0.0).collect();
        if negative.is_empty() {
            break beta;
        }
        // Drop the most negative first, then refit: weights move together.
        let worst = negative.into_iter().min_by(|a, b| beta[*a].total_cmp(&beta[*b])).unwrap_or(1);
        dropped.push(base.signals[active[worst - 1]].signal.clone());
        active.remove(worst - 1);
    };
    let mut fitted = base.clone();
    fitted.version = version.to_owned();
    for w in &mut fitted.signals {
        w.weight = 0.0;
    }
    for (k, i) in active.iter().enumerate() {
        fitted.signals[*i].weight = beta[k + 1];
    }
    // Risk = sigmoid((sum - offset) * slope): slope 1 and offset -intercept is the logistic itself.
    // The cluster size term keeps its strength in log-odds.
    fitted.cluster_size_weight = base.cluster_size_weight * base.slope;
    fitted.slope = 1.0;
    let mut offset = -beta[0];
    let mut sums: Vec<f64> = rows
        .iter()
        .filter(|r| !r.attack)
        .map(|r| fitted.signals.iter().zip(&r.scores).map(|(w, s)| w.weight * s).sum())
        .collect();
    sums.sort_by(f64::total_cmp);
    let allowed = (options.benign_flag_share * sums.len() as f64).floor() as usize;
    let logit = (options.flag_risk / (1.0 - options.flag_risk)).ln();
    let mut offset_raised = false;
    if let Some(edge) = sums.len().checked_sub(allowed + 1).map(|i| sums[i]) {
        // The (allowed + 1)-th highest benign sum must stay below the flag level.
        let needed = edge - logit + 1e-9;
        if needed > offset {
            offset = needed;
            offset_raised = true;
        }
    }
    fitted.offset = offset;
    debug_assert!(rows.iter().all(|r| r.scores.len() == width));
    (fitted, FitReport { attacks, benign, dropped, intercept: beta[0], offset_raised })
}

/// One member of a linked cluster, for fitting the cluster term.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterMember {
    /// The mean weighted sum of the cluster's members' own signals.
    pub mean_evidence: f64,
    /// The cluster's size.
    pub size: usize,
    /// Whether this member extracts.
    pub attack: bool,
}

/// Fits the cluster model `risk = sigmoid(a * mean_evidence + c * log2(size) - b)`
/// on linked accounts of clusters of at least `cluster_min_size`: a
/// class-balanced logistic regression for `a` and `c` (both kept
/// non-negative), then `b` placed so that the benign members it flags stay
/// within `options.benign_flag_share` of `benign_accounts` (all benign
/// accounts of the fit, linked or not). Returns how many members of each
/// class it flags.
pub fn fit_cluster_term(
    weights: &mut Weights,
    members: &[ClusterMember],
    benign_accounts: usize,
    options: FitOptions,
) -> (usize, usize) {
    let linked: Vec<&ClusterMember> = members.iter().filter(|m| m.size >= weights.cluster_min_size).collect();
    let attacks = linked.iter().filter(|m| m.attack).count();
    let benign = linked.len() - attacks;
    if attacks == 0 || benign == 0 {
        return (0, 0);
    }
    let class_weight = |attack: bool| linked.len() as f64 / 2.0 / if attack { attacks } else { benign } as f64;
    let design: Vec<Vec<f64>> = linked.iter().map(|m| vec![1.0, m.mean_evidence, (m.size as f64).log2()]).collect();
    let targets: Vec<f64> = linked.iter().map(|m| f64::from(u8::from(m.attack))).collect();
    let row_weights: Vec<f64> = linked.iter().map(|m| class_weight(m.attack)).collect();
    let beta = newton_logistic(&design, &targets, &row_weights, options.l2 * linked.len() as f64);
    let (a, c) = (beta[1].max(0.0), beta[2].max(0.0));
    weights.cluster_evidence_weight = a;
    weights.cluster_size_weight = c;
    // Risk = sigmoid((a e + c log2 n - b) * slope): with slope 1, b is minus the intercept,
    // raised until the benign budget holds.
    let mut b = -beta[0];
    let logit = (options.flag_risk / (1.0 - options.flag_risk)).ln() / weights.slope;
    let mut sums: Vec<f64> =
        linked.iter().filter(|m| !m.attack).map(|m| a * m.mean_evidence + c * (m.size as f64).log2()).collect();
    sums.sort_by(f64::total_cmp);
    let allowed = (options.benign_flag_share * benign_accounts as f64).floor() as usize;
    if let Some(edge) = sums.len().checked_sub(allowed + 1).map(|i| sums[i]) {
        b = b.max(edge - logit + 1e-9);
    }
    weights.cluster_offset = Some(b);
    let flagged = |attack: bool| {
        linked
            .iter()
            .filter(|m| m.attack == attack && weights.cluster_risk(m.mean_evidence, m.size) >= options.flag_risk)
            .count()
    };
    (flagged(true), flagged(false))
}

/// One account's riskiest request stream, for fitting the stream model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamRow {
    /// Its weighted sum under the fitted weights.
    pub sum: f64,
    /// The share of its requests detached from the rest of the account.
    pub detached_share: f64,
    /// Whether the account extracts.
    pub attack: bool,
}

/// Sets the request-stream model `risk = sigmoid(a * weighted_sum + d *
/// detached_share - b)` from each account's riskiest stream: a
/// class-balanced logistic regression for `a` and `d` (both kept
/// non-negative), then `b` placed so that the benign accounts it flags stay
/// within `options.benign_flag_share` of `benign_accounts`. Returns how many
/// accounts of each class it flags.
pub fn fit_stream_term(
    weights: &mut Weights,
    rows: &[StreamRow],
    benign_accounts: usize,
    options: FitOptions,
) -> (usize, usize) {
    let attacks = rows.iter().filter(|r| r.attack).count();
    let benign = rows.len() - attacks;
    if attacks == 0 || benign == 0 {
        return (0, 0);
    }
    let class_weight = |attack: bool| rows.len() as f64 / 2.0 / if attack { attacks } else { benign } as f64;
    let design: Vec<Vec<f64>> = rows.iter().map(|r| vec![1.0, r.sum, r.detached_share]).collect();
    let targets: Vec<f64> = rows.iter().map(|r| f64::from(u8::from(r.attack))).collect();
    let row_weights: Vec<f64> = rows.iter().map(|r| class_weight(r.attack)).collect();
    let beta = newton_logistic(&design, &targets, &row_weights, options.l2 * rows.len() as f64);
    let (a, d) = (beta[1].max(0.0), beta[2].max(0.0));
    let logit = (options.flag_risk / (1.0 - options.flag_risk)).ln() / weights.slope;
    let mut b = -beta[0];
    let mut benign_sums: Vec<f64> =
        rows.iter().filter(|r| !r.attack).map(|r| a * r.sum + d * r.detached_share).collect();
    benign_sums.sort_by(f64::total_cmp);
    let allowed = (options.benign_flag_share * benign_accounts as f64).floor() as usize;
    if let Some(edge) = benign_sums.len().checked_sub(allowed + 1).map(|i| benign_sums[i]) {
        b = b.max(edge - logit + 1e-9);
    }
    weights.stream_evidence_weight = a;
    weights.stream_detached_weight = d;
    weights.stream_offset = Some(b);
    let flagged = |attack: bool| {
        rows.iter()
            .filter(|r| r.attack == attack && weights.stream_risk(r.sum, r.detached_share) >= options.flag_risk)
            .count()
    };
    (flagged(true), flagged(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows over the prior's signals where only two signals carry information.
    fn rows() -> Vec<FitRow> {
        let base = Weights::default();
        let width = base.signals.len();
        let informative = |name: &str| base.signals.iter().position(|w| w.signal == name).unwrap();
        let (a, b, c) = (informative("logprobs_share"), informative("single_turn_share"), informative("repeat_share"));
        (0..400)
            .map(|i| {
                let attack = i % 4 == 0;
                let mut scores = vec![0.0; width];
                let jitter = (i % 10) as f64 / 20.0;
                scores[a] = if attack { 0.6 + jitter / 2.0 } else { jitter / 4.0 };
                scores[b] = if attack { 0.9 } else { jitter };
                // Anti-correlated with attacks: a free fit would give it a negative weight.
                scores[c] = if attack { 0.0 } else { 0.5 + jitter };
                FitRow { scores, attack }
            })
            .collect()
    }

    #[test]
    fn weights_are_non_negative_and_the_operating_point_holds_the_benign_budget() {
        let base = Weights::default();
        let rows = rows();
        let (fitted, report) = fit_weights(&base, &rows, FitOptions::default(), "test-fit");
        assert_eq!(fitted.version, "test-fit");
        assert_eq!((report.attacks, report.benign), (100, 300));
        assert!(report.dropped.contains(&"repeat_share".to_owned()), "{report:?}");
        assert!(fitted.signals.iter().all(|w| w.weight >= 0.0));
        let weight = |name: &str| fitted.signals.iter().find(|w| w.signal == name).unwrap().weight;
        assert!(weight("logprobs_share") > 0.5 && weight("single_turn_share") > 0.0, "{:?}", fitted.signals);
        let risk = |r: &FitRow| fitted.risk(fitted.signals.iter().zip(&r.scores).map(|(w, s)| w.weight * s).sum());
        let benign_flagged = rows.iter().filter(|r| !r.attack && risk(r) >= 0.75).count();
        assert!(benign_flagged as f64 <= 0.002 * 300.0, "{benign_flagged}");
        let caught = rows.iter().filter(|r| r.attack && risk(r) >= 0.75).count();
        assert!(caught >= 90, "{caught} of 100");
        assert_eq!(fitted.slope, 1.0);
        assert_eq!(fit_weights(&base, &rows, FitOptions::default(), "test-fit").0, fitted, "deterministic");
    }

    #[test]
    fn the_stream_model_flags_harvesting_streams_within_the_benign_budget() {
        let mut weights = Weights { offset: 4.0, slope: 1.0, ..Weights::default() };
        let row = |sum: f64, detached_share: f64, attack: bool| StreamRow { sum, detached_share, attack };
        let mut rows: Vec<StreamRow> = (0..40).map(|i| row(2.4 + f64::from(i % 5) * 0.1, 0.0, true)).collect();
        rows.extend((0..600).map(|i| row(0.2 + f64::from(i % 20) * 0.08, 0.0, false)));
        let (caught, benign) = fit_stream_term(&mut weights, &rows, 5000, FitOptions::default());
        assert_eq!((caught, benign), (40, 0), "{weights:?}");
        assert!(weights.stream_risk(1.8, 0.0) < 0.75 && weights.stream_risk(2.4, 0.0) >= 0.75);
    }

    #[test]
    fn a_stream_detached_from_the_rest_of_its_account_needs_less_evidence() {
        // Harvesting streams run on their own clock (detached 0.6 to 1); benign ones, with the same
        // range of evidence, sit inside their account's sessions (detached 0 to 0.3).
        let mut weights = Weights { offset: 4.0, slope: 1.0, ..Weights::default() };
        let row = |sum: f64, detached_share: f64, attack: bool| StreamRow { sum, detached_share, attack };
        let mut rows: Vec<StreamRow> =
            (0..60).map(|i| row(1.0 + f64::from(i % 10) * 0.1, 0.6 + f64::from(i % 5) * 0.1, true)).collect();
        rows.extend((0..600).map(|i| row(1.0 + f64::from(i % 10) * 0.1, f64::from(i % 4) * 0.1, false)));
        let (caught, benign) = fit_stream_term(&mut weights, &rows, 5000, FitOptions::default());
        assert!(weights.stream_detached_weight > 0.0, "{weights:?}");
        assert!(caught >= 50 && benign <= 5, "{caught} {benign} {weights:?}");
        assert!(weights.stream_risk(1.5, 1.0) > weights.stream_risk(1.5, 0.0));
    }

    #[test]
    fn the_cluster_model_weighs_evidence_and_size_within_the_benign_budget() {
        let mut weights = Weights { offset: 4.0, slope: 1.0, ..Weights::default() };
        let mut members = Vec::new();
        // Farms of 8 and 32 with some own evidence; benign teams and an enterprise of 50 with little.
        for (size, evidence) in [(8, 2.4), (32, 2.2), (8, 2.6)] {
            members.extend((0..size).map(|_| ClusterMember { mean_evidence: evidence, size, attack: true }));
        }
        for (size, evidence) in [(3, 1.4), (5, 1.6), (6, 1.5), (50, 1.5), (40, 1.2)] {
            members.extend((0..size).map(|_| ClusterMember { mean_evidence: evidence, size, attack: false }));
        }
        let (caught, benign) = fit_cluster_term(&mut weights, &members, 2000, FitOptions::default());
        assert_eq!(benign, 0, "{weights:?}");
        assert_eq!(caught, 48, "{weights:?}");
        assert!(weights.cluster_evidence_weight > 0.0 && weights.cluster_offset.is_some());
        assert!(weights.cluster_risk(1.5, 50) < 0.75 && weights.cluster_risk(2.4, 8) >= 0.75);
    }
}
