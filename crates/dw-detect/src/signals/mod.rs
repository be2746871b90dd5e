//! Per-account signals over an audit window.
//!
//! Each signal is a number with the evidence an analyst needs to believe it
//! (a one-line account of the counts, example event ids), or an explicit
//! "not computed" with the reason: too few requests, or a parameter the logs
//! never carried. A parameter that was not logged is unknown, never false.
//! Definitions, look-alikes and blind spots are in `docs/signals.md`.

mod automation;
mod coverage;
mod elicitation;
mod harvest;
mod likeness;
mod profile;
pub mod registry;
mod shape;
mod templating;

use dw_domain::{AccountAttributes, RequestRecord};
use serde::Serialize;

use crate::topics::Topics;

pub use coverage::{MIN_EMBEDDED as MIN_EMBEDDED_FOR_COVERAGE, REASK_SIMILARITY};
pub use elicitation::{asks_for_reasoning, probes_identity};
pub use templating::{TOP_TEMPLATES, prompt_frame};

/// The signal families of the design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// How much, and how machine-like in time.
    VolumeAutomation,
    /// Conversations versus independent tasks.
    ConversationShape,
    /// Buying as much output per request as possible.
    HarvestShape,
    /// Asking for reasoning traces.
    ReasoningElicitation,
    /// A generator script behind the prompts.
    Templating,
    /// Prompts that read like an instruction dataset's records.
    DatasetLikeness,
    /// How an account's prompts spread over the window's topics.
    Coverage,
    /// Questions about the model itself.
    IdentityProbing,
    /// Matches with a suspect model's outputs.
    ReferenceMatch,
    /// What the provider knows of the account (its age).
    AccountProfile,
}

/// One signal's value for one account.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Signal {
    /// The signal's name (stable: scores and weights refer to it).
    pub name: &'static str,
    /// Its family.
    pub family: Family,
    /// The value, or `None` when it could not be computed.
    pub value: Option<f64>,
    /// The counts behind the value, or why it was not computed.
    pub detail: String,
    /// Up to three event ids that show it.
    pub examples: Vec<String>,
}

impl Signal {
    /// A computed value of the signal `name` (its family from the
    /// [`registry`]).
    pub(crate) fn computed(name: &'static str, value: f64, detail: String, examples: Vec<String>) -> Self {
        Self { name, family: registry::family_of(name), value: Some(value), detail, examples }
    }

    /// The signal `name`, not computed, and why.
    pub(crate) fn not_computed(name: &'static str, why: impl Into<String>) -> Self {
        let family = registry::family_of(name);
        Self { name, family, value: None, detail: format!("not computed: {}", why.into()), examples: Vec::new() }
    }
}

/// Fewer requests than this leave the time-shape signals uncomputed: a
/// handful of requests has no rhythm to speak of.
pub const MIN_REQUESTS_FOR_SHAPE: usize = 20;

/// Fewer requests than this leave the share signals uncomputed: one
/// single-turn request is not "100% single-turn" in any useful sense.
pub const MIN_REQUESTS_FOR_SHARE: usize = 10;

/// The same floor for a part of an account ([`crate::detector`]): a request
/// stream is already one pattern (every request with one system prompt and
/// one set of parameters), so fewer of its requests make a share worth
/// reading than of an account's whole mix. A script that shares a key with a
/// person can send a handful of requests a week.
pub const MIN_PART_REQUESTS_FOR_SHARE: usize = 5;

/// How an account's prompts are built, computed once and read by the
/// templating and likeness signals and by the evidence.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PromptStructure {
    /// Every prompt's frame ([`prompt_frame`]), in request order.
    pub frames: Vec<(String, String)>,
    /// The account's templates and every prompt's slot fill.
    pub templates: crate::templates::Templates,
    /// Every prompt's MinHash signature, in request order.
    pub signatures: Vec<crate::templates::Signature>,
}

impl PromptStructure {
    /// The structure of `requests`' prompts: each prompt is masked once, and
    /// its frame and signature are read from the masked text.
    pub fn of(requests: &[RequestRecord]) -> Self {
        let prompts: Vec<&str> = requests.iter().map(|r| r.prompt.as_str()).collect();
        let (frames, signatures): (Vec<_>, Vec<_>) = prompts
            .iter()
            .map(|p| {
                let masked = crate::templates::mask(p);
                (templating::frame_of_masked(&masked), crate::templates::Signature::of_masked(&masked))
            })
            .unzip();
        let templates = crate::templates::templates_of(&prompts, &signatures);
        Self { frames, templates, signatures }
    }

