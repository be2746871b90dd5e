//! Every signal, defined once: its name, family, prior (the transform and
//! weight the unfitted detector uses) and what it measures. The order here
//! is the order [`super::account_signals`] gives them; the names the flag
//! policy accepts, the families on each value, the prior weight table and the
//! check of `docs/signals.md` are all read from here. Adding a signal is its
//! own computation in its family's file and one line below.

use super::Family;
use crate::scoring::Transform::{self, FallingRamp, LogLogistic, Ramp};

/// A signal's definition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Definition {
    /// Its stable name (scores, weights and flag settings refer to it).
    pub name: &'static str,
    /// Its family.
    pub family: Family,
    /// Its prior transform and weight; `None` for a signal that is not
    /// weighed (it can only be decisive).
    pub prior: Option<(Transform, f64)>,
    /// What it measures, in one line (`docs/signals.md` says the rest).
    pub doc: &'static str,
}

/// Which way a signal points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Higher values are riskier.
    Higher,
    /// Lower values are riskier.
    Lower,
}

impl Definition {
    /// Which way it points, read from its prior transform.
    pub fn direction(&self) -> Direction {
        match self.prior {
            Some((FallingRamp { .. }, _)) => Direction::Lower,
            _ => Direction::Higher,
        }
    }
}

const fn def(name: &'static str, family: Family, prior: Transform, weight: f64, doc: &'static str) -> Definition {
    Definition { name, family, prior: Some((prior, weight)), doc }
}

use Family::*;

/// Every signal, in the order accounts get them.
pub const SIGNALS: &[Definition] = &[
    def(
        "requests_per_active_day",
        VolumeAutomation,
        LogLogistic { midpoint: 60.0, width: 0.35 },
        1.0,
        "requests per day with any request",
    ),
    def(
        "active_hours",
        VolumeAutomation,
        Ramp { low: 0.6, high: 0.96 },
        0.5,
        "share of the day's 24 hours with any request",
    ),
    def(
        "hour_profile_flatness",
        VolumeAutomation,
        Ramp { low: 0.3, high: 0.6 },
        1.0,
        "mean requests of the four quietest hours over the four busiest",
    ),
    def(
        "interarrival_cv",
        VolumeAutomation,
        FallingRamp { low: 0.4, high: 1.5 },
        0.8,
        "coefficient of variation of the gaps between requests",
    ),
    def(
        "peak_concurrency",
        VolumeAutomation,
        Ramp { low: 2.0, high: 8.0 },
        0.4,
        "most requests started within any 10 s",
    ),
    def("single_turn_share", ConversationShape, Ramp { low: 0.7, high: 1.0 }, 1.2, "requests with no earlier turn"),
    def("repeat_share", ConversationShape, Ramp { low: 0.5, high: 1.0 }, 0.0, "requests repeating an earlier prompt"),
    def(
        "long_budget_share",
        HarvestShape,
        Ramp { low: 0.2, high: 0.9 },
        0.8,
        "requests with max_tokens of 2000 or more",
    ),
    def("multi_sample_share", HarvestShape, Ramp { low: 0.0, high: 0.25 }, 0.8, "requests with n above 1"),
    def("logprobs_share", HarvestShape, Ramp { low: 0.0, high: 0.5 }, 1.5, "requests asking for logprobs"),
    def("length_stop_share", HarvestShape, Ramp { low: 0.05, high: 0.5 }, 0.3, "answers stopped at max_tokens"),
    def(
        "output_ratio",
        HarvestShape,
        LogLogistic { midpoint: 4.0, width: 0.3 },
        0.5,
        "median completion tokens over prompt tokens",
    ),
    def(
        "reasoning_share",
        ReasoningElicitation,
        Ramp { low: 0.05, high: 0.5 },
        1.2,
        "prompts asking for step-by-step reasoning",
    ),
    def(
        "identity_probe_share",
        IdentityProbing,
        Ramp { low: 0.01, high: 0.1 },
        0.6,
        "prompts asking the model about itself",
    ),
    def(
        "frame_share",
        Templating,
        Ramp { low: 0.5, high: 1.0 },
        0.3,
        "prompts sharing the most common opening or closing",
    ),
    def("template_share", Templating, Ramp { low: 0.5, high: 1.0 }, 0.0, "prompts in the three largest templates"),
    def(
        "slot_fill_diversity",
        Templating,
        Ramp { low: 0.5, high: 1.0 },
        0.0,
        "distinct slot fills over templated prompts",
    ),
    def(
        "task_instruction_share",
        DatasetLikeness,
        Ramp { low: 0.3, high: 0.9 },
        1.0,
        "prompts whose varying part reads as a task instruction",
    ),
    def(
        "topic_entropy",
        Coverage,
        Ramp { low: 2.0, high: 3.5 },
        0.0,
        "entropy of the embedded prompts over the window's topics",
    ),
    def(
        "topic_evenness",
        Coverage,
        Ramp { low: 0.6, high: 0.95 },
        0.0,
        "topic entropy over the most the embedded prompts allow",
    ),
    def(
        "reask_share",
        Coverage,
        Ramp { low: 0.05, high: 0.4 },
        0.0,
        "embedded prompts re-asking an earlier one in other words",
    ),
    def(
        "account_age_days",
        AccountProfile,
        FallingRamp { low: 3.0, high: 30.0 },
        0.5,
        "days from the account's opening to its first request",
    ),
    Definition {
        name: "reference_match",
        family: ReferenceMatch,
        prior: None,
        doc: "completions a suspect reference set reproduces",
    },
    Definition {
        name: "reference_test",
        family: ReferenceMatch,
        prior: None,
        doc: "the paired distillation test on a suspect's prompts served to the account, -log10 of its q-value",
    },
];

/// A signal's definition by name.
pub fn find(name: &str) -> Option<&'static Definition> {
    SIGNALS.iter().find(|d| d.name == name)
}

/// Every signal's name, in order.
pub fn names() -> impl Iterator<Item = &'static str> {
    SIGNALS.iter().map(|d| d.name)
}

/// A signal's family.
///
/// # Panics
///
/// When `name` is not in [`SIGNALS`]: a signal computed without its line
/// here is a programming error that every test run shows.
pub fn family_of(name: &str) -> Family {
    match find(name) {
        Some(d) => d.family,
        None => panic!("signal {name:?} is not in signals::registry::SIGNALS"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_docs_name_every_signal() {
        let mut seen = std::collections::BTreeSet::new();
        for d in SIGNALS {
            assert!(seen.insert(d.name), "{} twice", d.name);
            assert!(!d.doc.is_empty(), "{} has no doc line", d.name);
        }
        let docs = include_str!("../../../../docs/signals.md");
        for d in SIGNALS {
            assert!(docs.contains(&format!("| `{}` |", d.name)), "docs/signals.md has no row for {}", d.name);
        }
    }

    #[test]
    fn directions_follow_the_priors() {
        assert_eq!(find("interarrival_cv").map(Definition::direction), Some(Direction::Lower));
        assert_eq!(find("account_age_days").map(Definition::direction), Some(Direction::Lower));
        assert_eq!(find("logprobs_share").map(Definition::direction), Some(Direction::Higher));
    }
}
