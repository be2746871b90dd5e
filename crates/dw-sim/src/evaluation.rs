//! Joining audit verdicts with ground truth into a report: ranking quality
//! (ROC AUC, recall at 1% and 0.1% benign false-positive rate, with 95%
//! bootstrap intervals over campaigns and lone accounts), the detector's own flag decision per
//! attack and benign kind, campaign linking, and requests served before the
//! first flag.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use dw_domain::AccountScore;
use serde::Serialize;

use crate::labels::LabelRow;
use crate::metrics::{self, Interval, Scored};

/// Bootstrap resamples per interval.
pub const RESAMPLES: usize = 1_000;

/// What one detector said about one labelled population.
#[derive(Debug, Clone, Default)]
pub struct Verdicts {
    /// Scores of the final audit over the whole window.
    pub scores: Vec<AccountScore>,
    /// For each account, the first daily checkpoint (Unix seconds) whose
    /// audit flagged it.
    pub first_flag: HashMap<String, i64>,
}

/// The traffic a population sent: request times (Unix seconds) by account.
pub type RequestTimes = HashMap<String, Vec<i64>>;

/// A value with its 95% bootstrap interval.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Estimate {
    /// The point estimate on all accounts.
    pub value: f64,
    /// The 2.5th and 97.5th percentiles over resampled campaigns and lone
    /// accounts (a campaign is drawn whole).
    pub interval: Option<Interval>,
}

/// Recall at a benign false-positive rate.
#[derive(Debug, Clone, Serialize)]
pub struct RecallAtFpr {
    /// The false-positive rate aimed at.
    pub target_fpr: f64,
    /// Recall with its interval.
    pub recall: Estimate,
    /// The threshold set on the benign scores (strictly above it is flagged).
    pub threshold: f64,
    /// The false-positive rate reached.
    pub fpr: f64,
}

/// Outcomes for one kind at the detector's own flag decision.
#[derive(Debug, Clone, Serialize)]
pub struct KindOutcome {
    /// The kind.
    pub kind: String,
    /// Active accounts of the kind.
    pub accounts: usize,
    /// Of them, flagged.
    pub flagged: usize,
    /// `flagged / accounts`: recall for attack kinds, false-positive rate for benign ones.
    pub rate: f64,
    /// Median requests an attack kind's flagged accounts sent before their first flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_requests_before_flag: Option<f64>,
    /// Requests an attack kind's accounts sent before being flagged, or in
    /// the whole window when never flagged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_before_flag_total: Option<usize>,
}

/// The report for one detector on one population.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The detector's name.
    pub detector: String,
    /// Active labelled accounts.
    pub accounts: usize,
    /// Of them, attackers.
    pub positives: usize,
    /// Of them, benign.
    pub negatives: usize,
    /// ROC AUC.
    pub roc_auc: Option<Estimate>,
    /// Recall at 1% and 0.1% false-positive rate.
    pub recall_at_fpr: Vec<RecallAtFpr>,
    /// Attackers flagged by the detector's own decision.
    pub flagged_recall: f64,
    /// Benign accounts flagged by the detector's own decision.
    pub flagged_fpr: f64,
    /// Per attack kind.
    pub attack_kinds: Vec<KindOutcome>,
    /// Per benign kind.
    pub benign_kinds: Vec<KindOutcome>,
    /// Campaign completeness and purity.
    pub campaigns: Vec<metrics::CampaignLinking>,
    /// Labelled accounts with no traffic in the window (left out).
    pub inactive_accounts: usize,
    /// Scored accounts missing from the labels (left out).
    pub unlabelled_accounts: usize,
}

