//! Risk levels and the flag decision.

use dw_domain::RiskLevel;
use serde::{Deserialize, Serialize};

use crate::DetectError;

/// The lowest risk of each level above `none`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LevelThresholds {
    /// `low` from here.
    pub low: f64,
    /// `medium` from here.
    pub medium: f64,
    /// `high` from here.
    pub high: f64,
    /// `critical` from here.
    pub critical: f64,
}

impl Default for LevelThresholds {
    fn default() -> Self {
        Self { low: 0.25, medium: 0.5, high: 0.75, critical: 0.9 }
    }
}

impl LevelThresholds {
    /// Checks that the thresholds rise strictly inside (0, 1].
    pub fn validate(&self) -> Result<(), DetectError> {
        let values = [self.low, self.medium, self.high, self.critical];
        let rising = values.windows(2).all(|w| w[0] < w[1]);
        if !rising || values[0] <= 0.0 || values[3] > 1.0 || values.iter().any(|v| !v.is_finite()) {
            return Err(DetectError::Config {
                field: "detect.levels",
                message: format!("thresholds must rise strictly within (0, 1]: {values:?}"),
            });
        }
        Ok(())
    }

    /// The level of a risk.
    pub fn level(&self, risk: f64) -> RiskLevel {
        if risk >= self.critical {
            RiskLevel::Critical
        } else if risk >= self.high {
            RiskLevel::High
        } else if risk >= self.medium {
            RiskLevel::Medium
        } else if risk >= self.low {
            RiskLevel::Low
        } else {
            RiskLevel::None
        }
    }
}

/// When an account is flagged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlagPolicy {
    /// Accounts at this level or above are flagged.
    pub flag_level: RiskLevel,
    /// Accounts that are scored but never flagged: licensed to distill,
    /// evaluation partners, the provider's own test accounts.
    pub allowlist: std::collections::BTreeSet<String>,
    /// A dismissed flag opens again when the risk rises this much above its
    /// risk at dismissal (or when a signal fires that had not).
    pub reopen_margin: f64,
}

impl Default for FlagPolicy {
    fn default() -> Self {
        Self { flag_level: RiskLevel::High, allowlist: Default::default(), reopen_margin: 0.1 }
    }
}

impl FlagPolicy {
    /// Whether an account at this level is flagged.
    pub fn flags(&self, account_id: &str, level: RiskLevel) -> bool {
        level >= self.flag_level && !self.allowlist.contains(account_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_start_at_their_thresholds() {
        let t = LevelThresholds::default();
        assert_eq!(t.level(0.0), RiskLevel::None);
        assert_eq!(t.level(0.25), RiskLevel::Low);
        assert_eq!(t.level(0.749_999), RiskLevel::Medium);
        assert_eq!(t.level(0.75), RiskLevel::High);
        assert_eq!(t.level(1.0), RiskLevel::Critical);
    }

    #[test]
    fn allowlisted_accounts_are_scored_but_never_flagged() {
        let policy = FlagPolicy { allowlist: ["partner".to_owned()].into(), ..FlagPolicy::default() };
        assert!(policy.flags("someone", RiskLevel::Critical));
        assert!(!policy.flags("partner", RiskLevel::Critical));
        assert!(!policy.flags("someone", RiskLevel::Medium));
    }

    #[test]
    fn thresholds_must_rise() {
        assert!(LevelThresholds::default().validate().is_ok());
        let bad = LevelThresholds { low: 0.5, medium: 0.5, high: 0.75, critical: 0.9 };
        assert!(bad.validate().unwrap_err().to_string().starts_with("detect.levels"));
    }
}
