//! Prompt alignment: which of a set's prompts a prompt we served asks,
//! exactly or near-identically.
//!
//! The distillation test and attribution by meaning compare answers to one
//! prompt, so they first have to find, among the prompts we served, those a
//! reference set's items answer. People and scripts rarely send a prompt
//! byte for byte as the suspect's collector did: case, spacing, punctuation,
//! a greeting or a short instruction around it differ. Two prompts align
//!
//! - **exactly** when they are equal with case and runs of whitespace aside
//!   ([`normalize`]), or
//! - **near-identically** when one holds the other word for word, with
//!   case, whitespace and punctuation aside, and adds at most as much as it
//!   holds: every three-token shingle (lowercased words, each CJK character
//!   a token of its own) of the shorter is in the longer, and their Jaccard
//!   similarity is at least [`NEAR_IDENTICAL`]. A greeting, an instruction
//!   wrapper ("Task: … Respond in full detail.") or dropped punctuation keep
//!   a prompt aligned; a different fill of one template does not, however
//!   long the template (each side has words the other lacks), and neither
//!   does a short question quoted inside a long, different one.
//!
//! Candidates are found by MinHash with locality-sensitive hashing and then
//! checked on the exact shingle sets, so the cost is linear in the number of
//! prompts served. Numbers are kept (unlike templates, which mask them):
//! "What is 17 × 23?" and "What is 17 × 24?" are different questions with
//! different answers. Measured on 30,108 real prompts
//! (`examples/align_calibration.rs`, docs/evaluation.md).

use std::collections::HashMap;

use crate::templates::mix;

/// Jaccard similarity of shingle sets, one set inside the other, at which
/// two prompts are one: the added words are at most as many as the prompt's.
pub const NEAR_IDENTICAL: f64 = 0.5;

/// MinHash values per prompt.
const HASHES: usize = 32;

/// LSH bands of [`ROWS`] values: a pair at Jaccard 0.5 shares a band with
/// probability 0.99, at 0.8 all but 8 times in 100 million; every candidate
/// is then checked exactly.
const BANDS: usize = 16;
const ROWS: usize = HASHES / BANDS;

/// Candidates checked per prompt looked up, most (and rarest) shared bands
/// first.
const MAX_CANDIDATES: usize = 32;

/// Prompts kept per LSH bucket. The set's prompts on one long template share
/// the buckets of the bands that the template decides; a bucket past this
/// size keeps its first members only, so a lookup reads at most
/// `BANDS × BUCKET_CAP` entries whatever the set. A prompt is still found
/// through the bands its own words decide (those buckets stay small), and
/// exactly through its text.
const BUCKET_CAP: usize = 64;

/// The prompt lowercased with runs of whitespace as one space and no space
/// at either end: the exact alignment's key.
pub fn normalize(prompt: &str) -> String {
    prompt.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" ")
}

/// Whether a character is a token on its own: scripts written without
/// spaces between words (Han, kana, Hangul syllables).
fn standalone(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30ff | 0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xac00..=0xd7af | 0xf900..=0xfaff | 0x20000..=0x2fa1f)
}

/// Hashes of the prompt's tokens: lowercased runs of letters and digits,
/// each standalone character apart. Punctuation inside a run ("don't",
/// "1,200", "self-attention", "e.g.") is left out and the run goes on, so
/// dropping it changes no token.
fn tokens(prompt: &str) -> Vec<u64> {
    let hash = |w: &str| {
        mix(w.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)))
    };
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = prompt.chars().peekable();
    while let Some(c) = chars.next() {
        if standalone(c) {
            if !word.is_empty() {
                out.push(hash(&word));
                word.clear();
            }
            out.push(hash(c.encode_utf8(&mut [0; 4])));
        } else if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else if !word.is_empty()
            && !c.is_whitespace()
            && chars.peek().is_some_and(|n| n.is_alphanumeric() && !standalone(*n))
        {
            // Punctuation between two letters or digits: the run goes on.
        } else if !word.is_empty() {
            out.push(hash(&word));
            word.clear();
        }
    }
    if !word.is_empty() {
        out.push(hash(&word));
    }
    out
}

