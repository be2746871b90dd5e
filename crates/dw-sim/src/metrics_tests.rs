use super::*;

fn pos(risk: f64) -> Scored {
    Scored { risk, positive: true }
}

fn neg(risk: f64) -> Scored {
    Scored { risk, positive: false }
}

fn fixture(positives: &[f64], negatives: &[f64]) -> Vec<Scored> {
    positives.iter().map(|&r| pos(r)).chain(negatives.iter().map(|&r| neg(r))).collect()
}

/// O(P·N) definition of AUC, to check the rank-based implementation against.
fn brute_auc(scores: &[Scored]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for p in scores.iter().filter(|s| s.positive) {
        for n in scores.iter().filter(|s| !s.positive) {
            pairs += 1.0;
            wins += f64::from(u8::from(p.risk > n.risk)) + f64::from(u8::from(p.risk == n.risk)) / 2.0;
        }
    }
    wins / pairs
}

#[test]
fn auc_with_ties_matches_hand_count() {
    // Pairs: 0.9>0.5, 0.9>0.1, 0.5=0.5 (half), 0.5>0.1 -> 3.5 / 4.
    assert_eq!(roc_auc(&fixture(&[0.9, 0.5], &[0.5, 0.1])), Some(0.875));
}

#[test]
fn auc_all_equal_is_exactly_half() {
    assert_eq!(roc_auc(&fixture(&[0.3; 7], &[0.3; 11])), Some(0.5));
}

#[test]
fn auc_perfect_inverted_and_undefined() {
    assert_eq!(roc_auc(&fixture(&[0.8, 0.9], &[0.1, 0.2, 0.3])), Some(1.0));
    assert_eq!(roc_auc(&fixture(&[0.1, 0.2], &[0.8, 0.9, 0.95])), Some(0.0));
    assert_eq!(roc_auc(&fixture(&[], &[0.1, 0.2])), None);
    assert_eq!(roc_auc(&fixture(&[0.1, 0.2], &[])), None);
    assert_eq!(roc_auc(&[]), None);
}

#[test]
fn auc_ignores_input_order_and_signed_zero() {
    let a = roc_auc(&[neg(0.1), pos(0.5), neg(0.5), pos(0.9)]);
    assert_eq!(a, Some(0.875));
    // -0.0 and 0.0 must tie, not rank apart as total_cmp alone would.
    assert_eq!(roc_auc(&[pos(0.0), neg(-0.0)]), Some(0.5));
}

#[test]
fn auc_nan_does_not_panic() {
    let auc = roc_auc(&[pos(f64::NAN), neg(0.5), pos(0.2), neg(f64::NAN)]).unwrap();
    assert!((0.0..=1.0).contains(&auc));
}

#[test]
fn auc_matches_brute_force_on_random_tied_data() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..50 {
        let len = rng.random_range(2..40);
        // Coarse risks force many ties.
        let scores: Vec<Scored> = (0..len)
            .map(|_| Scored { risk: rng.random_range(0..5) as f64 / 4.0, positive: rng.random_bool(0.4) })
            .collect();
        match roc_auc(&scores) {
            Some(auc) => assert!((auc - brute_auc(&scores)).abs() < 1e-12),
            None => assert!(scores.iter().all(|s| s.positive) || scores.iter().all(|s| !s.positive)),
        }
    }
}

#[test]
fn recall_ties_at_threshold_buy_nothing() {
    // 10 benign, target 0.1 allows 1 FP; b[1] = 0.9 ties b[0], so nothing benign is above it.
    let mut benign = vec![0.9, 0.9];
    benign.extend([0.1; 8]);
    let op = recall_at_fpr(&fixture(&[0.95, 0.9, 0.9, 0.5], &benign), 0.1).unwrap();
    assert_eq!(op.threshold, 0.9);
    assert_eq!(op.false_positives, 0);
    assert_eq!(op.fpr, 0.0);
    // Positives tied at 0.9 are not counted, only 0.95.
    assert_eq!(op.true_positives, 1);
    assert_eq!(op.recall, 0.25);
    assert_eq!(op.target_fpr, 0.1);
}

