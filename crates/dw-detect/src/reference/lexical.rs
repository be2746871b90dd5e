//! Text measures that need no model: word n-gram sets and their overlap
//! (verbatim and near-verbatim reuse), and a length and format profile.
//!
//! Words are lowercased runs of letters and digits; each Han, kana or
//! Hangul character is a word of its own, so Chinese, Japanese and Korean
//! text has n-grams too.

use crate::templates::mix;

/// A text's word n-grams, hashed, sorted and deduplicated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ngrams {
    hashes: Vec<u64>,
}

impl Ngrams {
    /// The `n`-word shingles of `text`; a text of fewer than `n` words (but
    /// at least one) is one shingle of all its words.
    pub fn of(text: &str, n: usize) -> Self {
        let words = word_hashes(text);
        let n = n.max(1);
        let width = words.len().min(n);
        let count = if words.is_empty() { 0 } else { words.len() - width + 1 };
        let mut hashes: Vec<u64> = (0..count)
            .map(|i| words[i..i + width].iter().fold(width as u64, |h, w| mix(h.rotate_left(17) ^ w)))
            .collect();
        hashes.sort_unstable();
        hashes.dedup();
        Self { hashes }
    }

    /// Distinct n-grams.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether the text had no word at all.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The hashes, sorted: keys of an inverted index.
    pub fn hashes(&self) -> &[u64] {
        &self.hashes
    }

    /// These n-grams less those `other` holds.
    pub fn without(&self, other: &Self) -> Self {
        Self { hashes: self.hashes.iter().copied().filter(|h| other.hashes.binary_search(h).is_err()).collect() }
    }

    /// N-grams both sets hold.
    pub fn shared(&self, other: &Self) -> usize {
        shared_count(&self.hashes, &other.hashes)
    }

    /// The share of this text's n-grams found in `other`: how much of it was
    /// taken from there (1.0 for a verbatim excerpt of `other`, whatever
    /// `other` adds). `None` for a text without words.
    pub fn containment_in(&self, other: &Self) -> Option<f64> {
        (!self.is_empty()).then(|| self.shared(other) as f64 / self.len() as f64)
    }

    /// Shared n-grams over all distinct n-grams of the two (Jaccard): 1.0
    /// for the same wording, 0.0 for none in common or a text without words.
    pub fn jaccard(&self, other: &Self) -> f64 {
        let shared = self.shared(other);
        let union = self.len() + other.len() - shared;
        if union == 0 || self.is_empty() || other.is_empty() { 0.0 } else { shared as f64 / union as f64 }
    }

    /// Shared n-grams over the smaller set's: an answer that rambles on past
    /// the other's end is not made less similar by its extra length. 0.0 when
    /// either text has no words.
    pub fn overlap(&self, other: &Self) -> f64 {
        let smaller = self.len().min(other.len());
        if smaller == 0 { 0.0 } else { self.shared(other) as f64 / smaller as f64 }
    }
}

/// The opening of `ours` as long as an answer of `words` words, with a
/// quarter more for slack: what the other answer is compared with. A model
/// that goes on after its answer (a base model continuing its prompt's
/// pattern, a long reply to a one-line question) is compared on what it said
/// first, where a student agrees with its teacher most, and the extra length
/// does not dilute the comparison.
pub fn aligned_opening(ours: &str, words: usize) -> &str {
    let keep = words + words.div_ceil(4);
    let mut seen = 0;
    let mut in_word = false;
    for (i, c) in ours.char_indices() {
        let word_char = c.is_alphanumeric();
        if is_unspaced_script(c) || (word_char && !in_word) {
            if seen == keep {
                return &ours[..i];
            }
            seen += 1;
        }
        in_word = word_char && !is_unspaced_script(c);
    }
    ours
}

/// Words in `text`, counted as [`Ngrams`] counts them.
pub fn word_count(text: &str) -> usize {
    word_hashes(text).len()
}

