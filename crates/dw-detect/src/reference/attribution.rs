//! Attribution, lexical half: which of the completions we served have a
//! near match among a suspect's outputs, by long shared word n-grams.
//!
//! Embeddings blur verbatim reuse into "same topic"; long n-grams do not: two
//! independent answers to one prompt share an eight-word run now and then,
//! not a large part of their text. The index maps each reference output's
//! hashed 8-word shingles to the items that hold them; a completion is looked
//! up shingle by shingle, so matching is linear in the text read, whatever
//! the size of the reference set. Shingles held by many items (boilerplate
//! such as "let me know if you have any other questions") are dropped from
//! the index: they say nothing about where a text came from.

use std::collections::{BTreeSet, HashMap};

use super::Ngrams;
use crate::signals::Signal;

/// Words per shingle: long enough that a shared one is reuse, not chance.
pub const MATCH_NGRAM: usize = 8;

/// Shingles held by more items than this are boilerplate, not evidence.
pub const MAX_ITEMS_PER_SHINGLE: usize = 20;

/// Shared long runs that make an output a candidate for the comparison by
/// meaning ([`ReferenceIndex::candidates`]): two eight-word runs are rare
/// between independent answers unless they quote a common source.
pub const CANDIDATE_MIN_SHARED: usize = 2;

/// Candidates kept per completion, most shared runs first.
pub const MAX_CANDIDATES_PER_COMPLETION: usize = 3;

/// What a lexical match must reach to count.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatchThresholds {
    /// Shingles the two texts share at the least.
    pub min_shared: usize,
    /// The larger of the two containments at the least.
    pub min_containment: f64,
}

impl Default for MatchThresholds {
    /// Calibrated on independent answers to the same prompts
    /// (`distillwatch reference calibrate`, docs/evaluation.md): two models
    /// answering one Arena-Hard prompt (much of it code, where identical
    /// lines are common) share under 0.59 of either answer at the most, 0.46
    /// at the 99th percentile. Five shared runs (twelve words at the least)
    /// keep short stock answers ("Positive.", "False") out: those cannot be
    /// attributed by wording at all.
    fn default() -> Self {
        Self { min_shared: 5, min_containment: 0.6 }
    }
}

/// A reference output that shares long runs of words with a completion.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LexicalMatch {
    /// The reference item's id.
    pub item: i64,
    /// Distinct shingles the two share.
    pub shared: usize,
    /// The share of the reference output's shingles found in the completion.
    pub reference_containment: f64,
    /// The share of the completion's shingles found in the reference output.
    pub completion_containment: f64,
}

impl LexicalMatch {
    /// The larger containment: a suspect that reproduced part of our answer,
    /// or our answer wholly inside a longer output, both count.
    pub fn containment(&self) -> f64 {
        self.reference_containment.max(self.completion_containment)
    }
}

/// The reference outputs' shingles, for lookups.
#[derive(Debug, Default)]
pub struct ReferenceIndex {
    postings: HashMap<u64, Vec<u32>>,
    ids: Vec<i64>,
    sizes: Vec<u32>,
}