#[test]
fn recall_one_percent_of_hundred_benign() {
    // Benign risks 0.00, 0.01, ..., 0.99; target 0.01 allows exactly one FP (0.99).
    let benign: Vec<f64> = (0..100).map(|i| i as f64 / 100.0).collect();
    let op = recall_at_fpr(&fixture(&[0.995, 0.985, 0.98, 0.5], &benign), 0.01).unwrap();
    assert_eq!(op.threshold, 0.98);
    assert_eq!(op.false_positives, 1);
    assert_eq!(op.fpr, 0.01);
    // 0.98 ties the threshold and does not count.
    assert_eq!(op.true_positives, 2);
    assert_eq!(op.recall, 0.5);
}

#[test]
fn recall_target_below_one_over_n_allows_no_false_positive() {
    let benign: Vec<f64> = (0..100).map(|i| i as f64 / 100.0).collect();
    let op = recall_at_fpr(&fixture(&[0.995, 0.99, 0.5], &benign), 0.001).unwrap();
    assert_eq!(op.threshold, 0.99, "threshold is the highest benign score");
    assert_eq!(op.false_positives, 0);
    assert_eq!(op.true_positives, 1);
    assert!((op.recall - 1.0 / 3.0).abs() < 1e-15);
    // Same for zero, negative and NaN targets.
    for t in [0.0, -0.5, f64::NAN] {
        assert_eq!(recall_at_fpr(&fixture(&[0.995], &benign), t).unwrap().false_positives, 0);
    }
}

#[test]
fn recall_target_rounding_is_not_floored_away() {
    // 0.29 * 100 is 28.999999999999996 in f64; the epsilon keeps 29 allowed.
    let benign: Vec<f64> = (0..100).map(|i| i as f64 / 100.0).collect();
    let op = recall_at_fpr(&fixture(&[1.0], &benign), 0.29).unwrap();
    assert_eq!(op.false_positives, 29);
    assert_eq!(op.threshold, benign[70]);
}

#[test]
fn recall_allowed_at_least_n_counts_everything() {
    let scores = fixture(&[0.0, 0.2, f64::NAN], &[0.5, 0.9]);
    for t in [1.0, 2.0, f64::INFINITY] {
        let op = recall_at_fpr(&scores, t).unwrap();
        assert_eq!(op.threshold, f64::NEG_INFINITY);
        assert_eq!((op.true_positives, op.false_positives), (3, 2));
        assert_eq!((op.recall, op.fpr), (1.0, 1.0));
    }
}

#[test]
fn recall_undefined_without_both_classes() {
    assert_eq!(recall_at_fpr(&fixture(&[0.5], &[]), 0.1), None);
    assert_eq!(recall_at_fpr(&fixture(&[], &[0.5]), 0.1), None);
}

#[test]
fn recall_fpr_never_exceeds_target_on_random_data() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for _ in 0..200 {
        let len = rng.random_range(2..60);
        let scores: Vec<Scored> = (0..len)
            .map(|_| Scored { risk: rng.random_range(0..10) as f64 / 9.0, positive: rng.random_bool(0.3) })
            .collect();
        let target = rng.random_range(0.0..0.99);
        if let Some(op) = recall_at_fpr(&scores, target) {
            assert!(op.fpr <= target + 1e-9, "{op:?}");
            assert!((0.0..=1.0).contains(&op.recall));
        }
    }
}

#[test]
fn nan_risks_do_not_panic_recall() {
    let op = recall_at_fpr(&fixture(&[f64::NAN, 0.7], &[0.1, f64::NAN, 0.3]), 0.34).unwrap();
    // A positive NaN sorts highest, so the single allowed FP is the benign NaN.
    assert_eq!(op.false_positives, 1);
    assert_eq!(op.threshold, 0.3);
}

#[test]
fn percentile_interpolates_between_order_statistics() {
    let v = [1.0, 2.0, 3.0, 4.0, 5.0];
    assert_eq!(percentile(&v, 0.0), 1.0);
    assert_eq!(percentile(&v, 1.0), 5.0);
    assert_eq!(percentile(&v, 0.5), 3.0);
    // Position 0.025 * 4 = 0.1 -> 1.1; 0.975 * 4 = 3.9 -> 4.9.
    assert!((percentile(&v, 0.025) - 1.1).abs() < 1e-12);
    assert!((percentile(&v, 0.975) - 4.9).abs() < 1e-12);
    assert_eq!(percentile(&[7.0], 0.975), 7.0);
}