/// The prompt's three-token shingles, sorted and deduplicated (a prompt of
/// one or two tokens is one shingle; none, no shingle).
fn shingles(prompt: &str) -> Vec<u64> {
    let tokens = tokens(prompt);
    let width = tokens.len().min(3);
    if width == 0 {
        return Vec::new();
    }
    let mut out: Vec<u64> =
        tokens.windows(width).map(|w| w.iter().fold(0x7072_6f6d_7074u64, |h, t| mix(h ^ t))).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The Jaccard similarity of two sorted, deduplicated sets, and whether
/// one holds the other.
fn compare(a: &[u64], b: &[u64]) -> (f64, bool) {
    let both = super::lexical::shared_count(a, b);
    let union = a.len() + b.len() - both;
    let jaccard = if union == 0 { 0.0 } else { both as f64 / union as f64 };
    (jaccard, both == a.len().min(b.len()))
}

/// Fixed seeds: the same prompts align the same way on every machine.
const SEEDS: [u64; HASHES] = crate::templates::seeds(0x616c_6967_6e6d_656e); // "alignmen"

/// The band keys of a shingle set's MinHash signature.
fn bands(shingles: &[u64]) -> [u64; BANDS] {
    let mut mins = [u64::MAX; HASHES];
    for &s in shingles {
        for (min, seed) in mins.iter_mut().zip(SEEDS) {
            *min = (*min).min(mix(s ^ seed));
        }
    }
    let mut keys = [0u64; BANDS];
    for (band, key) in keys.iter_mut().enumerate() {
        *key = mins[band * ROWS..(band + 1) * ROWS].iter().fold(band as u64, |h, v| mix(h ^ v));
    }
    keys
}

/// How a served prompt aligned with a set's prompt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alignment {
    /// The index of the set's prompt, as given to [`PromptAligner::new`].
    pub index: usize,
    /// The Jaccard similarity of their shingles: at least
    /// [`NEAR_IDENTICAL`], 1 when they are equal (and also when only
    /// punctuation tells them apart).
    pub similarity: f64,
    /// Whether the prompts are equal, case and whitespace aside.
    pub exact: bool,
}

/// A set's prompts, indexed for [`PromptAligner::align`].
#[derive(Debug, Default)]
pub struct PromptAligner {
    exact: HashMap<String, usize>,
    first: Vec<usize>,
    shingles: Vec<Vec<u64>>,
    buckets: HashMap<u64, Vec<u32>>,
}

