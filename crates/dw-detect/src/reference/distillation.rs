//! The distillation test: is a suspect model's answer to a prompt closer to
//! the answer we served for it than a control model's answer is?
//!
//! For every aligned item (a prompt that we, the suspect and the control
//! all answered) each measure gives two similarities to our answer, the
//! suspect's and the control's; their difference is the item's evidence.
//! Under the null hypothesis (the suspect is no closer to us than the
//! control) the suspect's and the control's answers are exchangeable within
//! each item, so every difference is as likely negative as positive: the
//! test flips the signs of whole items at random (a paired sign-flip
//! permutation test, one-sided) and asks how often the flipped total is as
//! large as the observed one.
//!
//! Measures are combined per item through signed ranks: each measure's
//! differences are ranked by size among that measure's non-zero ones, and an
//! item's score is the sum over measures of its difference's sign times its
//! rank over their count (a Wilcoxon signed-rank score per measure, summed).
//! The ranks of the sizes are what sign flips leave unchanged, so the test
//! stays exact. Ranks, not the differences themselves: word overlap with our
//! answer is heavy-tailed (most items differ a little; a few differ a lot,
//! either way, when one model happens to repeat the prompt or a stock
//! passage), and a mean of raw differences is decided by those few items,
//! where a student shows as a small, steady lead on most. On the lineage
//! panel this found the harvesters of 30 prompts 35 to 48% of the time at q
//! < 0.01, where the mean of differences in units of their root mean square
//! found 18 to 30%, with the level unchanged (`docs/evaluation.md`). The
//! report gives,
//! per measure and combined, the mean similarities, the mean difference, an
//! effect size (mean over standard deviation of the differences), the AUC
//! (the chance that on a random item the suspect is the closer of the two)
//! and a one-sided exact sign test beside the permutation p-value.
//!
//! What it can show: the suspect answers our prompts more like us than the
//! control does, beyond chance. What it cannot: why. A student of our model
//! answers like us; so may a model trained on the same public data, a later
//! snapshot of a model we also derive from, or one tuned to the same house
//! style. The choice of control decides which of these the test rules out.

use serde::Serialize;

use super::{FormatProfile, Ngrams};
use crate::templates::mix;

/// Word n-gram length of the test's overlap measure.
pub const TEST_NGRAM: usize = 3;

/// What of our answer `theirs` is compared with on wording and meaning: its
/// opening, as long as `theirs` and a quarter ([`super::lexical::aligned_opening`]).
/// Embed this text to get [`Similarities::embedding_cosine`].
pub fn compared_opening<'a>(ours: &'a str, theirs: &str) -> &'a str {
    super::lexical::aligned_opening(ours, super::lexical::word_count(theirs))
}

/// The lexical similarities of `theirs` to `ours`, with the embedding cosine
/// of `theirs` and [`compared_opening`] when the two were embedded: wording
/// (word trigram Jaccard) on the compared opening, layout on the whole
/// answers (length is part of a layout).
pub fn similarities(ours: &str, theirs: &str, embedding_cosine: Option<f64>) -> Similarities {
    let opening = compared_opening(ours, theirs);
    Similarities {
        embedding_cosine,
        ngram_overlap: Ngrams::of(theirs, TEST_NGRAM).jaccard(&Ngrams::of(opening, TEST_NGRAM)),
        format_profile: FormatProfile::of(theirs).similarity(&FormatProfile::of(ours)),
    }
}

/// One similarity measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Cosine of the two answers' sentence embeddings: same meaning.
    EmbeddingCosine,
    /// Word trigram Jaccard against the compared opening of ours
    /// ([`super::Ngrams::jaccard`]): same wording.
    NgramOverlap,
    /// Length and format profile similarity ([`super::FormatProfile`]):
    /// same layout.
    FormatProfile,
}

