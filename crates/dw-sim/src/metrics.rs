//! Detection-quality metrics: how well the evaluator's risk scores separate attackers from
//! benign accounts, how well clustering links campaign members, and how quickly accounts are
//! flagged.
//!
//! Every function is pure and deterministic (the bootstrap takes an explicit seed) so that
//! evaluation reports are reproducible run to run.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One evaluated account: the evaluator's risk and the ground-truth label.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// Risk in [0, 1]; higher means more likely an attacker.
    pub risk: f64,
    /// Ground truth: `true` for an attacker account.
    pub positive: bool,
}

/// Orders risks totally so that NaN can never panic a sort. `-0.0` is folded into `0.0` first
/// because `total_cmp` would otherwise rank them apart, and a scorer returning either means
/// the same thing.
fn cmp_risk(a: f64, b: f64) -> Ordering {
    (a + 0.0).total_cmp(&(b + 0.0))
}

/// ROC AUC: the probability that a random positive outranks a random negative, ties counted
/// 1/2 (the Mann-Whitney U statistic divided by positives × negatives).
///
/// Returns `None` when there are no positives or no negatives, because the probability is
/// then undefined rather than 0 or 1. Runs in O(n log n) by sorting once. NaN risks do not
/// panic: they are placed by `f64::total_cmp` (a positive NaN ranks above every number).
/// The pair count is kept in integers, so all-equal scores give exactly 0.5.
pub fn roc_auc(scores: &[Scored]) -> Option<f64> {
    let mut sorted: Vec<Scored> = scores.to_vec();
    sorted.sort_by(|a, b| cmp_risk(a.risk, b.risk));
    let positives = sorted.iter().filter(|s| s.positive).count() as u128;
    let negatives = sorted.len() as u128 - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Walk tie groups in ascending risk: each positive in a group beats every negative below
    // it and half-beats each negative in its own group. Doubling keeps the halves integral.
    let mut twice_u: u128 = 0;
    let mut negatives_below: u128 = 0;
    for group in sorted.chunk_by(|a, b| cmp_risk(a.risk, b.risk) == Ordering::Equal) {
        let pos = group.iter().filter(|s| s.positive).count() as u128;
        let neg = group.len() as u128 - pos;
        twice_u += pos * (2 * negatives_below + neg);
        negatives_below += neg;
    }
    Some(twice_u as f64 / (2 * positives * negatives) as f64)
}

/// Detection quality at a threshold chosen to respect a false-positive budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// The requested false-positive rate.
    pub target_fpr: f64,
    /// Accounts with risk strictly above this are called positive.
    pub threshold: f64,
    /// Fraction of positives strictly above the threshold.
    pub recall: f64,
    /// Achieved false-positive rate; never above `target_fpr` unless every account counts.
    pub fpr: f64,
    /// Positives strictly above the threshold.
    pub true_positives: usize,
    /// Negatives strictly above the threshold.
    pub false_positives: usize,
}

