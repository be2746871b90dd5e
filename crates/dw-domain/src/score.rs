//! An audit's verdict on one account: its risk, level and flag, the linked
//! cluster it belongs to, and the signals that contributed most.
//!
//! The per-account scores file (`distillwatch audit --output scores.csv`) is
//! this record, one row per account active in the audited window; evaluators
//! read it, so its columns are a stable interface.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::csv;

/// Risk levels, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    /// Nothing notable.
    None,
    /// Worth a look when there is time.
    Low,
    /// Worth a look.
    Medium,
    /// Likely extraction: flagged by default.
    High,
    /// Almost certainly extraction.
    Critical,
}

impl RiskLevel {
    /// Every level, lowest first.
    pub const ALL: [RiskLevel; 5] =
        [RiskLevel::None, RiskLevel::Low, RiskLevel::Medium, RiskLevel::High, RiskLevel::Critical];

    /// The level's name.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::None => "none",
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
            RiskLevel::Critical => "critical",
        }
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RiskLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RiskLevel::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| format!("unknown level {s:?} (expected none, low, medium, high or critical)"))
    }
}

/// One signal's share of a risk score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Contribution {
    /// The signal's name.
    pub signal: String,
    /// What it added to the risk.
    pub contribution: f64,
}

/// An audit's verdict on one account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountScore {
    /// The account.
    pub account_id: String,
    /// Extraction risk in [0, 1].
    pub risk: f64,
    /// The risk's level.
    pub level: RiskLevel,
    /// Whether the account has an open flag after the audit (its own or its
    /// cluster's); allowlisted accounts are never flagged.
    pub flagged: bool,
    /// The linked-account cluster, when it has two or more members.
    pub cluster_id: Option<String>,
    /// The largest contributions, largest first.
    pub top_signals: Vec<Contribution>,
}

/// The header of the scores file.
pub const SCORES_CSV_HEADER: &str = "account_id,risk,level,flagged,cluster_id,top_signals";

impl AccountScore {
    /// The account's row of the scores file. Risk is written with 9 decimals:
    /// evaluators rank by it, and rounding that creates ties costs recall.
    pub fn csv_row(&self) -> String {
        let signals: Vec<String> =
            self.top_signals.iter().map(|c| format!("{}:{:.6}", c.signal, c.contribution)).collect();
        format!(
            "{},{:.9},{},{},{},{}",
            csv::field(&self.account_id),
            self.risk,
            self.level,
            self.flagged,
            csv::field(self.cluster_id.as_deref().unwrap_or("")),
            csv::field(&signals.join(";"))
        )
    }

    /// Reads a row of the scores file; `Err` names the column and what is wrong.
    pub fn parse_csv_row(line: &str) -> Result<Self, String> {
        let fields = csv::split_record(line)?;
        if fields.len() != 6 {
            return Err(format!("expected 6 columns ({SCORES_CSV_HEADER}), found {}", fields.len()));
        }
        let risk: f64 = fields[1].parse().map_err(|_| format!("risk: not a number: {:?}", fields[1]))?;
        if !(0.0..=1.0).contains(&risk) {
            return Err(format!("risk: {risk} is outside [0, 1]"));
        }
        let level = fields[2].parse().map_err(|e| format!("level: {e}"))?;
        let flagged = match fields[3].as_str() {
            "true" => true,
            "false" => false,
            other => return Err(format!("flagged: expected true or false, found {other:?}")),
        };
        let mut top_signals = Vec::new();
        for pair in fields[5].split(';').filter(|p| !p.is_empty()) {
            let (signal, value) =
                pair.rsplit_once(':').ok_or_else(|| format!("top_signals: {pair:?} is not name:contribution"))?;
            let contribution =
                value.parse().map_err(|_| format!("top_signals: {pair:?} has no numeric contribution"))?;
            top_signals.push(Contribution { signal: signal.to_owned(), contribution });
        }
        Ok(Self {
            account_id: fields[0].clone(),
            risk,
            level,
            flagged,
            cluster_id: Some(fields[4].clone()).filter(|c| !c.is_empty()),
            top_signals,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() {
        let score = AccountScore {
            account_id: "acct,1".into(),
            risk: 0.123456789,
            level: RiskLevel::Medium,
            flagged: true,
            cluster_id: Some("c7".into()),
            top_signals: vec![
                Contribution { signal: "requests".into(), contribution: 0.1 },
                Contribution { signal: "templating".into(), contribution: 0.023456 },
            ],
        };
        let row = score.csv_row();
        assert_eq!(row, "\"acct,1\",0.123456789,medium,true,c7,requests:0.100000;templating:0.023456");
        assert_eq!(AccountScore::parse_csv_row(&row).unwrap(), score);
    }

    #[test]
    fn bad_rows_say_which_column() {
        assert!(AccountScore::parse_csv_row("a,1.5,low,false,,").unwrap_err().starts_with("risk:"));
        assert!(AccountScore::parse_csv_row("a,0.5,severe,false,,").unwrap_err().starts_with("level:"));
        assert!(AccountScore::parse_csv_row("a,0.5,low,yes,,").unwrap_err().starts_with("flagged:"));
        assert!(AccountScore::parse_csv_row("a,0.5,low").unwrap_err().contains("expected 6 columns"));
    }
}