impl ReferenceIndex {
    /// Indexes `(item id, output)` pairs.
    pub fn build<'a>(items: impl IntoIterator<Item = (i64, &'a str)>) -> Self {
        let mut index = Self::default();
        for (id, output) in items {
            let position = index.ids.len() as u32;
            let shingles = Ngrams::of(output, MATCH_NGRAM);
            index.ids.push(id);
            index.sizes.push(shingles.len() as u32);
            for hash in shingles.hashes() {
                index.postings.entry(*hash).or_default().push(position);
            }
        }
        index.postings.retain(|_, items| items.len() <= MAX_ITEMS_PER_SHINGLE);
        index
    }

    /// Items indexed.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no item is indexed.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The reference outputs `completion` shares long runs with, best first,
    /// those that reach `thresholds`. Runs that `prompt` (what the completion
    /// answered) holds are left out: an answer that quotes or rewrites its
    /// prompt's text shares it with every other answer to that prompt,
    /// whoever wrote them.
    pub fn matches(&self, completion: &str, prompt: Option<&str>, thresholds: &MatchThresholds) -> Vec<LexicalMatch> {
        let mut found: Vec<LexicalMatch> = self
            .sharing(completion, prompt, thresholds.min_shared)
            .into_iter()
            .filter(|m| m.containment() >= thresholds.min_containment)
            .collect();
        found.sort_by(|a, b| b.containment().total_cmp(&a.containment()).then(a.item.cmp(&b.item)));
        found
    }

    /// The reference outputs that share at least [`CANDIDATE_MIN_SHARED`]
    /// long runs with `completion` (prompt runs left out, as in
    /// [`Self::matches`]) without reaching `thresholds`: too little for reuse
    /// by wording, enough to be worth comparing by meaning (a reworded copy
    /// keeps a few runs intact). Most shared first, at most
    /// [`MAX_CANDIDATES_PER_COMPLETION`].
    pub fn candidates(
        &self,
        completion: &str,
        prompt: Option<&str>,
        thresholds: &MatchThresholds,
    ) -> Vec<LexicalMatch> {
        let mut found: Vec<LexicalMatch> = self
            .sharing(completion, prompt, CANDIDATE_MIN_SHARED)
            .into_iter()
            .filter(|m| m.shared < thresholds.min_shared || m.containment() < thresholds.min_containment)
            .collect();
        found.sort_by(|a, b| b.shared.cmp(&a.shared).then(a.item.cmp(&b.item)));
        found.truncate(MAX_CANDIDATES_PER_COMPLETION);
        found
    }

    /// Every output sharing at least `min_shared` of the completion's
    /// shingles (those of `prompt` left out), unordered.
    fn sharing(&self, completion: &str, prompt: Option<&str>, min_shared: usize) -> Vec<LexicalMatch> {
        let mut shingles = Ngrams::of(completion, MATCH_NGRAM);
        if let Some(prompt) = prompt {
            shingles = shingles.without(&Ngrams::of(prompt, MATCH_NGRAM));
        }
        if shingles.is_empty() || self.is_empty() {
            return Vec::new();
        }
        let mut shared: HashMap<u32, usize> = HashMap::new();
        for hash in shingles.hashes() {
            for item in self.postings.get(hash).into_iter().flatten() {
                *shared.entry(*item).or_default() += 1;
            }
        }
        shared
            .into_iter()
            .filter(|(_, n)| *n >= min_shared.max(1))
            .map(|(position, n)| LexicalMatch {
                item: self.ids[position as usize],
                shared: n,
                reference_containment: n as f64 / f64::from(self.sizes[position as usize].max(1)),
                completion_containment: n as f64 / shingles.len() as f64,
            })
            .collect()
    }
}

/// What one account's completions matched in the suspects' outputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountMatches {
    /// Completions read.
    pub completions: usize,
    /// Completions with at least one match.
    pub matched: usize,
    /// Distinct reference items matched.
    pub items: BTreeSet<i64>,
    /// Up to three matched events.
    pub examples: Vec<String>,
}

impl AccountMatches {
    /// Counts one completion and what it matched.
    pub fn record(&mut self, event_id: &str, found: &[LexicalMatch]) {
        self.completions += 1;
        if !found.is_empty() {
            self.matched += 1;
            self.items.extend(found.iter().map(|m| m.item));
            if self.examples.len() < 3 {
                self.examples.push(event_id.to_owned());
            }
        }
    }
}

/// One account's strongest per-account distillation test in an audit's
/// window: the paired test on a suspect's prompts served to it against every
/// control set that answered enough of them, the suspect required to be the
/// closer against each (its p-value the largest of theirs: an
/// intersection-union test), with its q-value across every account and
/// suspect the audit tested.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountTestEvidence {
    /// The suspect set.
    pub suspect: String,
    /// The control the suspect beat least (the largest p-value); the only
    /// one when one was tested.
    pub control: String,
    /// How many control sets the account was tested against.
    pub controls: usize,
    /// The suspect's prompts served to the account and answered by the
    /// controls (the fewest any control had in common with it).
    pub items: usize,
    /// The largest of the per-control combined permutation p-values.
    pub p_value: f64,
    /// Its Benjamini-Hochberg q-value.
    pub q_value: f64,
    /// The share of its items on which the suspect is the closer to our
    /// answers (the smallest against any control).
    pub auc: f64,
    /// The tests the q-value was adjusted across.
    pub tests: usize,
    /// Whether the test read meaning (embeddings) besides wording.
    pub by_meaning: bool,
}

/// The `reference_test` signal: how strongly the paired distillation test
/// on the suspect's prompts served to the account says the suspect learned
/// from what we answered it, as `-log10(q)` (2 is q = 0.01, 3 is q = 0.001).
/// `pairs` is how many (suspect, control) pairs the audit tested (none: not
/// computed); `evidence` is `None` when the account was served too few of
/// any suspect's prompts to be tested.
pub fn reference_test_signal(pairs: usize, evidence: Option<&AccountTestEvidence>) -> Signal {
    if pairs == 0 {
        return Signal::not_computed("reference_test", "no suspect reference set with a control set to test against");
    }
    let Some(e) = evidence else {
        return Signal::not_computed(
            "reference_test",
            format!(
                "fewer than {} of a suspect's prompts (that a control also answered) were served to the account",
                super::MIN_ALIGNED_ITEMS
            ),
        );
    };
    let against = if e.controls > 1 {
        format!(
            "against each of {} controls, the suspect required to be closer than every one (p the largest, \
             against {})",
            e.controls, e.control
        )
    } else {
        format!("against the control {}", e.control)
    };
    Signal::computed(
        "reference_test",
        // 0 - x, not -x: a q-value of 1 gives 0, not -0.
        0.0 - e.q_value.clamp(1e-12, 1.0).log10(),
        format!(
            "the paired test by {} on {} of {}'s prompts served to the account, {against}: p = {:.2e}, \
             q = {:.2e} (Benjamini-Hochberg across {} account tests); the suspect's answer is the closer to ours on \
             {:.0}% of them",
            if e.by_meaning { "wording and meaning" } else { "wording" },
            e.items,
            e.suspect,
            e.p_value,
            e.q_value,
            e.tests,
            100.0 * e.auc
        ),
        Vec::new(),
    )
}