impl Measure {
    /// Every measure, in report order.
    pub const ALL: [Measure; 3] = [Measure::EmbeddingCosine, Measure::NgramOverlap, Measure::FormatProfile];

    /// The measure's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Measure::EmbeddingCosine => "embedding_cosine",
            Measure::NgramOverlap => "ngram_overlap",
            Measure::FormatProfile => "format_profile",
        }
    }
}

/// One answer's similarities to ours; the embedding is absent when the
/// answers were not embedded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Similarities {
    /// [`Measure::EmbeddingCosine`].
    pub embedding_cosine: Option<f64>,
    /// [`Measure::NgramOverlap`].
    pub ngram_overlap: f64,
    /// [`Measure::FormatProfile`].
    pub format_profile: f64,
}

impl Similarities {
    /// The value of one measure.
    pub fn get(&self, measure: Measure) -> Option<f64> {
        match measure {
            Measure::EmbeddingCosine => self.embedding_cosine,
            Measure::NgramOverlap => Some(self.ngram_overlap),
            Measure::FormatProfile => Some(self.format_profile),
        }
    }
}

/// A prompt answered by us, the suspect and the control.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlignedItem {
    /// The reference item's id.
    pub item: String,
    /// The suspect's answer against ours.
    pub suspect: Similarities,
    /// The control's answer against ours.
    pub control: Similarities,
}

/// How the test runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestConfig {
    /// Fewer aligned items than this and the test does not conclude.
    pub min_items: usize,
    /// Random sign flips; the smallest p-value it can give is 1 / (this + 1).
    pub permutations: usize,
    /// The flips' seed: the same items and seed give the same p-value.
    pub seed: u64,
    /// The level at which the null hypothesis is rejected.
    pub alpha: f64,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self { min_items: MIN_ALIGNED_ITEMS, permutations: 9_999, seed: 0x5eed, alpha: 0.05 }
    }
}

/// The fewest aligned items the test concludes on. With 30 items a
/// one-sided sign-flip test can reach p < 0.001 only when nearly every item
/// points the same way; fewer cannot carry a decision an analyst can defend.
pub const MIN_ALIGNED_ITEMS: usize = 30;

/// What the test concludes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Conclusion {
    /// The suspect is closer to us than the control, beyond chance at `alpha`.
    Rejected {
        /// The permutation p-value of the combined statistic.
        p_value: f64,
    },
    /// No evidence at `alpha` that the suspect is closer to us.
    NotRejected {
        /// The permutation p-value of the combined statistic.
        p_value: f64,
    },
    /// Too few items align to conclude either way.
    Inconclusive {
        /// Why, in words.
        reason: String,
    },
}

impl Conclusion {
    /// The p-value the decision was taken at (none when inconclusive).
    pub fn p_value(&self) -> Option<f64> {
        match self {
            Conclusion::Rejected { p_value } | Conclusion::NotRejected { p_value } => Some(*p_value),
            Conclusion::Inconclusive { .. } => None,
        }
    }
}

/// One measure's (or the combination's) statistics over the aligned items.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeasureResult {
    /// The measure's name, or `combined`.
    pub measure: &'static str,
    /// Items the measure was computed on.
    pub items: usize,
    /// Mean similarity of the suspect's answers to ours (`None` combined).
    pub mean_suspect: Option<f64>,
    /// Mean similarity of the control's answers to ours (`None` combined).
    pub mean_control: Option<f64>,
    /// Mean per-item difference, suspect minus control (combined: the mean
    /// summed signed-rank score, between minus and plus the number of measures).
    pub mean_difference: f64,
    /// Mean difference over the differences' standard deviation (Cohen's d_z).
    pub effect_size: f64,
    /// The share of items on which the suspect is closer (ties count half).
    pub auc: f64,
    /// One-sided exact sign test over the items whose difference is not zero.
    pub sign_test_p: f64,
    /// One-sided sign-flip permutation p-value of the sum of the signed
    /// ranks (combined: of the summed scores).
    pub permutation_p: f64,
}