    /// The structure of a part of the account: `own` are the part's indices
    /// into the account's requests, `requests` the part's requests. Frames and
    /// signatures are the account's; templates are grouped anew.
    pub fn of_part(&self, own: &[usize], requests: &[RequestRecord]) -> Self {
        let prompts: Vec<&str> = requests.iter().map(|r| r.prompt.as_str()).collect();
        let signatures: Vec<_> = own.iter().map(|i| self.signatures[*i].clone()).collect();
        Self {
            frames: own.iter().map(|i| self.frames[*i].clone()).collect(),
            templates: crate::templates::templates_of(&prompts, &signatures),
            signatures,
        }
    }
}

/// Every signal of one account, from its requests in time order, their
/// structure ([`PromptStructure::of`]), the window's topics when its prompts
/// were embedded, and its attributes when imported. Share signals need
/// `min_share` requests ([`MIN_REQUESTS_FOR_SHARE`] for an account,
/// [`MIN_PART_REQUESTS_FOR_SHARE`] for a part of one).
pub fn account_signals(
    requests: &[RequestRecord],
    structure: &PromptStructure,
    topics: Option<&Topics>,
    attributes: Option<&AccountAttributes>,
    min_share: usize,
) -> Vec<Signal> {
    let mut signals = Vec::with_capacity(16);
    signals.extend(automation::signals(requests));
    let shares = [shape::signals(requests), harvest::signals(requests), elicitation::signals(requests)].concat();
    if requests.len() < min_share {
        let why = format!("fewer than {min_share} requests");
        signals.extend(shares.into_iter().map(|s| Signal::not_computed(s.name, why.as_str())));
    } else {
        signals.extend(shares);
    }
    signals.extend(templating::signals(requests, &structure.frames, &structure.templates));
    signals.push(likeness::task_instruction_share(requests, &structure.templates.fills, min_share));
    signals.extend(coverage::signals(requests, topics));
    signals.push(profile::account_age(requests, attributes));
    signals.push(Signal::not_computed("reference_match", "no reference set"));
    signals.push(Signal::not_computed("reference_test", "no reference set"));
    signals
}

/// Share of `requests` matching `predicate`, with up to three example ids.
fn share_of(requests: &[RequestRecord], predicate: impl Fn(&RequestRecord) -> bool) -> (usize, Vec<String>) {
    let mut count = 0;
    let mut examples = Vec::new();
    for r in requests {
        if predicate(r) {
            count += 1;
            if examples.len() < 3 {
                examples.push(r.event_id.clone());
            }
        }
    }
    (count, examples)
}

#[cfg(test)]
pub(crate) mod test_support {
    use dw_domain::RequestRecord;

    /// A single-turn request at `ts_ms` with `prompt`.
    pub fn request(id: usize, ts_ms: i64, prompt: &str) -> RequestRecord {
        RequestRecord {
            account_id: "a".into(),
            event_id: format!("e{id}"),
            ts_ms,
            model: "m".into(),
            prompt: prompt.into(),
            system_prompt: None,
            prior_turns: Some(0),
            conversation_id: None,
            temperature: None,
            max_tokens: None,
            n: None,
            logprobs: None,
            finish_reason: None,
            prompt_tokens: None,
            completion_tokens: None,
            client_ip: None,
            user_agent: None,
            end_user: None,
            prompt_vector: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::request;
    use super::*;

    #[test]
    fn a_parts_structure_is_the_structure_of_its_requests() {
        let requests: Vec<RequestRecord> = (0..30)
            .map(|i| {
                request(i, i as i64, &format!("Please translate the following sentence into German today: part {i}"))
            })
            .chain((30..40).map(|i| request(i, i as i64, &format!("a different question number {i}"))))
            .collect();
        let own: Vec<usize> = (0..40).filter(|i| i % 3 == 0).collect();
        let part: Vec<RequestRecord> = own.iter().map(|i| requests[*i].clone()).collect();
        assert_eq!(PromptStructure::of(&requests).of_part(&own, &part), PromptStructure::of(&part));
    }

    #[test]
    fn every_account_gets_every_signal_in_the_listed_order() {
        for count in [1, 12, 40] {
            let requests: Vec<RequestRecord> =
                (0..count).map(|i| request(i, i as i64 * 60_000, &format!("question {i}"))).collect();
            let signals =
                account_signals(&requests, &PromptStructure::of(&requests), None, None, MIN_REQUESTS_FOR_SHARE);
            let names: Vec<&str> = signals.iter().map(|s| s.name).collect();
            assert_eq!(names, registry::names().collect::<Vec<_>>(), "{count} requests");
        }
    }
}