/// Recall at a false-positive-rate budget, with the threshold set on the benign scores only.
///
/// With the n benign scores sorted descending as `b[0..n]`, `allowed = floor(target_fpr * n)`
/// false positives are permitted (plus 1e-9 so that e.g. `0.29 * 100` is not floored to 28)
/// and the threshold is `b[allowed]`. Calls are strict (`risk > threshold`) so ties never buy
/// recall: if several benign accounts share `b[allowed]`, fewer than `allowed` benign land
/// above it, and positives tied with it are not counted either. A consequence worth knowing:
/// with n benign accounts any target below 1/n allows zero false positives, so the threshold
/// is the highest benign score and only positives strictly above every benign one count.
/// When `allowed >= n` the threshold is `f64::NEG_INFINITY` and every account counts (even one
/// with a NaN risk). A negative or NaN target allows zero false positives.
///
/// Returns `None` when there are no positives or no negatives (recall or FPR is undefined).
/// NaN risks are ordered by `f64::total_cmp`, consistently for the sort and the comparison.
pub fn recall_at_fpr(scores: &[Scored], target_fpr: f64) -> Option<OperatingPoint> {
    let mut benign: Vec<f64> = scores.iter().filter(|s| !s.positive).map(|s| s.risk).collect();
    let positives = scores.len() - benign.len();
    let n = benign.len();
    if positives == 0 || n == 0 {
        return None;
    }
    benign.sort_by(|a, b| cmp_risk(*b, *a));
    // The float-to-int cast saturates: NaN and negatives become 0, +inf becomes usize::MAX.
    let allowed = (target_fpr * n as f64 + 1e-9).floor() as usize;
    let (threshold, true_positives, false_positives) = if allowed >= n {
        (f64::NEG_INFINITY, positives, n)
    } else {
        let t = benign[allowed];
        let above = |s: &&Scored| cmp_risk(s.risk, t) == Ordering::Greater;
        let tp = scores.iter().filter(|s| s.positive).filter(above).count();
        let fp = scores.iter().filter(|s| !s.positive).filter(above).count();
        (t, tp, fp)
    };
    Some(OperatingPoint {
        target_fpr,
        threshold,
        recall: true_positives as f64 / positives as f64,
        fpr: false_positives as f64 / n as f64,
        true_positives,
        false_positives,
    })
}

/// A two-sided 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// 2.5th percentile of the bootstrap distribution.
    pub low: f64,
    /// 97.5th percentile of the bootstrap distribution.
    pub high: f64,
}

/// Percentile of already-sorted values by linear interpolation between order statistics
/// (position `p * (len - 1)`), the same convention as NumPy's default. `sorted` is non-empty.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let pos = p * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let frac = pos - lo as f64;
    sorted[lo] + frac * (sorted[hi] - sorted[lo])
}

/// Percentile bootstrap 95% interval of a statistic over n items.
///
/// Draws `resamples` index vectors of length `n` with replacement from a `ChaCha8Rng` seeded
/// with `seed` (so reports are reproducible), evaluates `statistic` on each and returns the
/// 2.5th and 97.5th percentiles of the values. The statistic sees indices rather than data so
/// one function serves any metric; use [`resample_scores`] to materialise scored accounts.
/// Resamples where the statistic is `None` (e.g. AUC on a resample without positives) are
/// skipped, and a NaN value is skipped the same way so it cannot poison the ordering.
///
/// Returns `None` when `n == 0`, or when fewer than half the resamples (or none at all)
/// produced a value, since the interval would then describe a biased subset of resamples.
pub fn bootstrap_interval<F>(n: usize, resamples: usize, seed: u64, mut statistic: F) -> Option<Interval>
where
    F: FnMut(&[usize]) -> Option<f64>,
{
    if n == 0 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut idx = vec![0usize; n];
    let mut values = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for slot in idx.iter_mut() {
            *slot = rng.random_range(0..n);
        }
        if let Some(v) = statistic(&idx).filter(|v| !v.is_nan()) {
            values.push(v);
        }
    }
    if values.is_empty() || values.len() * 2 < resamples {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(Interval { low: percentile(&values, 0.025), high: percentile(&values, 0.975) })
}

/// [`bootstrap_interval`] over groups of items resampled whole: a campaign's
/// accounts stand or fall together (one missed farm is one event, not
/// thirty), so its accounts are drawn as one unit. `groups` partitions the
/// item indices; the statistic sees the items of the drawn groups, repeats
/// included.
pub fn grouped_bootstrap_interval<F>(
    groups: &[Vec<usize>],
    resamples: usize,
    seed: u64,
    mut statistic: F,
) -> Option<Interval>
where
    F: FnMut(&[usize]) -> Option<f64>,
{
    let mut items = Vec::new();
    bootstrap_interval(groups.len(), resamples, seed, |drawn| {
        items.clear();
        for g in drawn {
            items.extend_from_slice(&groups[*g]);
        }
        statistic(&items)
    })
}

/// The scored accounts picked by a bootstrap index vector, repeats included.
///
/// Panics if an index is out of range, which would mean the bootstrap was run with a
/// different `n` than `scores.len()`.
pub fn resample_scores(scores: &[Scored], idx: &[usize]) -> Vec<Scored> {
    idx.iter().map(|&i| scores[i]).collect()
}