/// Evaluates one detector's verdicts. Accounts are the labelled accounts
/// that sent traffic; an active account the audit did not score counts as
/// risk 0, unflagged (a detector that skips accounts pays for it).
pub fn evaluate(detector: &str, labels: &[LabelRow], traffic: &RequestTimes, verdicts: &Verdicts, seed: u64) -> Report {
    let by_account: HashMap<&str, &AccountScore> = verdicts.scores.iter().map(|s| (s.account_id.as_str(), s)).collect();
    let labelled: std::collections::HashSet<&str> = labels.iter().map(|l| l.account_id.as_str()).collect();
    let unlabelled_accounts = verdicts.scores.iter().filter(|s| !labelled.contains(s.account_id.as_str())).count();
    let active: Vec<&LabelRow> =
        labels.iter().filter(|l| traffic.get(&l.account_id).is_some_and(|t| !t.is_empty())).collect();
    let inactive_accounts = labels.len() - active.len();

    let scored: Vec<Scored> = active
        .iter()
        .map(|l| Scored { risk: by_account.get(l.account_id.as_str()).map_or(0.0, |s| s.risk), positive: l.positive })
        .collect();
    let positives = scored.iter().filter(|s| s.positive).count();
    // Bootstrap units: a campaign's accounts together, every other account alone.
    let mut by_campaign: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut units: Vec<Vec<usize>> = Vec::new();
    for (i, label) in active.iter().enumerate() {
        match label.campaign.as_deref().filter(|c| !c.is_empty()) {
            Some(campaign) => by_campaign.entry(campaign).or_default().push(i),
            None => units.push(vec![i]),
        }
    }
    units.extend(by_campaign.into_values());

    let roc_auc = metrics::roc_auc(&scored).map(|value| Estimate {
        value,
        interval: metrics::grouped_bootstrap_interval(&units, RESAMPLES, seed, |idx| {
            metrics::roc_auc(&metrics::resample_scores(&scored, idx))
        }),
    });
    let recall_at_fpr = [0.01, 0.001]
        .into_iter()
        .filter_map(|target| {
            let point = metrics::recall_at_fpr(&scored, target)?;
            let interval = metrics::grouped_bootstrap_interval(&units, RESAMPLES, seed, |idx| {
                metrics::recall_at_fpr(&metrics::resample_scores(&scored, idx), target).map(|p| p.recall)
            });
            Some(RecallAtFpr {
                target_fpr: target,
                recall: Estimate { value: point.recall, interval },
                threshold: point.threshold,
                fpr: point.fpr,
            })
        })
        .collect();

    let flagged = |l: &LabelRow| by_account.get(l.account_id.as_str()).is_some_and(|s| s.flagged);
    let mut kinds: BTreeMap<(bool, &str), Vec<&LabelRow>> = BTreeMap::new();
    for label in &active {
        kinds.entry((label.positive, label.kind.as_str())).or_default().push(label);
    }
    let mut attack_kinds = Vec::new();
    let mut benign_kinds = Vec::new();
    for ((positive, kind), members) in kinds {
        let flagged_count = members.iter().filter(|l| flagged(l)).count();
        let mut outcome = KindOutcome {
            kind: kind.to_owned(),
            accounts: members.len(),
            flagged: flagged_count,
            rate: flagged_count as f64 / members.len() as f64,
            median_requests_before_flag: None,
            requests_before_flag_total: None,
        };
        if positive {
            let mut before_flag = Vec::new();
            let mut total = 0;
            for label in &members {
                let times = traffic.get(&label.account_id).map(Vec::as_slice).unwrap_or(&[]);
                let (count, was_flagged) =
                    metrics::requests_before_flag(times, verdicts.first_flag.get(&label.account_id).copied());
                total += count;
                if was_flagged {
                    before_flag.push(count as f64);
                }
            }
            outcome.median_requests_before_flag = metrics::median(&before_flag);
            outcome.requests_before_flag_total = Some(total);
            attack_kinds.push(outcome);
        } else {
            benign_kinds.push(outcome);
        }
    }
    let flagged_positive = active.iter().filter(|l| l.positive && flagged(l)).count();
    let flagged_negative = active.iter().filter(|l| !l.positive && flagged(l)).count();
    let negatives = active.len() - positives;

    let members: Vec<(String, String, Option<String>)> = active
        .iter()
        .map(|l| {
            let cluster = by_account.get(l.account_id.as_str()).and_then(|s| s.cluster_id.clone());
            (l.account_id.clone(), l.campaign.clone().unwrap_or_default(), cluster)
        })
        .collect();

    Report {
        detector: detector.to_owned(),
        accounts: active.len(),
        positives,
        negatives,
        roc_auc,
        recall_at_fpr,
        flagged_recall: ratio(flagged_positive, positives),
        flagged_fpr: ratio(flagged_negative, negatives),
        attack_kinds,
        benign_kinds,
        campaigns: campaigns_with_first_flags(&members, traffic, verdicts),
        inactive_accounts,
        unlabelled_accounts,
    }
}