#[test]
fn bootstrap_is_deterministic_per_seed() {
    let data: Vec<f64> = (0..50).map(|i| (i * 37 % 11) as f64).collect();
    let stat = |idx: &[usize]| mean(&idx.iter().map(|&i| data[i]).collect::<Vec<_>>());
    let a = bootstrap_interval(data.len(), 500, 42, stat).unwrap();
    let b = bootstrap_interval(data.len(), 500, 42, stat).unwrap();
    let c = bootstrap_interval(data.len(), 500, 43, stat).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c, "a different seed should draw different resamples");
}

#[test]
fn bootstrap_interval_contains_point_estimate_of_mean() {
    let data: Vec<f64> = (0..200).map(|i| (i % 10) as f64).collect();
    let point = mean(&data).unwrap();
    let iv =
        bootstrap_interval(data.len(), 1000, 1, |idx| mean(&idx.iter().map(|&i| data[i]).collect::<Vec<_>>())).unwrap();
    assert!(iv.low < point && point < iv.high, "{iv:?} vs {point}");
    assert!(iv.high - iv.low < 2.0, "interval unreasonably wide: {iv:?}");
}

#[test]
fn bootstrap_indices_have_length_n_and_stay_in_range() {
    let mut calls = 0;
    let iv = bootstrap_interval(5, 20, 3, |idx| {
        calls += 1;
        assert_eq!(idx.len(), 5);
        assert!(idx.iter().all(|&i| i < 5));
        Some(1.0)
    });
    assert_eq!(calls, 20);
    assert_eq!(iv, Some(Interval { low: 1.0, high: 1.0 }));
}

#[test]
fn bootstrap_returns_none_on_empty_or_mostly_undefined() {
    assert_eq!(bootstrap_interval(0, 100, 1, |_| Some(1.0)), None);
    assert_eq!(bootstrap_interval(10, 0, 1, |_| Some(1.0)), None);
    assert_eq!(bootstrap_interval(10, 100, 1, |_| None), None);
    // 49 of 100 defined is fewer than half; 50 of 100 is enough. NaN counts as undefined.
    let mut k = 0;
    assert_eq!(
        bootstrap_interval(10, 100, 1, |_| {
            k += 1;
            if k <= 49 {
                Some(1.0)
            } else if k % 2 == 0 {
                None
            } else {
                Some(f64::NAN)
            }
        }),
        None
    );
    let mut k = 0;
    let iv = bootstrap_interval(10, 100, 1, |_| {
        k += 1;
        (k <= 50).then_some(2.0)
    });
    assert_eq!(iv, Some(Interval { low: 2.0, high: 2.0 }));
}

#[test]
fn bootstrap_auc_skips_one_class_resamples() {
    // One positive among 30: many resamples lack it, yet more than half keep it.
    let mut scores = vec![pos(0.9)];
    scores.extend((0..29).map(|i| neg(i as f64 / 100.0)));
    let iv = bootstrap_interval(scores.len(), 300, 9, |idx| roc_auc(&resample_scores(&scores, idx))).unwrap();
    assert_eq!(iv, Interval { low: 1.0, high: 1.0 });
}

#[test]
fn resample_scores_picks_with_repeats() {
    let scores = [pos(0.9), neg(0.1), neg(0.2)];
    assert_eq!(resample_scores(&scores, &[2, 0, 2]), vec![neg(0.2), pos(0.9), neg(0.2)]);
    assert!(resample_scores(&scores, &[]).is_empty());
}

fn row(account: &str, campaign: &str, cluster: Option<&str>) -> (String, String, Option<String>) {
    (account.to_string(), campaign.to_string(), cluster.map(str::to_string))
}

#[test]
fn campaign_linking_split_campaign_with_foreign_members() {
    let members = vec![
        row("a1", "alpha", Some("c1")),
        row("a2", "alpha", Some("c1")),
        row("a3", "alpha", Some("c1")),
        row("a4", "alpha", Some("c2")),
        row("a5", "alpha", None),
        row("b1", "beta", Some("c1")), // another campaign's account inside c1
        row("x1", "", Some("c1")),     // a benign account inside c1
        row("x2", "", Some("c2")),
        row("x3", "", None),
    ];
    let out = campaign_linking(&members);
    assert_eq!(out.len(), 2, "the empty campaign is not reported");
    let alpha = &out[0];
    assert_eq!(alpha.campaign, "alpha");
    assert_eq!(alpha.accounts, 5);
    assert_eq!(alpha.largest_cluster.as_deref(), Some("c1"));
    assert_eq!(alpha.in_largest, 3);
    assert_eq!(alpha.completeness, 0.6);
    // c1 holds a1..a3, b1 and x1: purity 3/5.
    assert_eq!(alpha.purity, Some(0.6));
    let beta = &out[1];
    assert_eq!((beta.campaign.as_str(), beta.accounts, beta.in_largest), ("beta", 1, 1));
    assert_eq!(beta.completeness, 1.0);
    assert_eq!(beta.purity, Some(0.2));
}

