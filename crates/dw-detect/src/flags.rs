//! Flags: one per account or cluster, kept up to date by later audits.
//!
//! An audit proposes a flag for every flagged account and every cluster with
//! a flagged member; [`decide`] says what happens to the stored flag. An
//! analyst's dismissal holds until the risk rises by the policy's margin or
//! a signal fires that had not fired when the flag was dismissed, and the
//! reopened flag says which.

use dw_domain::{FlagStatus, SubjectKind};
use serde::Serialize;

/// What the stored flag looks like now.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// Its status.
    pub status: FlagStatus,
    /// Its risk at dismissal, when dismissed.
    pub dismissed_risk: Option<f64>,
    /// The signals that had fired at dismissal, when dismissed.
    pub dismissed_fired: Vec<String>,
}

/// What an audit does to a subject's flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// No flag yet: open one.
    Open,
    /// Open, escalated or confirmed: refresh its risk and evidence, keep its status.
    Update,
    /// Dismissed, but something changed: open it again, saying what.
    Reopen {
        /// What changed, in words.
        because: String,
    },
    /// Dismissed and nothing new: leave it.
    KeepDismissed,
}

/// Decides what an audit that flags a subject at `risk`, with the signals
/// `fired`, does to its stored flag.
pub fn decide(stored: Option<&Stored>, risk: f64, fired: &[String], reopen_margin: f64) -> Action {
    let Some(stored) = stored else { return Action::Open };
    match stored.status {
        FlagStatus::Open | FlagStatus::Escalated | FlagStatus::Confirmed => Action::Update,
        FlagStatus::Dismissed => {
            let new: Vec<&str> =
                fired.iter().filter(|s| !stored.dismissed_fired.contains(s)).map(String::as_str).collect();
            let was = stored.dismissed_risk.unwrap_or(1.0);
            let mut because = Vec::new();
            if risk >= was + reopen_margin - 1e-12 {
                because.push(format!(
                    "risk rose from {was:.2} at dismissal to {risk:.2} (reopen margin {reopen_margin:.2})"
                ));
            }
            if !new.is_empty() {
                because.push(format!("new signal{} fired: {}", if new.len() > 1 { "s" } else { "" }, new.join(", ")));
            }
            if because.is_empty() { Action::KeepDismissed } else { Action::Reopen { because: because.join("; ") } }
        }
    }
}

/// A signal has fired when its transformed score reaches this.
pub const FIRED_SCORE: f64 = 0.5;

/// A flag an audit proposes.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// What it is about.
    pub subject: SubjectKind,
    /// The account or cluster id.
    pub id: String,
    /// Its risk.
    pub risk: f64,
    /// Its level.
    pub level: dw_domain::RiskLevel,
    /// The signals that fired (for a cluster, on any flagged member), sorted.
    pub fired: Vec<String>,
    /// Why, in one line.
    pub reason: String,
    /// The evidence bundle.
    pub evidence: serde_json::Value,
}

/// The account's evidence bundle: its score and every signal (value, counts,
/// example events, percentile, weight, contribution), its link with the
/// linked accounts, its riskiest end user, and its activity at a glance.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountBundle<'a> {
    score: &'a dw_domain::AccountScore,
    requests: usize,
    signals: &'a [crate::scoring::ScoredSignal],
    link: Option<Link<'a>>,
    riskiest_end_user: Option<&'a crate::detector::PartVerdict>,
    riskiest_stream: Option<&'a crate::detector::PartVerdict>,
    attributes: Option<&'a dw_domain::AccountAttributes>,
    activity: Option<&'a crate::evidence::Evidence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decisive: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    shared_templates: &'a [crate::templates::SharedTemplate],
    #[serde(skip_serializing_if = "Option::is_none")]
    operator: Option<&'a crate::operator::OperatorVerdict>,
}

/// Why an account is in its cluster.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ClusterLink))]
pub struct Link<'a> {
    cluster_id: &'a str,
    reason: &'a str,
    linked_accounts: Vec<&'a str>,
}

