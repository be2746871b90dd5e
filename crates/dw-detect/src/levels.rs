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
    /// Decisive signals: a signal whose value reaches its threshold here
    /// flags the account whatever its risk (an allowlisted account aside).
    /// By default a reference match of 0.2 (a fifth of the account's
    /// completions with a near match among a suspect model's outputs) is
    /// decisive, as the design says; any signal may be named.
    pub decisive: std::collections::BTreeMap<String, f64>,
}

impl Default for FlagPolicy {
    fn default() -> Self {
        Self {
            flag_level: RiskLevel::High,
            allowlist: Default::default(),
            reopen_margin: 0.1,
            decisive: [("reference_match".to_owned(), 0.2)].into(),
        }
    }
}

impl FlagPolicy {
    /// Whether an account at this level is flagged.
    pub fn flags(&self, account_id: &str, level: RiskLevel) -> bool {
        level >= self.flag_level && !self.allowlist.contains(account_id)
    }

    /// The decisive signal among `signals` that flags an account on its own,
    /// in words ("reference_match 0.35 ≥ 0.20 (decisive)"), when there is one.
    pub fn decisive_signal<'a>(&self, signals: impl IntoIterator<Item = &'a crate::signals::Signal>) -> Option<String> {
        signals.into_iter().find_map(|s| {
            let threshold = *self.decisive.get(s.name)?;
            let value = s.value.filter(|v| *v >= threshold)?;
            Some(format!("{} {value:.2} ≥ {threshold:.2} (decisive)", s.name))
        })
    }

    /// Checks the decisive signals: known names, finite thresholds.
    pub fn validate(&self) -> Result<(), DetectError> {
        if !(0.0..=1.0).contains(&self.reopen_margin) {
            return Err(DetectError::Config {
                field: "detect.flags.reopen_margin",
                message: "must be between 0 and 1".into(),
            });
        }
        for (name, threshold) in &self.decisive {
            if crate::signals::registry::find(name).is_none() {
                return Err(DetectError::Config {
                    field: "detect.flags.decisive",
                    message: format!(
                        "unknown signal {name:?} (known: {})",
                        crate::signals::registry::names().collect::<Vec<_>>().join(", ")
                    ),
                });
            }
            if !threshold.is_finite() {
                return Err(DetectError::Config {
                    field: "detect.flags.decisive",
                    message: format!("{name}: the threshold must be a number"),
                });
            }
        }
        Ok(())
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
    fn a_decisive_signal_flags_on_its_own_and_unknown_names_are_refused() {
        use crate::signals::{Family, Signal};
        let policy = FlagPolicy::default();
        let signal = |value| Signal {
            name: "reference_match",
            family: Family::ReferenceMatch,
            value,
            detail: String::new(),
            examples: Vec::new(),
        };
        assert_eq!(
            policy.decisive_signal(&[signal(Some(0.35))]).as_deref(),
            Some("reference_match 0.35 ≥ 0.20 (decisive)")
        );
        assert_eq!(policy.decisive_signal(&[signal(Some(0.1))]), None);
        assert_eq!(policy.decisive_signal(&[signal(None)]), None, "a signal not computed decides nothing");
        assert!(policy.validate().is_ok());
        let typo = FlagPolicy { decisive: [("referense_match".to_owned(), 0.2)].into(), ..FlagPolicy::default() };
        let error = typo.validate().unwrap_err().to_string();
        assert!(error.starts_with("detect.flags.decisive: unknown signal \"referense_match\""), "{error}");
    }

    #[test]
    fn thresholds_must_rise() {
        assert!(LevelThresholds::default().validate().is_ok());
        let bad = LevelThresholds { low: 0.5, medium: 0.5, high: 0.75, critical: 0.9 };
        assert!(bad.validate().unwrap_err().to_string().starts_with("detect.levels"));
    }
}
