//! The deliberately naive baseline: the more requests, the riskier.
//!
//! It is what a provider without a detector has (a volume alarm), and every
//! evaluation reports it beside the real detector so the report always shows
//! how far above it the detector is. Its risk is `n / (n + k)` for an
//! account's `n` requests in the window: monotone in `n`, so it ranks
//! exactly as the request count does, and bounded in [0, 1) so levels apply.
//! With the default `k` of 200 an account reaches `high` (0.75) at 600
//! requests in the window.

use dw_domain::{AccountScore, Contribution};
use serde::{Deserialize, Serialize};

use crate::levels::{FlagPolicy, LevelThresholds};

/// What the baseline needs of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountActivity {
    /// The account.
    pub account_id: String,
    /// Requests in the window.
    pub requests: u64,
}

/// The request-count baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Baseline {
    /// Requests at which risk is one half.
    pub half_risk_requests: f64,
}

impl Default for Baseline {
    fn default() -> Self {
        Self { half_risk_requests: 200.0 }
    }
}

impl Baseline {
    /// The detector's name in reports and score files.
    pub const NAME: &'static str = "baseline-request-count";

    /// Scores every account, in the order given.
    pub fn score(
        &self,
        accounts: &[AccountActivity],
        levels: &LevelThresholds,
        policy: &FlagPolicy,
    ) -> Vec<AccountScore> {
        accounts
            .iter()
            .map(|a| {
                let n = a.requests as f64;
                let risk = n / (n + self.half_risk_requests.max(f64::MIN_POSITIVE));
                let level = levels.level(risk);
                AccountScore {
                    account_id: a.account_id.clone(),
                    risk,
                    level,
                    flagged: policy.flags(&a.account_id, level),
                    cluster_id: None,
                    top_signals: vec![Contribution { signal: "request_count".into(), contribution: risk }],
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use dw_domain::RiskLevel;

    use super::*;

    #[test]
    fn risk_follows_the_request_count() {
        let accounts = [
            AccountActivity { account_id: "quiet".into(), requests: 0 },
            AccountActivity { account_id: "half".into(), requests: 200 },
            AccountActivity { account_id: "loud".into(), requests: 600 },
        ];
        let scores = Baseline::default().score(&accounts, &LevelThresholds::default(), &FlagPolicy::default());
        assert_eq!(scores.iter().map(|s| s.risk).collect::<Vec<_>>(), vec![0.0, 0.5, 0.75]);
        assert_eq!(
            scores.iter().map(|s| s.level).collect::<Vec<_>>(),
            vec![RiskLevel::None, RiskLevel::Medium, RiskLevel::High]
        );
        assert_eq!(scores.iter().map(|s| s.flagged).collect::<Vec<_>>(), vec![false, false, true]);
        assert!(scores.iter().all(|s| s.cluster_id.is_none()));
    }
}