/// The `reference_match` signal: the share of the account's completions
/// that a suspect's outputs reproduce. `sets` names the suspect sets
/// audited against (none: not computed); `matches` is `None` when the
/// account's events carried no completion text. Like every share signal it
/// needs 10 completions: a single answer found again says nothing.
pub fn reference_match_signal(sets: &[String], matches: Option<&AccountMatches>) -> Signal {
    if sets.is_empty() {
        return Signal::not_computed("reference_match", "no reference set");
    }
    match matches.filter(|m| m.completions > 0) {
        None => Signal::not_computed("reference_match", "no completion text was logged"),
        // One answer of one request found again is no harvest: a person's single question may have
        // an answer that a public dataset (and so the suspect) also holds.
        Some(m) if m.completions < crate::signals::MIN_REQUESTS_FOR_SHARE => Signal::not_computed(
            "reference_match",
            format!(
                "fewer than {} completions ({} of {} reproduced)",
                crate::signals::MIN_REQUESTS_FOR_SHARE,
                m.matched,
                m.completions
            ),
        ),
        Some(m) => Signal::computed(
            "reference_match",
            m.matched as f64 / m.completions as f64,
            format!(
                "{} of {} completions reproduced in {} ({} distinct outputs)",
                m.matched,
                m.completions,
                sets.join(", "),
                m.items.len()
            ),
            m.examples.clone(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "Photosynthesis is the process by which green plants use sunlight, water and carbon dioxide \
        to make glucose and release oxygen. It takes place mainly in the chloroplasts of leaf cells, where \
        chlorophyll absorbs red and blue light and passes the energy on to the reactions that build sugar.";

    #[test]
    fn a_reused_answer_matches_and_an_independent_one_does_not() {
        let reused = "Sure! Photosynthesis is the process by which green plants use sunlight, water and carbon \
            dioxide to make glucose and release oxygen. It takes place mainly in the chloroplasts of leaf cells.";
        let independent = "Plants make their own food: with light as the energy source they combine carbon \
            dioxide from the air and water from the soil into sugars, giving off oxygen as a by-product.";
        let index = ReferenceIndex::build([(7, reused), (8, independent)]);
        let found = index.matches(OURS, None, &MatchThresholds::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].item, 7);
        assert!(found[0].reference_containment > 0.8, "{found:?}");
        assert!(found[0].completion_containment > 0.4 && found[0].completion_containment < 0.8, "{found:?}");
    }

    #[test]
    fn a_reworded_copy_is_a_candidate_and_neither_a_match_nor_an_independent_answer_is() {
        // Ours with a few words changed: the long runs that survive are too
        // few to count as reuse by wording.
        let reworded = "Photosynthesis is how green plants turn sunlight, water and carbon dioxide into glucose \
            while releasing oxygen. It takes place mainly in the chloroplasts of leaf cells, where chlorophyll \
            absorbs red and blue light and hands the energy to the reactions that build sugar.";
        let reused = format!("Sure! {OURS}");
        let independent = "Plants make their own food: with light as the energy source they combine carbon \
            dioxide from the air and water from the soil into sugars, giving off oxygen as a by-product.";
        let index = ReferenceIndex::build([(1, reworded), (2, reused.as_str()), (3, independent)]);
        let thresholds = MatchThresholds::default();
        assert_eq!(index.matches(OURS, None, &thresholds).iter().map(|m| m.item).collect::<Vec<_>>(), [2]);
        let candidates = index.candidates(OURS, None, &thresholds);
        assert_eq!(candidates.iter().map(|m| m.item).collect::<Vec<_>>(), [1], "{candidates:?}");
        let c = &candidates[0];
        assert!(c.shared >= CANDIDATE_MIN_SHARED, "{c:?}");
        assert!(c.shared < thresholds.min_shared || c.containment() < thresholds.min_containment, "{c:?}");
    }

    #[test]
    fn boilerplate_shared_by_many_items_is_not_evidence() {
        let closing = "I hope this helps and let me know if you have any other questions about it";
        let items: Vec<(i64, String)> = (0..MAX_ITEMS_PER_SHINGLE as i64 + 1)
            .map(|i| (i, format!("Answer number {i} says something. {closing}")))
            .collect();
        let index = ReferenceIndex::build(items.iter().map(|(i, t)| (*i, t.as_str())));
        assert_eq!(index.len(), MAX_ITEMS_PER_SHINGLE + 1);
        let ours = format!("A different answer entirely. {closing}");
        assert!(index.matches(&ours, None, &MatchThresholds { min_shared: 1, min_containment: 0.0 }).is_empty());
    }

    #[test]
    fn short_texts_match_only_themselves() {
        let index = ReferenceIndex::build([(1, "Paris."), (2, "The capital of France is Paris, on the Seine.")]);
        let loose = MatchThresholds { min_shared: 1, min_containment: 0.5 };
        let found = index.matches("paris", None, &loose);
        assert_eq!(found.iter().map(|m| m.item).collect::<Vec<_>>(), [1]);
        assert!(index.matches("", None, &loose).is_empty());
    }

    #[test]
    fn the_signal_is_the_share_of_completions_reproduced_or_says_why_not() {
        let none = reference_match_signal(&[], None);
        assert_eq!((none.value, none.detail.as_str()), (None, "not computed: no reference set"));
        let sets = ["suspect-x".to_owned()];
        let silent = reference_match_signal(&sets, Some(&AccountMatches::default()));
        assert_eq!(silent.detail, "not computed: no completion text was logged");
        let mut m = AccountMatches::default();
        let hit = LexicalMatch { item: 4, shared: 9, reference_containment: 0.9, completion_containment: 0.7 };
        m.record("e0", std::slice::from_ref(&hit));
        let one = reference_match_signal(&sets, Some(&m));
        assert_eq!(one.value, None, "one answer found again is not a share");
        assert_eq!(one.detail, "not computed: fewer than 10 completions (1 of 1 reproduced)");
        for i in 1..20 {
            m.record(&format!("e{i}"), if i % 2 == 0 { std::slice::from_ref(&hit) } else { &[] });
        }
        let signal = reference_match_signal(&sets, Some(&m));
        assert_eq!(signal.value, Some(0.5));
        assert_eq!(signal.detail, "10 of 20 completions reproduced in suspect-x (1 distinct outputs)");
        assert_eq!(signal.examples, ["e0", "e2", "e4"]);
    }

    #[test]
    fn text_quoted_from_the_prompt_is_not_evidence() {
        let input = "If you have any questions about my rate or if you find it necessary to increase or decrease \
            the scope for this project, please let me know.";
        let prompt = format!("Rewrite the sentence to be clearer.\n\n{input}");
        // Another model's answer that copies the input whole.
        let index = ReferenceIndex::build([(1, input)]);
        let loose = MatchThresholds { min_shared: 1, min_containment: 0.0 };
        assert_eq!(index.matches(input, None, &loose).len(), 1, "without the prompt it looks like reuse");
        assert!(index.matches(input, Some(&prompt), &loose).is_empty(), "with it, it is the prompt's text");
    }

    #[test]
    fn the_reference_test_signal_is_the_q_values_order_with_the_test_in_words() {
        assert!(reference_test_signal(0, None).value.is_none(), "no pair of sets tested");
        let few = reference_test_signal(2, None);
        assert!(few.value.is_none() && few.detail.contains("fewer than 30"), "{few:?}");
        let evidence = AccountTestEvidence {
            suspect: "student".into(),
            control: "unrelated".into(),
            controls: 1,
            items: 57,
            p_value: 0.0001,
            q_value: 0.001,
            auc: 0.81,
            tests: 14,
            by_meaning: false,
        };
        let signal = reference_test_signal(2, Some(&evidence));
        assert!((signal.value.unwrap() - 3.0).abs() < 1e-9, "{signal:?}");
        for words in ["by wording on 57 of student's prompts", "control unrelated", "q = 1.00e-3", "across 14", "81%"] {
            assert!(signal.detail.contains(words), "{words:?} in {}", signal.detail);
        }
        // A q-value of 1 is no evidence at all: zero, not a negative number.
        let none = reference_test_signal(2, Some(&AccountTestEvidence { q_value: 1.0, ..evidence.clone() }));
        assert!(none.value.is_some_and(|v| v == 0.0 && v.is_sign_positive()), "{none:?}");
        // Against several controls the words say the suspect had to beat each, and which it beat least.
        let panel = reference_test_signal(2, Some(&AccountTestEvidence { controls: 3, ..evidence.clone() }));
        for words in ["against each of 3 controls", "closer than every one", "against unrelated)"] {
            assert!(panel.detail.contains(words), "{words:?} in {}", panel.detail);
        }
    }
}
