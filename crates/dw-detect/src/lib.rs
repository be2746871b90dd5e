//! distillwatch detection: from what accounts did in a window to scored,
//! levelled and flagged accounts.
//!
//! Pure and deterministic: no I/O, no clock, no randomness; the audit use
//! case in `dw-app` reads the window's activity from the store, calls in
//! here, and writes the verdicts back in one transaction.
//!
//! Layout:
//! - [`levels`]: risk thresholds of the levels and the flag decision.
//! - [`signals`]: per-account signals from the account's requests, each
//!   with its evidence or the reason it was not computed.
//! - [`topics`]: the window's prompt topics (k-means over embeddings).
//! - [`templates`]: near-duplicate prompt clusters (MinHash, LSH), their
//!   frames and slot fills.
//! - [`content`]: learned models of prompt content (the task-instruction
//!   classifier), with their committed weights.
//! - [`scoring`]: transforms and weights (one versioned table) from signals
//!   to risk, with every contribution.
//! - [`evidence`]: an account's activity at a glance (hourly timeline,
//!   parameter histograms, sources, sample prompts).
//! - [`learn`]: logistic regression (Newton), and [`fit`]: the signal
//!   weights fitted on labelled traffic.
//! - [`flags`]: what an audit does to the flag of an account or cluster
//!   (open, update, reopen, leave dismissed), and why.
//! - [`linking`]: accounts joined into clusters by what one operator's
//!   accounts share.
//! - [`reference`]: a suspect model's outputs against what we served: text
//!   measures and the distillation test.
//! - [`detector`]: a window's population scored together (percentiles,
//!   clusters).
//! - [`operator`]: a linked cluster's merged requests scored as one actor.
//! - [`baseline`]: the deliberately naive detector (risk from request
//!   count) that every evaluation reports beside the real one.

pub mod baseline;
pub mod content;
pub mod detector;
pub mod evidence;
pub mod fit;
pub mod flags;
pub mod learn;
pub mod levels;
pub mod linking;
pub mod operator;
pub mod reference;
pub mod scoring;
pub mod signals;
pub mod templates;
pub mod topics;

pub use baseline::{AccountActivity, Baseline};
pub use detector::{AccountSignals, PartSignals, PartVerdict, Verdict, score_population};
pub use levels::{FlagPolicy, LevelThresholds};
pub use scoring::Weights;

/// A detector's configuration is out of range.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// A setting names a value it cannot take.
    #[error("{field}: {message}")]
    Config {
        /// The dotted setting.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Everything a detector run is configured by, in one versioned place
/// (`[detect]` in the settings).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    /// Risk thresholds of the levels.
    pub levels: LevelThresholds,
    /// The flag decision.
    pub flags: FlagPolicy,
    /// The request-count baseline.
    pub baseline: Baseline,
}

impl DetectConfig {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), DetectError> {
        self.levels.validate()?;
        self.flags.validate()?;
        if !(self.baseline.half_risk_requests.is_finite() && self.baseline.half_risk_requests > 0.0) {
            return Err(DetectError::Config {
                field: "detect.baseline.half_risk_requests",
                message: "must be a positive number".into(),
            });
        }
        Ok(())
    }
}