impl PromptAligner {
    /// Indexes `prompts`; a prompt that repeats an earlier one (case and
    /// whitespace aside) is never an answer: the first one stands for both.
    pub fn new<'a>(prompts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut aligner = Self::default();
        for (index, prompt) in prompts.into_iter().enumerate() {
            let key = normalize(prompt);
            let first = !aligner.exact.contains_key(&key);
            aligner.first.push(*aligner.exact.get(&key).unwrap_or(&index));
            let shingles = if first { shingles(prompt) } else { Vec::new() };
            if first {
                aligner.exact.insert(key, index);
                if !shingles.is_empty() {
                    for band in bands(&shingles) {
                        let bucket = aligner.buckets.entry(band).or_default();
                        if bucket.len() < BUCKET_CAP {
                            bucket.push(index as u32);
                        }
                    }
                }
            }
            aligner.shingles.push(shingles);
        }
        aligner
    }

    /// The first prompt equal to prompt `index` (case and whitespace
    /// aside): the one [`Self::align`] answers for both. Itself when it is
    /// the first.
    pub fn first_of(&self, index: usize) -> usize {
        self.first[index]
    }

    /// Prompts indexed.
    pub fn len(&self) -> usize {
        self.shingles.len()
    }

    /// Whether no prompt is indexed.
    pub fn is_empty(&self) -> bool {
        self.shingles.is_empty()
    }

    /// The set's prompt that `prompt` asks: the exact one if any, else the
    /// most similar near-identical one (the lower index on a tie).
    pub fn align(&self, prompt: &str) -> Option<Alignment> {
        if let Some(&index) = self.exact.get(&normalize(prompt)) {
            return Some(Alignment { index, similarity: 1.0, exact: true });
        }
        if self.buckets.is_empty() {
            return None;
        }
        let mine = shingles(prompt);
        if mine.is_empty() {
            return None;
        }
        // Each shared band counts for the rarer the bucket: a band a whole
        // template decides says little, one the prompt's own words decide
        // says much (and a capped bucket must not outvote it).
        let mut hits: HashMap<u32, f64> = HashMap::new();
        for band in bands(&mine) {
            let members = self.buckets.get(&band).map_or(&[][..], Vec::as_slice);
            for &index in members {
                *hits.entry(index).or_default() += 1.0 / members.len() as f64;
            }
        }
        let mut candidates: Vec<(f64, u32)> = hits.into_iter().map(|(i, n)| (n, i)).collect();
        candidates.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        candidates
            .into_iter()
            .take(MAX_CANDIDATES)
            .filter_map(|(_, index)| {
                let (similarity, nested) = compare(&mine, &self.shingles[index as usize]);
                (nested && similarity >= NEAR_IDENTICAL).then_some(Alignment {
                    index: index as usize,
                    similarity,
                    exact: false,
                })
            })
            .max_by(|a, b| a.similarity.total_cmp(&b.similarity).then(b.index.cmp(&a.index)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: &str = "Explain how a transformer language model uses self-attention to weigh the words of a \
        sentence, why positional information has to be added to the token embeddings, and what the \
        feed-forward layers between attention blocks contribute to what the model learns from its data.";

    #[test]
    fn equal_prompts_align_exactly_case_and_whitespace_aside() {
        let aligner = PromptAligner::new([LONG, "What is 17 × 23?"]);
        let shouted = format!("  {}\n", LONG.to_uppercase().replace(' ', "  "));
        assert_eq!(aligner.align(&shouted), Some(Alignment { index: 0, similarity: 1.0, exact: true }));
        assert!(aligner.align("what is 17 × 23?").unwrap().exact);
    }

    #[test]
    fn a_wrapped_or_retouched_prompt_aligns_near_identically() {
        let aligner = PromptAligner::new(["Write a haiku about the sea.", LONG]);
        for served in [
            format!("Task: {LONG}\n\nRespond in full detail."),
            LONG.replace(['-', ',', '.'], ""),
            format!("hi! {LONG}"),
        ] {
            let found = aligner.align(&served).unwrap_or_else(|| panic!("{served}"));
            assert_eq!(found.index, 1);
            assert!(!found.exact && found.similarity >= NEAR_IDENTICAL, "{found:?}");
        }
    }

    #[test]
    fn different_questions_do_not_align() {
        let aligner = PromptAligner::new(["What is 17 × 23?", LONG, "Write a haiku about the sea."]);
        for served in [
            "What is 17 × 24?",
            "Write a haiku about the moon.",
            // One subject, another question.
            "Explain how a transformer language model is trained on its data, and why it needs so much of it.",
            // The same long question with one word changed: no longer the one the set asked.
            &LONG.replace("weigh", "order"),
            // A short question quoted in a long, different one.
            "Write a haiku about the sea. Then write a sonnet about the mountains, a limerick about a cat and \
             an ode to the autumn, and explain which of the four forms you found hardest and why.",
            "",
        ] {
            assert_eq!(aligner.align(served), None, "{served}");
        }
    }

    #[test]
    fn scripts_without_spaces_align_by_character() {
        let zh = "请解释光合作用的过程，包括光反应和暗反应分别在叶绿体的哪个部位进行，以及它们各自需要什么条件和产生什么物质。";
        let aligner = PromptAligner::new([zh]);
        let retouched = format!("{}？", zh.trim_end_matches('。'));
        assert_eq!(aligner.align(&retouched).map(|a| a.index), Some(0));
        assert_eq!(aligner.align("请解释呼吸作用的过程。"), None);
    }

    #[test]
    fn prompts_on_one_long_template_are_each_found_and_buckets_stay_small() {
        let frame = "You are given a question from a school exam. Read it carefully, think about every option, \
            and answer with the letter of the correct option followed by a one-sentence justification.";
        let prompts: Vec<String> = (0..2_000)
            .map(|i| {
                format!("{frame} Question {i}: which planet is number {} from the sun, counting outwards?", i * 7 + 3)
            })
            .collect();
        let aligner = PromptAligner::new(prompts.iter().map(String::as_str));
        assert!(aligner.buckets.values().all(|b| b.len() <= BUCKET_CAP));
        let found = prompts
            .iter()
            .enumerate()
            .filter(|(i, p)| aligner.align(&format!("Hi! {p}")).map(|a| a.index) == Some(*i))
            .count();
        assert!(found >= 1_990, "{found} of 2,000 found");
    }

    #[test]
    fn a_repeated_prompt_is_answered_by_its_first_occurrence() {
        let aligner = PromptAligner::new([LONG, "other", &LONG.to_lowercase()]);
        assert_eq!(aligner.len(), 3);
        assert_eq!((0..3).map(|i| aligner.first_of(i)).collect::<Vec<_>>(), [0, 1, 0]);
        assert_eq!(aligner.align(LONG).map(|a| a.index), Some(0));
        assert_eq!(aligner.align(&format!("{LONG} Thanks.")).map(|a| a.index), Some(0));
    }
}