/// How well clustering gathered one campaign's accounts into a single cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignLinking {
    /// Campaign name.
    pub campaign: String,
    /// Accounts belonging to the campaign.
    pub accounts: usize,
    /// Cluster holding the most of the campaign's accounts (ties: smallest id); `None` when
    /// no account of the campaign is clustered.
    pub largest_cluster: Option<String>,
    /// Campaign accounts in `largest_cluster`.
    pub in_largest: usize,
    /// `in_largest / accounts`: how much of the campaign one cluster recovered.
    pub completeness: f64,
    /// `in_largest / size of largest_cluster` counting every account carrying that id, so
    /// benign or other-campaign accounts swept into the cluster lower it; `None` when there is
    /// no cluster.
    pub purity: Option<f64>,
    /// Requests all the campaign's accounts together sent before the first
    /// flag on any of them; `None` when none was flagged (filled in by the
    /// evaluation, which knows the traffic and the flag times).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_before_first_flag: Option<usize>,
}

/// Campaign-linking quality, one entry per non-empty campaign, sorted by campaign name.
///
/// Each member is `(account, campaign, cluster id)`, one row per account; an empty campaign
/// name means the account belongs to no campaign (it still counts toward cluster sizes, which
/// is what makes purity honest). Ties for the largest cluster go to the lexicographically
/// smallest id so the report is deterministic.
pub fn campaign_linking(members: &[(String, String, Option<String>)]) -> Vec<CampaignLinking> {
    let mut cluster_sizes: BTreeMap<&str, usize> = BTreeMap::new();
    // Per campaign: its account count and how many of them each cluster holds.
    let mut campaigns: BTreeMap<&str, (usize, BTreeMap<&str, usize>)> = BTreeMap::new();
    for (_account, campaign, cluster) in members {
        if let Some(c) = cluster {
            *cluster_sizes.entry(c).or_default() += 1;
        }
        if campaign.is_empty() {
            continue;
        }
        let entry = campaigns.entry(campaign).or_default();
        entry.0 += 1;
        if let Some(c) = cluster {
            *entry.1.entry(c).or_default() += 1;
        }
    }
    campaigns
        .into_iter()
        .map(|(campaign, (accounts, per_cluster))| {
            // Ascending id order plus a strict `>` keeps the smallest id among equal counts.
            let mut best: Option<(&str, usize)> = None;
            for (&id, &count) in &per_cluster {
                if best.is_none_or(|(_, c)| count > c) {
                    best = Some((id, count));
                }
            }
            let in_largest = best.map_or(0, |(_, c)| c);
            CampaignLinking {
                campaign: campaign.to_string(),
                accounts,
                largest_cluster: best.map(|(id, _)| id.to_string()),
                in_largest,
                completeness: in_largest as f64 / accounts as f64,
                purity: best.map(|(id, c)| c as f64 / cluster_sizes[id] as f64),
                requests_before_first_flag: None,
            }
        })
        .collect()
}

/// Requests an account made strictly before it was first flagged, and whether it was flagged.
///
/// A request at the exact flag time is not counted: the flag was computed from what came
/// before, so that request was not let through undetected. A never-flagged account returns all
/// of its requests and `false`, so callers can tell "flagged immediately" (0, true) from
/// "never flagged" (n, false).
pub fn requests_before_flag(request_times: &[i64], first_flag_at: Option<i64>) -> (usize, bool) {
    match first_flag_at {
        None => (request_times.len(), false),
        Some(flag) => (request_times.iter().filter(|&&t| t < flag).count(), true),
    }
}

/// Arithmetic mean; `None` for no values rather than NaN so empty groups are explicit.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

/// Median (mean of the middle two for an even count); `None` for no values. Sorting uses
/// `f64::total_cmp`, so NaN does not panic (it sorts to an end).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 { sorted[mid] } else { sorted[mid - 1].midpoint(sorted[mid]) })
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