/// Campaign linking with, per campaign, the requests all its accounts sent
/// before the first flag on any of them: how much a campaign harvests before
/// it is caught, whatever the per-account rate it keeps to.
fn campaigns_with_first_flags(
    members: &[(String, String, Option<String>)],
    traffic: &RequestTimes,
    verdicts: &Verdicts,
) -> Vec<metrics::CampaignLinking> {
    let mut campaigns = metrics::campaign_linking(members);
    for campaign in &mut campaigns {
        let accounts: Vec<&str> =
            members.iter().filter(|(_, c, _)| *c == campaign.campaign).map(|(a, _, _)| a.as_str()).collect();
        let Some(first) = accounts.iter().filter_map(|a| verdicts.first_flag.get(*a)).min().copied() else { continue };
        let before = accounts
            .iter()
            .map(|a| traffic.get(*a).map_or(0, |times| metrics::requests_before_flag(times, Some(first)).0))
            .sum();
        campaign.requests_before_first_flag = Some(before);
    }
    campaigns
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

fn estimate(e: Option<Estimate>) -> String {
    match e {
        None => "n/a".into(),
        Some(Estimate { value, interval: Some(i) }) => format!("{value:.3} [{:.3}, {:.3}]", i.low, i.high),
        Some(Estimate { value, interval: None }) => format!("{value:.3}"),
    }
}

/// The reports side by side as Markdown tables: headline metrics, then per
/// kind, then campaigns and time to flag.
pub fn markdown(reports: &[Report]) -> String {
    let mut out = String::new();
    let header: Vec<&str> = reports.iter().map(|r| r.detector.as_str()).collect();
    let _ = writeln!(out, "| metric | {} |", header.join(" | "));
    let _ = writeln!(out, "| --- |{}", " ---: |".repeat(reports.len()));
    let row = |out: &mut String, name: &str, f: &dyn Fn(&Report) -> String| {
        let cells: Vec<String> = reports.iter().map(f).collect();
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    };
    row(&mut out, "accounts (attack / benign)", &|r| format!("{} ({} / {})", r.accounts, r.positives, r.negatives));
    row(&mut out, "ROC AUC [95% CI]", &|r| estimate(r.roc_auc));
    for (i, target) in ["1%", "0.1%"].iter().enumerate() {
        row(&mut out, &format!("recall at {target} FPR [95% CI]"), &|r| {
            r.recall_at_fpr.get(i).map_or("n/a".into(), |p| estimate(Some(p.recall)))
        });
    }
    row(&mut out, "flagged: recall", &|r| format!("{:.3}", r.flagged_recall));
    row(&mut out, "flagged: benign FPR", &|r| format!("{:.4}", r.flagged_fpr));
    let _ = writeln!(out);

    item_table(
        &mut out,
        reports,
        "attack kind",
        "flagged (median requests before flag)",
        |r| &r.attack_kinds,
        |k| {
            let median = k.median_requests_before_flag.map_or("-".into(), |m| format!("{m:.0}"));
            format!("{}/{} ({median})", k.flagged, k.accounts)
        },
    );
    let _ = writeln!(out);
    item_table(
        &mut out,
        reports,
        "benign kind",
        "false positives",
        |r| &r.benign_kinds,
        |k| format!("{}/{}", k.flagged, k.accounts),
    );
    let _ = writeln!(out);
    item_table(
        &mut out,
        reports,
        "campaign",
        "completeness / purity (campaign requests before its first flag)",
        |r| &r.campaigns,
        |c| {
            let purity = c.purity.map_or("-".into(), |p| format!("{p:.2}"));
            let before = c.requests_before_first_flag.map_or("-".into(), |n| n.to_string());
            format!("{:.2} / {purity} ({before})", c.completeness)
        },
    );
    out
}

/// Something a report lists per item (a kind, a campaign): its name and size.
trait Item {
    fn name(&self) -> &str;
    fn accounts(&self) -> usize;
}

impl Item for KindOutcome {
    fn name(&self) -> &str {
        &self.kind
    }
    fn accounts(&self) -> usize {
        self.accounts
    }
}

impl Item for metrics::CampaignLinking {
    fn name(&self) -> &str {
        &self.campaign
    }
    fn accounts(&self) -> usize {
        self.accounts
    }
}

/// A table with a row per item of the first report and a column per detector.
fn item_table<T: Item>(
    out: &mut String,
    reports: &[Report],
    title: &str,
    column: &str,
    items: impl Fn(&Report) -> &Vec<T>,
    cell: impl Fn(&T) -> String,
) {
    let headers: Vec<String> = reports.iter().map(|r| format!("{}: {column}", r.detector)).collect();
    let _ = writeln!(out, "| {title} | accounts | {} |", headers.join(" | "));
    let _ = writeln!(out, "| --- | ---: |{}", " ---: |".repeat(reports.len()));
    if let Some(first) = reports.first() {
        for (i, item) in items(first).iter().enumerate() {
            let cells: Vec<String> = reports.iter().map(|r| items(r).get(i).map_or("n/a".into(), &cell)).collect();
            let _ = writeln!(out, "| {} | {} | {} |", item.name(), item.accounts(), cells.join(" | "));
        }
    }
}

/// Headline metrics of each run (seed) side by side, one row per run.
pub fn markdown_per_run(runs: &[(String, Vec<Report>)]) -> String {
    let mut out = String::new();
    let Some((_, first)) = runs.first() else { return out };
    let _ = writeln!(
        out,
        "| run | detector | accounts (attack / benign) | ROC AUC | recall at 1% FPR | recall at 0.1% FPR |"
    );
    let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: | ---: |");
    for (name, reports) in runs {
        for report in reports.iter().take(first.len()) {
            let recall =
                |i: usize| report.recall_at_fpr.get(i).map_or("n/a".into(), |r| format!("{:.3}", r.recall.value));
            let _ = writeln!(
                out,
                "| {name} | {} | {} ({} / {}) | {} | {} | {} |",
                report.detector,
                report.accounts,
                report.positives,
                report.negatives,
                report.roc_auc.map_or("n/a".into(), |e| format!("{:.3}", e.value)),
                recall(0),
                recall(1)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use dw_domain::RiskLevel;

    use super::*;

    fn label(id: &str, positive: bool, kind: &str, campaign: Option<&str>) -> LabelRow {
        LabelRow { account_id: id.into(), positive, kind: kind.into(), campaign: campaign.map(Into::into) }
    }

    fn score(id: &str, risk: f64, flagged: bool, cluster: Option<&str>) -> AccountScore {
        AccountScore {
            account_id: id.into(),
            risk,
            level: if flagged { RiskLevel::High } else { RiskLevel::None },
            flagged,
            cluster_id: cluster.map(Into::into),
            top_signals: Vec::new(),
        }
    }

    #[test]
    fn a_tiny_population_gives_hand_computed_numbers() {
        let labels = vec![
            label("a1", true, "farm_hosting", Some("farm-1")),
            label("a2", true, "farm_hosting", Some("farm-1")),
            label("b1", false, "casual", None),
            label("b2", false, "casual", None),
            label("b3", false, "support_bot", None),
            label("idle", false, "casual", None),
        ];
        let traffic: RequestTimes =
            [("a1", vec![10, 20, 30, 40]), ("a2", vec![10, 50]), ("b1", vec![5]), ("b2", vec![5]), ("b3", vec![5, 6])]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
        let verdicts = Verdicts {
            scores: vec![
                score("a1", 0.9, true, Some("c1")),
                score("a2", 0.4, false, Some("c1")),
                score("b1", 0.4, false, None),
                score("b3", 0.95, true, Some("c1")),
                score("stranger", 0.1, false, None),
            ],
            first_flag: [("a1".to_owned(), 35), ("b3".to_owned(), 7)].into_iter().collect(),
        };
        let report = evaluate("test", &labels, &traffic, &verdicts, 1);
        assert_eq!((report.accounts, report.positives, report.negatives), (5, 2, 3));
        assert_eq!((report.inactive_accounts, report.unlabelled_accounts), (1, 1));
        // Pairs (pos, neg): a1 beats b1, b2; loses to b3. a2 ties b1, beats b2 (unscored = 0), loses to b3.
        assert_eq!(report.roc_auc.unwrap().value, (1.0 + 1.0 + 0.0 + 0.5 + 1.0 + 0.0) / 6.0);
        assert_eq!(report.flagged_recall, 0.5);
        assert!((report.flagged_fpr - 1.0 / 3.0).abs() < 1e-12);
        let farm = &report.attack_kinds[0];
        assert_eq!((farm.kind.as_str(), farm.accounts, farm.flagged), ("farm_hosting", 2, 1));
        // a1 was flagged at 35: three requests before; a2 never: both of its requests.
        assert_eq!(farm.median_requests_before_flag, Some(3.0));
        assert_eq!(farm.requests_before_flag_total, Some(5));
        let bot = report.benign_kinds.iter().find(|k| k.kind == "support_bot").unwrap();
        assert_eq!((bot.flagged, bot.rate), (1, 1.0));
        // Both campaign members sit in c1, which also holds a benign bot.
        let campaign = &report.campaigns[0];
        assert_eq!((campaign.completeness, campaign.purity), (1.0, Some(2.0 / 3.0)));
        // First flag on the campaign at 35 (a1): a1 sent 10, 20, 30 before it, a2 sent 10.
        assert_eq!(campaign.requests_before_first_flag, Some(4));
        let table = markdown(&[report]);
        assert!(table.contains("| farm_hosting | 2 | 1/2 (3) |"), "{table}");
        assert!(table.contains("| farm-1 | 2 | 1.00 / 0.67 (4) |"), "{table}");
    }

    #[test]
    fn no_positives_gives_no_ranking_metrics() {
        let labels = vec![label("b1", false, "casual", None)];
        let traffic: RequestTimes = [("b1".to_owned(), vec![1])].into_iter().collect();
        let verdicts = Verdicts { scores: vec![score("b1", 0.5, false, None)], first_flag: HashMap::new() };
        let report = evaluate("test", &labels, &traffic, &verdicts, 1);
        assert!(report.roc_auc.is_none());
        assert!(report.recall_at_fpr.is_empty());
        assert_eq!(report.flagged_recall, 0.0);
    }
}