/// A cluster's evidence bundle: its members, what joined them, and the
/// cluster read as one operator.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterBundle<'a> {
    cluster_id: &'a str,
    reason: &'a str,
    members: Vec<Member<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operator: Option<&'a crate::operator::OperatorVerdict>,
}

/// A cluster's member as its bundle shows it.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ClusterMember))]
pub struct Member<'a> {
    account_id: &'a str,
    risk: f64,
    level: dw_domain::RiskLevel,
    flagged: bool,
    requests: usize,
    top_signals: &'a [dw_domain::Contribution],
}

/// A flag's evidence: an account's bundle or a cluster's (the shape the
/// API documents; audits store the bundle itself).
#[derive(Debug, Serialize)]
#[serde(untagged)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FlagEvidence<'a> {
    /// A flag on an account.
    Account(AccountBundle<'a>),
    /// A flag on a cluster.
    Cluster(ClusterBundle<'a>),
}

/// The signals that fired for a verdict, with what raised it (its cluster,
/// its riskiest end user or request stream), sorted.
fn fired(verdict: &crate::Verdict) -> Vec<String> {
    let mut fired: Vec<String> = verdict
        .signals
        .iter()
        .filter(|s| s.weight > 0.0 && s.score.is_some_and(|v| v >= FIRED_SCORE))
        .map(|s| s.signal.name.to_owned())
        .collect();
    if let Some(decisive) = verdict.decisive.as_deref() {
        // A decisive signal fires whatever its weight.
        let name = decisive.split(' ').next().unwrap_or(decisive);
        fired.push(name.to_owned());
    }
    for raised in ["linked_cluster", "linked_operator", "riskiest_end_user", "riskiest_request_stream"] {
        if verdict.score.top_signals.iter().any(|c| c.signal == raised) {
            fired.push(raised.to_owned());
        }
    }
    fired.sort_unstable();
    fired.dedup();
    fired
}

/// The flags an audit's verdicts propose: one per flagged account, and one
/// per cluster with a flagged member. An evidence bundle that cannot be
/// written as JSON is an error, never empty evidence.
pub fn candidates(verdicts: &[crate::Verdict]) -> Result<Vec<Candidate>, serde_json::Error> {
    use std::collections::BTreeMap;
    let mut clusters: BTreeMap<&str, Vec<&crate::Verdict>> = BTreeMap::new();
    for v in verdicts {
        if let Some(cluster) = v.score.cluster_id.as_deref() {
            clusters.entry(cluster).or_default().push(v);
        }
    }
    let mut out = Vec::new();
    for v in verdicts.iter().filter(|v| v.score.flagged) {
        let link = v.score.cluster_id.as_deref().map(|cluster_id| Link {
            cluster_id,
            reason: v.link_reason.as_deref().unwrap_or(""),
            linked_accounts: clusters[cluster_id]
                .iter()
                .map(|m| m.score.account_id.as_str())
                .filter(|id| *id != v.score.account_id)
                .collect(),
        });
        let top: Vec<String> =
            v.score.top_signals.iter().take(3).map(|c| format!("{} +{:.2}", c.signal, c.contribution)).collect();
        let mut reason = format!("risk {:.2} ({}): {}", v.score.risk, v.score.level.as_str(), top.join(", "));
        if let Some(decisive) = &v.decisive {
            reason.push_str(&format!("; {decisive}"));
        }
        if let Some(link) = &link {
            reason.push_str(&format!("; member of cluster {}: {}", link.cluster_id, link.reason));
        }
        let bundle = AccountBundle {
            score: &v.score,
            requests: v.requests,
            signals: &v.signals,
            link,
            riskiest_end_user: v.riskiest_end_user.as_ref(),
            riskiest_stream: v.riskiest_stream.as_ref(),
            attributes: v.attributes.as_ref(),
            activity: v.evidence.as_ref(),
            decisive: v.decisive.as_deref(),
            shared_templates: &v.shared_templates,
            operator: v.operator.as_ref(),
        };
        out.push(Candidate {
            subject: SubjectKind::Account,
            id: v.score.account_id.clone(),
            risk: v.score.risk,
            level: v.score.level,
            fired: fired(v),
            reason,
            evidence: serde_json::to_value(&bundle)?,
        });
    }
    for (cluster_id, members) in clusters {
        let flagged: Vec<&&crate::Verdict> = members.iter().filter(|m| m.score.flagged).collect();
        let Some(top) = flagged.iter().max_by(|a, b| a.score.risk.total_cmp(&b.score.risk)) else { continue };
        let link_reason = top.link_reason.as_deref().unwrap_or("");
        let mut signals: Vec<String> = flagged.iter().flat_map(|m| fired(m)).collect();
        signals.sort_unstable();
        signals.dedup();
        let bundle = ClusterBundle {
            cluster_id,
            reason: link_reason,
            members: members
                .iter()
                .map(|m| Member {
                    account_id: &m.score.account_id,
                    risk: m.score.risk,
                    level: m.score.level,
                    flagged: m.score.flagged,
                    requests: m.requests,
                    top_signals: &m.score.top_signals,
                })
                .collect(),
            operator: members.iter().find_map(|m| m.operator.as_ref()),
        };
        out.push(Candidate {
            subject: SubjectKind::Cluster,
            id: cluster_id.to_owned(),
            risk: top.score.risk,
            level: top.score.level,
            fired: signals,
            reason: format!(
                "{} of {} linked accounts flagged ({} requests in all): {link_reason}",
                flagged.len(),
                members.len(),
                members.iter().map(|m| m.requests).sum::<usize>()
            ),
            evidence: serde_json::to_value(&bundle)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dismissed(risk: f64, fired: &[&str]) -> Stored {
        Stored {
            status: FlagStatus::Dismissed,
            dismissed_risk: Some(risk),
            dismissed_fired: fired.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn names(fired: &[&str]) -> Vec<String> {
        fired.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_new_subject_opens_and_open_or_confirmed_flags_are_updated() {
        assert_eq!(decide(None, 0.8, &[], 0.1), Action::Open);
        let open = Stored { status: FlagStatus::Open, dismissed_risk: None, dismissed_fired: vec![] };
        assert_eq!(decide(Some(&open), 0.5, &[], 0.1), Action::Update);
        let escalated = Stored { status: FlagStatus::Escalated, ..open.clone() };
        assert_eq!(decide(Some(&escalated), 0.7, &[], 0.1), Action::Update);
        let confirmed = Stored { status: FlagStatus::Confirmed, ..open };
        assert_eq!(decide(Some(&confirmed), 0.99, &names(&["x"]), 0.1), Action::Update);
    }

    #[test]
    fn a_dismissal_holds_until_the_risk_rises_by_the_margin_or_a_new_signal_fires() {
        let stored = dismissed(0.80, &["single_turn_share", "template_share"]);
        let same = names(&["template_share", "single_turn_share"]);
        assert_eq!(decide(Some(&stored), 0.85, &same, 0.1), Action::KeepDismissed);
        assert_eq!(decide(Some(&stored), 0.70, &names(&["template_share"]), 0.1), Action::KeepDismissed);
        assert_eq!(
            decide(Some(&stored), 0.90, &same, 0.1),
            Action::Reopen { because: "risk rose from 0.80 at dismissal to 0.90 (reopen margin 0.10)".into() }
        );
        assert_eq!(
            decide(Some(&stored), 0.81, &names(&["template_share", "logprobs_share", "reasoning_share"]), 0.1),
            Action::Reopen { because: "new signals fired: logprobs_share, reasoning_share".into() }
        );
        let Action::Reopen { because } = decide(Some(&stored), 0.95, &names(&["logprobs_share"]), 0.1) else {
            panic!("both changes reopen")
        };
        assert!(because.contains("risk rose") && because.contains("new signal fired: logprobs_share"), "{because}");
    }
}