/// Whether `c` is written without spaces between words (Han, kana, Hangul),
/// so each character counts as a word.
pub(super) fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF        // Hiragana, Katakana
        | 0x3400..=0x4DBF      // CJK Extension A
        | 0x4E00..=0x9FFF      // CJK Unified Ideographs
        | 0xAC00..=0xD7AF      // Hangul syllables
        | 0xF900..=0xFAFF      // CJK Compatibility Ideographs
        | 0x20000..=0x2FA1F) // CJK Extensions B to F and supplement
}

/// FNV-1a of each word's lowercased characters, finalized.
fn word_hashes(text: &str) -> Vec<u64> {
    let mut words = Vec::new();
    let mut h: Option<u64> = None;
    let feed = |h: u64, c: char| {
        let mut buf = [0u8; 4];
        c.encode_utf8(&mut buf).bytes().fold(h, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    };
    const START: u64 = 0xcbf2_9ce4_8422_2325;
    for c in text.chars() {
        if is_unspaced_script(c) {
            if let Some(done) = h.take() {
                words.push(mix(done));
            }
            words.push(mix(feed(START, c)));
        } else if c.is_alphanumeric() {
            let mut state = h.unwrap_or(START);
            for lower in c.to_lowercase() {
                state = feed(state, lower);
            }
            h = Some(state);
        } else if let Some(done) = h.take() {
            words.push(mix(done));
        }
    }
    if let Some(done) = h {
        words.push(mix(done));
    }
    words
}

/// How an answer is laid out, each feature scaled to [0, 1]: a student
/// trained on a teacher's answers copies their length and habits of form
/// (lists, headings, code fences, bold lead-ins, sentence length) along with
/// their content.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FormatProfile {
    features: [f64; 8],
}

impl FormatProfile {
    /// The profile of one text.
    pub fn of(text: &str) -> Self {
        let trimmed = text.trim();
        let lines: Vec<&str> = trimmed.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let line_count = lines.len().max(1) as f64;
        let share = |test: fn(&str) -> bool| lines.iter().filter(|l| test(l)).count() as f64 / line_count;
        let words = trimmed.split_whitespace().count() as f64;
        let sentences = trimmed.matches(['.', '!', '?', '。', '！', '？']).count().max(1) as f64;
        let chars = trimmed.chars().count() as f64;
        let present = |yes: bool| if yes { 1.0 } else { 0.0 };
        Self {
            features: [
                // Length on a log scale: 20,000 characters and more is 1.
                ((1.0 + chars).ln() / (1.0 + 20_000f64).ln()).min(1.0),
                // Lines: 1 is 0.09, 10 is 0.5, 100 is 0.91.
                line_count / (line_count + 10.0),
                share(|l| l.starts_with(['-', '*', '•']) && l.chars().nth(1).is_some_and(char::is_whitespace)),
                share(is_numbered),
                share(|l| l.starts_with('#')),
                present(trimmed.contains("```")),
                present(trimmed.contains("**")),
                // Words per sentence: 20 is 0.5.
                (words / sentences) / (words / sentences + 20.0),
            ],
        }
    }

    /// One minus the mean absolute difference of the features: 1.0 for two
    /// answers laid out alike, near 0 for a one-liner against a long
    /// structured document.
    pub fn similarity(&self, other: &Self) -> f64 {
        let total: f64 = self.features.iter().zip(other.features).map(|(a, b)| (a - b).abs()).sum();
        1.0 - total / self.features.len() as f64
    }
}

/// "1. ", "12) " and the like.
pub(super) fn is_numbered(line: &str) -> bool {
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && digits <= 3 && line[digits..].starts_with(['.', ')']) && line[digits + 1..].starts_with(' ')
}