/// The test's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DistillationTest {
    /// Items answered by us, the suspect and the control.
    pub aligned_items: usize,
    /// The decision, on the combined statistic.
    pub conclusion: Conclusion,
    /// All measures combined (absent when the test is inconclusive).
    pub combined: Option<MeasureResult>,
    /// Each measure that was computed.
    pub measures: Vec<MeasureResult>,
    /// The method, in words.
    pub method: String,
}

/// Runs the test on the aligned items.
pub fn distillation_test(items: &[AlignedItem], config: &TestConfig) -> DistillationTest {
    let method = format!(
        "one-sided paired sign-flip permutation test ({} random flips, seed {}) of the per-item difference \
         suspect-minus-control in similarity to our answer, measures combined per item by signed ranks (each \
         measure's differences ranked by size, the item's score the sum of sign times rank over the count); exact \
         one-sided sign tests beside it",
        config.permutations, config.seed
    );
    if items.len() < config.min_items {
        return DistillationTest {
            aligned_items: items.len(),
            conclusion: Conclusion::Inconclusive {
                reason: format!(
                    "only {} item(s) were answered by us, the suspect and the control; the test needs at least {}",
                    items.len(),
                    config.min_items
                ),
            },
            combined: None,
            measures: Vec::new(),
            method,
        };
    }
    let mut measures = Vec::new();
    let mut combined = vec![0.0; items.len()];
    for (m, measure) in Measure::ALL.into_iter().enumerate() {
        // (item index, suspect, control) where both were measured.
        let pairs: Vec<(usize, f64, f64)> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| Some((i, item.suspect.get(measure)?, item.control.get(measure)?)))
            .collect();
        if pairs.len() < config.min_items {
            continue;
        }
        let differences: Vec<f64> = pairs.iter().map(|(_, s, c)| s - c).collect();
        let ranks = signed_ranks(&differences);
        for ((i, _, _), r) in pairs.iter().zip(&ranks) {
            combined[*i] += r;
        }
        let seed = config.seed ^ mix(m as u64 + 1);
        let mut result = statistics(measure.name(), &differences, &ranks, config.permutations, seed);
        result.mean_suspect = Some(mean(pairs.iter().map(|p| p.1)));
        result.mean_control = Some(mean(pairs.iter().map(|p| p.2)));
        measures.push(result);
    }
    let combined = statistics("combined", &combined, &combined, config.permutations, config.seed);
    let p_value = combined.permutation_p;
    DistillationTest {
        aligned_items: items.len(),
        conclusion: if p_value < config.alpha {
            Conclusion::Rejected { p_value }
        } else {
            Conclusion::NotRejected { p_value }
        },
        combined: Some(combined),
        measures,
        method,
    }
}

/// Benjamini-Hochberg q-values of `p_values` (in their order): each the
/// smallest false discovery rate at which its hypothesis is rejected, given
/// all of them (the step-up adjustment `p·m/rank`, made monotone, at most 1).
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|a, b| p_values[*a].total_cmp(&p_values[*b]));
    let mut q = vec![1.0; m];
    let mut running: f64 = 1.0;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min(p_values[i] * m as f64 / (rank + 1) as f64);
        q[i] = running.min(1.0);
    }
    q
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// Each difference's signed rank among the non-zero ones by size (ties
/// share their mean rank), over their count: zero stays zero.
fn signed_ranks(differences: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..differences.len()).filter(|i| differences[*i] != 0.0).collect();
    order.sort_by(|a, b| differences[*a].abs().total_cmp(&differences[*b].abs()));
    let n = order.len() as f64;
    let mut out = vec![0.0; differences.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && differences[order[end]].abs() == differences[order[start]].abs() {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            out[i] = differences[i].signum() * rank / n;
        }
        start = end;
    }
    out
}