#[test]
fn campaign_linking_unclustered_campaign() {
    let out = campaign_linking(&[row("a", "ghost", None), row("b", "ghost", None)]);
    let ghost = &out[0];
    assert_eq!((out.len(), ghost.campaign.as_str(), ghost.accounts, ghost.in_largest), (1, "ghost", 2, 0));
    assert_eq!((ghost.largest_cluster.clone(), ghost.completeness, ghost.purity), (None, 0.0, None));
}

#[test]
fn campaign_linking_tie_goes_to_smallest_id_and_output_sorted() {
    let members = vec![
        row("z1", "zeta", Some("k9")),
        row("z2", "zeta", Some("k10")),
        row("z3", "zeta", Some("k9")),
        row("z4", "zeta", Some("k10")),
        row("m1", "mu", Some("q")),
    ];
    let out = campaign_linking(&members);
    assert_eq!(out.iter().map(|c| c.campaign.as_str()).collect::<Vec<_>>(), ["mu", "zeta"]);
    // "k10" < "k9" lexicographically.
    assert_eq!(out[1].largest_cluster.as_deref(), Some("k10"));
    assert_eq!((out[1].in_largest, out[1].completeness, out[1].purity), (2, 0.5, Some(1.0)));
    assert!(campaign_linking(&[]).is_empty());
}

#[test]
fn requests_before_flag_edges() {
    // Unordered times; the request at the flag time (100) is not before it.
    assert_eq!(requests_before_flag(&[150, 100, 50, 99], Some(100)), (2, true));
    assert_eq!(requests_before_flag(&[150, 100, 50], None), (3, false));
    assert_eq!(requests_before_flag(&[10, 20], Some(5)), (0, true));
    assert_eq!(requests_before_flag(&[10, 20], Some(21)), (2, true));
    assert_eq!(requests_before_flag(&[], Some(0)), (0, true));
    assert_eq!(requests_before_flag(&[], None), (0, false));
    assert_eq!(requests_before_flag(&[-5, 5], Some(0)), (1, true));
}

#[test]
fn mean_and_median() {
    assert_eq!(mean(&[]), None);
    assert_eq!(median(&[]), None);
    assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
    assert_eq!(median(&[6.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    assert_eq!(median(&[5.0]), Some(5.0));
    assert_eq!(median(&[f64::MAX, f64::MAX]), Some(f64::MAX), "midpoint must not overflow");
    assert!(median(&[f64::NAN, 1.0, 2.0]).is_some());
}

#[test]
fn a_campaign_is_resampled_whole_and_widens_the_interval() {
    // Thirty attack accounts: one farm of twenty-one all missed (risk 0.1),
    // nine lone harvesters caught (0.9); a hundred benign accounts at 0.2.
    let mut scored: Vec<Scored> = (0..21).map(|_| pos(0.1)).collect();
    scored.extend((0..9).map(|_| pos(0.9)));
    scored.extend((0..100).map(|_| neg(0.2)));
    let mut groups: Vec<Vec<usize>> = vec![(0..21).collect()];
    groups.extend((21..130).map(|i| vec![i]));
    let mut drawn_whole = true;
    let grouped = grouped_bootstrap_interval(&groups, 400, 5, |idx| {
        let farm = idx.iter().filter(|i| **i < 21).count();
        drawn_whole &= farm % 21 == 0;
        recall_at_fpr(&resample_scores(&scored, idx), 0.01).map(|p| p.recall)
    })
    .unwrap();
    assert!(drawn_whole, "the farm's accounts come in twenty-ones");
    let accounts = bootstrap_interval(scored.len(), 400, 5, |idx| {
        recall_at_fpr(&resample_scores(&scored, idx), 0.01).map(|p| p.recall)
    })
    .unwrap();
    // One missed farm is one event: resampling campaigns sees it come and go.
    assert!(grouped.high - grouped.low > 2.0 * (accounts.high - accounts.low), "{grouped:?} vs {accounts:?}");
}
