//! The audit use case: score every account active in a window.
//!
//! The same use case serves `distillwatch audit`, the evaluator's replays and
//! (later) scheduled audits, so what is measured is what runs.

use dw_detect::{AccountActivity, DetectConfig};
use dw_domain::AccountScore;
use time::OffsetDateTime;

use crate::{App, AppError};

/// The detectors an audit can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Detector {
    /// Risk from the request count alone: the yardstick's floor.
    Baseline,
}

impl Detector {
    /// The detector audits use unless told otherwise. Until the signal-based
    /// detector lands, that is the baseline.
    pub const DEFAULT: Detector = Detector::Baseline;

    /// The detector's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Detector::Baseline => dw_detect::Baseline::NAME,
        }
    }
}

/// A window to audit: `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditWindow {
    /// First instant included.
    pub from: OffsetDateTime,
    /// First instant excluded.
    pub to: OffsetDateTime,
}

impl AuditWindow {
    /// A window; `Invalid` unless `from` is before `to`.
    pub fn new(from: OffsetDateTime, to: OffsetDateTime) -> Result<Self, AppError> {
        if from >= to {
            return Err(AppError::Invalid(format!("the window is empty: --from {from} is not before --to {to}")));
        }
        Ok(Self { from, to })
    }
}

impl App {
    /// Scores every account with at least one request in the window, in
    /// account order.
    pub async fn audit(&self, window: AuditWindow, detector: Detector) -> Result<Vec<AccountScore>, AppError> {
        let mut conn = self.pool.acquire().await?;
        let config: &DetectConfig = &self.config.detect;
        let scores = match detector {
            Detector::Baseline => {
                let counts = dw_store::activity::request_counts(&mut conn, window.from, window.to).await?;
                let activity: Vec<AccountActivity> = counts
                    .into_iter()
                    .map(|(account_id, n)| AccountActivity { account_id, requests: n.max(0) as u64 })
                    .collect();
                config.baseline.score(&activity, &config.levels, &config.flags)
            }
        };
        tracing::debug!(
            detector = detector.name(),
            accounts = scores.len(),
            flagged = scores.iter().filter(|s| s.flagged).count(),
            "audit done"
        );
        Ok(scores)
    }

    /// Request times (Unix seconds) per account in the window, for evaluators.
    pub async fn request_times(&self, window: AuditWindow) -> Result<Vec<(String, Vec<i64>)>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(dw_store::activity::request_times(&mut conn, window.from, window.to).await?)
    }

    /// The first and last stored event times.
    pub async fn event_time_range(&self) -> Result<Option<(OffsetDateTime, OffsetDateTime)>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(dw_store::activity::time_range(&mut conn).await?)
    }
}