/// Values two sorted, deduplicated sets both hold.
pub(crate) fn shared_count(a: &[u64], b: &[u64]) -> usize {
    let (mut i, mut j, mut shared) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    shared
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_reads_a_verbatim_excerpt_as_whole() {
        let ours = Ngrams::of(
            "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen. It happens in the chloroplasts.",
            3,
        );
        let excerpt = Ngrams::of("photosynthesis turns LIGHT water and carbon dioxide into sugar", 3);
        assert_eq!(excerpt.containment_in(&ours), Some(1.0), "case and punctuation do not matter");
        let unrelated = Ngrams::of("The capital of France is Paris, a city on the Seine.", 3);
        assert_eq!(unrelated.containment_in(&ours), Some(0.0));
        assert!(ours.containment_in(&excerpt).unwrap() < 0.7, "containment is not symmetric");
        assert_eq!(Ngrams::of("  ...  ", 3).containment_in(&ours), None, "no words, no measure");
    }

    #[test]
    fn overlap_ignores_the_longer_text_s_extra_length() {
        let short = Ngrams::of("If you have any questions about my rate, please let me know.", 3);
        let rambling = Ngrams::of(
            "If you have any questions about my rate, please let me know. Input: the next task is to write a poem \
             about the sea and the sky and everything in between, in twelve lines.",
            3,
        );
        assert_eq!(short.overlap(&rambling), 1.0);
        assert_eq!(short.overlap(&Ngrams::default()), 0.0);
    }

    #[test]
    fn jaccard_counts_every_distinct_ngram_once() {
        let a = Ngrams::of("the cat sat on the mat", 3);
        let b = Ngrams::of("the cat sat on a mat", 3);
        // a: the cat sat, cat sat on, sat on the, on the mat; b shares the first two of its four.
        assert!((a.jaccard(&b) - 2.0 / 6.0).abs() < 1e-12, "{}", a.jaccard(&b));
        assert_eq!(a.jaccard(&a), 1.0);
        assert_eq!(a.jaccard(&Ngrams::default()), 0.0);
    }

    #[test]
    fn the_aligned_opening_keeps_as_many_words_and_a_quarter() {
        let ours = "One two three four five six seven eight nine ten eleven twelve.";
        assert_eq!(aligned_opening(ours, 4), "One two three four five ");
        assert_eq!(aligned_opening(ours, 8), "One two three four five six seven eight nine ten ");
        assert_eq!(aligned_opening(ours, 40), ours, "a longer answer is compared with all of ours");
        assert_eq!(aligned_opening("光合作用把光能", 2), "光合作");
        assert_eq!(word_count("Don't stop: 3 more!"), 5);
    }

    #[test]
    fn unspaced_scripts_have_ngrams_of_characters() {
        let a = Ngrams::of("光合作用把光能转化为化学能", 3);
        let b = Ngrams::of("植物的光合作用把光能转化为化学能。", 3);
        assert_eq!(a.len(), 11);
        assert_eq!(a.containment_in(&b), Some(1.0));
        assert_eq!(Ngrams::of("東京", 3).len(), 1, "fewer words than n: one shingle");
    }

    #[test]
    fn the_format_profile_tells_a_structured_answer_from_a_one_liner() {
        let listed = "## Steps\n\n1. Preheat the oven.\n2. Mix the **dry** ingredients.\n3. Bake for 20 minutes.\n\n- Tip: use a timer.";
        let listed_too = "## How to\n\n1. Boil the water.\n2. Add the **pasta**.\n3. Drain after 9 minutes.\n\n- Tip: salt the water.";
        let one_liner = "Bake it at 180 degrees for about twenty minutes until golden.";
        let (a, b, c) = (FormatProfile::of(listed), FormatProfile::of(listed_too), FormatProfile::of(one_liner));
        assert!(a.similarity(&b) > 0.95, "{}", a.similarity(&b));
        assert!(a.similarity(&c) < 0.8, "{}", a.similarity(&c));
        assert_eq!(a.similarity(&a), 1.0);
    }
}