/// Mean, effect size, AUC and sign test of `differences`, and the
/// permutation p of the sum of their `scores` (their signed ranks, or the
/// combined scores, which are sums of signed ranks already).
fn statistics(
    name: &'static str,
    differences: &[f64],
    scores: &[f64],
    permutations: usize,
    seed: u64,
) -> MeasureResult {
    let n = differences.len();
    let mean_difference = mean(differences.iter().copied());
    let variance = if n > 1 {
        differences.iter().map(|d| (d - mean_difference).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    let effect_size = if variance > 0.0 { mean_difference / variance.sqrt() } else { 0.0 };
    let positive = differences.iter().filter(|d| **d > 0.0).count();
    let negative = differences.iter().filter(|d| **d < 0.0).count();
    let auc = (positive as f64 + 0.5 * (n - positive - negative) as f64) / n.max(1) as f64;
    MeasureResult {
        measure: name,
        items: n,
        mean_suspect: None,
        mean_control: None,
        mean_difference,
        effect_size,
        auc,
        sign_test_p: binomial_upper_tail(positive, positive + negative),
        permutation_p: sign_flip_p(scores, permutations, seed),
    }
}

/// P(X >= k) for X ~ Binomial(n, 1/2), summed in log space so that large n
/// neither overflows nor underflows before the tail is small.
fn binomial_upper_tail(k: usize, n: usize) -> f64 {
    if k == 0 {
        return 1.0;
    }
    let ln_half_n = n as f64 * 0.5f64.ln();
    // ln C(n, i) built up from i = k.
    let mut ln_choose = ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k);
    let mut total = 0.0;
    for i in k..=n {
        total += (ln_choose + ln_half_n).exp();
        ln_choose += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
    }
    total.min(1.0)
}

fn ln_factorial(n: usize) -> f64 {
    (2..=n).map(|i| (i as f64).ln()).sum()
}

/// One-sided p-value of the mean of `differences` under random sign flips:
/// (1 + flips at least as large as observed) / (1 + flips), the estimate
/// that never reports an impossible p of zero.
fn sign_flip_p(differences: &[f64], permutations: usize, seed: u64) -> f64 {
    let observed: f64 = differences.iter().sum();
    // Summation order differs between the observed and the flipped totals
    // only by rounding; a relative slack keeps exact ties counted as ties.
    let slack = 1e-12 * differences.iter().map(|d| d.abs()).sum::<f64>();
    let mut state = seed;
    let mut at_least = 0usize;
    for _ in 0..permutations {
        let mut total = 0.0;
        let mut bits = 0u64;
        for (i, d) in differences.iter().enumerate() {
            if i % 64 == 0 {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                bits = mix(state);
            }
            total += if bits & 1 == 1 { *d } else { -*d };
            bits >>= 1;
        }
        if total >= observed - slack {
            at_least += 1;
        }
    }
    (1 + at_least) as f64 / (1 + permutations) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benjamini_hochberg_adjusts_step_up_and_keeps_the_order() {
        // m = 4: sorted 0.01, 0.02, 0.03, 0.5 give 0.04, 0.04, 0.04, 0.5 (monotone from the top).
        let q = benjamini_hochberg(&[0.5, 0.01, 0.03, 0.02]);
        let expected = [0.5, 0.04, 0.04, 0.04];
        for (q, e) in q.iter().zip(expected) {
            assert!((q - e).abs() < 1e-12, "{q} against {e}");
        }
        assert_eq!(benjamini_hochberg(&[0.9, 0.8]), vec![0.9, 0.9]);
        assert!(benjamini_hochberg(&[]).is_empty());
        assert_eq!(benjamini_hochberg(&[1.0]), vec![1.0]);
    }

    fn sims(embedding: f64, ngram: f64, format: f64) -> Similarities {
        Similarities { embedding_cosine: Some(embedding), ngram_overlap: ngram, format_profile: format }
    }

    /// Items whose similarities come from a fixed pseudo-random stream:
    /// `shift` is how much closer the suspect is on average.
    fn items(n: usize, shift: f64, seed: u64) -> Vec<AlignedItem> {
        let mut state = seed;
        let mut next = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            (mix(state) >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|i| {
                let base = 0.3 + 0.4 * next();
                AlignedItem {
                    item: format!("item-{i}"),
                    suspect: sims(base + shift + 0.2 * (next() - 0.5), 0.2 + shift + 0.2 * next(), 0.7 + 0.2 * next()),
                    control: sims(base + 0.2 * (next() - 0.5), 0.2 + 0.2 * next(), 0.7 + 0.2 * next()),
                }
            })
            .collect()
    }

    #[test]
    fn a_suspect_clearly_closer_to_us_is_rejected_at_a_tiny_p() {
        let report = distillation_test(&items(300, 0.08, 1), &TestConfig::default());
        let Conclusion::Rejected { p_value } = report.conclusion else { panic!("{:?}", report.conclusion) };
        assert!(p_value < 0.001, "{p_value}");
        assert_eq!(p_value, 1.0 / 10_000.0, "no flip reaches the observed total");
        let combined = report.combined.unwrap();
        assert!(combined.auc > 0.8 && combined.effect_size > 1.0, "{combined:?}");
        assert_eq!(report.measures.len(), 3);
        let embedding = &report.measures[0];
        assert_eq!(embedding.measure, "embedding_cosine");
        assert!((embedding.mean_difference - 0.08).abs() < 0.02, "{embedding:?}");
        assert!(embedding.sign_test_p < 1e-6, "{embedding:?}");
        // The format measure carries no signal here, and says so.
        assert!(report.measures[2].permutation_p > 0.01, "{:?}", report.measures[2]);
    }

    #[test]
    fn a_steady_small_lead_is_not_undone_by_a_few_large_differences_the_other_way() {
        // A student a little closer on nine items in ten; on the tenth the control repeats a passage of
        // ours and is far closer. The mean of the differences is negative; the signed ranks see the lead.
        let items: Vec<AlignedItem> = (0..60)
            .map(|i| {
                let (suspect, control) = if i % 10 == 0 { (0.05, 0.60) } else { (0.10 + 0.001 * i as f64, 0.08) };
                let s = Similarities { embedding_cosine: None, ngram_overlap: suspect, format_profile: 0.5 };
                let c = Similarities { embedding_cosine: None, ngram_overlap: control, format_profile: 0.5 };
                AlignedItem { item: format!("item-{i}"), suspect: s, control: c }
            })
            .collect();
        let mean: f64 = items.iter().map(|i| i.suspect.ngram_overlap - i.control.ngram_overlap).sum::<f64>() / 60.0;
        assert!(mean < 0.0, "{mean}");
        let report = distillation_test(&items, &TestConfig::default());
        let Conclusion::Rejected { p_value } = report.conclusion else { panic!("{:?}", report.conclusion) };
        assert!(p_value < 0.01, "{p_value}");
        // The measure's own line reports the mean of its differences as it is, and its test by ranks.
        let ngram = report.measures.iter().find(|m| m.measure == "ngram_overlap").unwrap();
        assert!(ngram.mean_difference < 0.0 && ngram.permutation_p < 0.01 && ngram.auc > 0.85, "{ngram:?}");
    }

    #[test]
    fn signed_ranks_rank_sizes_share_ties_and_keep_zeros_out() {
        let r = signed_ranks(&[0.3, -0.1, 0.0, 0.1, -0.5]);
        // Non-zero sizes 0.1, 0.1, 0.3, 0.5 take ranks 1.5, 1.5, 3, 4 of 4.
        let expected = [0.75, -0.375, 0.0, 0.375, -1.0];
        for (got, want) in r.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{r:?}");
        }
        assert!(signed_ranks(&[0.0, 0.0]).iter().all(|v| *v == 0.0));
    }

    #[test]
    fn under_the_null_the_test_rejects_about_alpha_of_the_time() {
        let config = TestConfig { permutations: 999, ..TestConfig::default() };
        let rejected = (0..200)
            .filter(|seed| {
                let report = distillation_test(&items(100, 0.0, 1000 + seed), &TestConfig { seed: *seed, ..config });
                matches!(report.conclusion, Conclusion::Rejected { .. })
            })
            .count();
        // 5% of 200 is 10; the binomial's 99.9% upper bound is about 21.
        assert!(rejected <= 21, "rejected {rejected} of 200 null samples");
        assert!(rejected >= 1, "a test that never rejects under the null is not calibrated either");
    }

    #[test]
    fn swapping_suspect_and_control_does_not_reject() {
        let swapped: Vec<AlignedItem> = items(300, 0.08, 2)
            .into_iter()
            .map(|i| AlignedItem { suspect: i.control, control: i.suspect, ..i })
            .collect();
        let report = distillation_test(&swapped, &TestConfig::default());
        let Conclusion::NotRejected { p_value } = report.conclusion else { panic!("{:?}", report.conclusion) };
        assert!(p_value > 0.99, "{p_value}");
    }

    #[test]
    fn too_few_aligned_items_are_inconclusive() {
        let report = distillation_test(&items(12, 0.5, 3), &TestConfig::default());
        let Conclusion::Inconclusive { reason } = &report.conclusion else { panic!("{:?}", report.conclusion) };
        assert!(reason.contains("only 12 item(s)") && reason.contains("at least 30"), "{reason}");
        assert!(report.combined.is_none() && report.measures.is_empty());
    }

    #[test]
    fn a_measure_without_values_is_left_out_not_zeroed() {
        let mut unembedded = items(100, 0.1, 4);
        for item in &mut unembedded {
            item.suspect.embedding_cosine = None;
            item.control.embedding_cosine = None;
        }
        let report = distillation_test(&unembedded, &TestConfig::default());
        let names: Vec<&str> = report.measures.iter().map(|m| m.measure).collect();
        assert_eq!(names, ["ngram_overlap", "format_profile"]);
        assert!(matches!(report.conclusion, Conclusion::Rejected { .. }), "{:?}", report.conclusion);
    }

    #[test]
    fn the_same_items_and_seed_give_the_same_report() {
        let a = distillation_test(&items(80, 0.01, 5), &TestConfig::default());
        let b = distillation_test(&items(80, 0.01, 5), &TestConfig::default());
        assert_eq!(a, b);
    }

    #[test]
    fn a_verbatim_opening_counts_whatever_follows_it_in_ours() {
        let ours =
            "Item, Qty, Price | mango, 5, 2500 | apple, 4, 600\n\nInput: another table follows here with more rows";
        let copied = similarities(ours, "Item, Qty, Price | mango, 5, 2500 | apple, 4, 600", None);
        let reworded = similarities(ours, "The mango costs 2500 for five and the apples 600 for four", None);
        assert!(copied.ngram_overlap > 0.6, "{copied:?}");
        assert!(reworded.ngram_overlap < 0.1, "{reworded:?}");
        assert_eq!(copied.embedding_cosine, None);
    }

    #[test]
    fn the_sign_test_matches_the_binomial_tail() {
        assert_eq!(binomial_upper_tail(0, 10), 1.0);
        assert!((binomial_upper_tail(10, 10) - 1.0 / 1024.0).abs() < 1e-12);
        assert!((binomial_upper_tail(8, 10) - 56.0 / 1024.0).abs() < 1e-12);
        assert!((binomial_upper_tail(5, 10) - 638.0 / 1024.0).abs() < 1e-12);
        let far = binomial_upper_tail(400, 500);
        assert!(far > 0.0 && far < 1e-40, "{far}");
    }
}
