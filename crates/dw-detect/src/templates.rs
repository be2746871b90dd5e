//! Templates: an account's prompts grouped into near-duplicate clusters by
//! MinHash over shingles of the masked prompt, with locality-sensitive
//! hashing so that the grouping is linear in the number of prompts.
//!
//! Numbers, quoted strings and code are masked before shingling, so "What is
//! 17 plus 4?" and "What is 230 plus 9?" are one template. Within a
//! template, the words every member shares at its start and end are the
//! template's frame and the rest is each member's slot fill: a generator
//! script fills one frame with ever new content (high fill diversity), a
//! support bot or a re-run fills it with the same few (low). An account's
//! dominant templates are matched across the window's accounts by their
//! frames and shown as evidence ([`shared_templates`]), never as links.

use std::collections::HashMap;

/// Hash functions per signature.
pub const HASHES: usize = 64;

/// LSH bands; each band is [`HASHES`] / [`BANDS`] hashes. Two rows a band
/// find pairs of similarity 0.25 with probability 0.87 and of 0.35 with
/// probability 0.98; every candidate is then checked on the whole signature.
pub const BANDS: usize = 32;

const ROWS: usize = HASHES / BANDS;

/// Estimated Jaccard similarity of masked three-word shingles at which two
/// prompts belong to one template. Unrelated prompts share almost no
/// three-word sequences (0.0 to 0.05); one template with a long slot fill
/// still shares its frame's.
pub const PROMPT_SIMILARITY: f64 = 0.25;

/// Candidates kept per LSH bucket: a prompt is checked against at most this
/// many earlier prompts of each of its buckets, which keeps the grouping
/// linear however large a template grows.
const BUCKET_REPRESENTATIVES: usize = 4;

/// A MinHash signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature(pub [u32; HASHES]);

impl Signature {
    /// The signature of a set of shingle hashes (an empty set gives the
    /// all-`u32::MAX` signature, similar only to itself).
    fn of(shingles: impl Iterator<Item = u64>) -> Self {
        let mut mins = [u32::MAX; HASHES];
        for shingle in shingles {
            for (i, min) in mins.iter_mut().enumerate() {
                let h = (mix(shingle ^ SEEDS[i]) >> 32) as u32;
                if h < *min {
                    *min = h;
                }
            }
        }
        Self(mins)
    }

    /// The signature of a text's masked three-word shingles.
    pub fn of_text(text: &str) -> Self {
        Self::of_masked(&mask(text))
    }

    /// The signature of a text already masked ([`mask`]).
    pub fn of_masked(masked: &str) -> Self {
        let words: Vec<&str> = masked.split_whitespace().collect();
        Self::of(shingles(&words))
    }

    /// Estimated Jaccard similarity: the share of agreeing hashes.
    pub fn similarity(&self, other: &Self) -> f64 {
        self.0.iter().zip(&other.0).filter(|(a, b)| a == b).count() as f64 / HASHES as f64
    }

    fn band(&self, band: usize) -> u64 {
        let rows = &self.0[band * ROWS..(band + 1) * ROWS];
        rows.iter().fold(band as u64, |h, v| mix(h ^ u64::from(*v)))
    }
}

/// Fixed, documented seeds: the same prompts give the same templates on
/// every machine and in every release.
const SEEDS: [u64; HASHES] = seeds(0x6469_7374_696c_6c77); // "distillw"

/// `N` hash seeds from a splitmix64 stream started at `state`: fixed, so
/// every MinHash built from them is the same on every machine and release.
pub(crate) const fn seeds<const N: usize>(mut state: u64) -> [u64; N] {
    let mut seeds = [0u64; N];
    let mut i = 0;
    while i < N {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        seeds[i] = mix(state);
        i += 1;
    }
    seeds
}

/// The splitmix64 finalizer: a fast, well-mixed 64-bit permutation (also
/// the deterministic random stream of the detector's resampling).
pub const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a over a word's bytes, chained from `seed`.
fn word_hash(seed: u64, word: &str) -> u64 {
    let mut h = seed ^ 0xcbf2_9ce4_8422_2325;
    for b in word.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// Hashes of the three-word shingles (a prompt of one or two words is one shingle).
fn shingles<'a>(words: &'a [&'a str]) -> impl Iterator<Item = u64> + 'a {
    let width = words.len().min(3);
    let count = if words.is_empty() { 0 } else { words.len() - width + 1 };
    (0..count).map(move |i| words[i..i + width].iter().fold(0u64, |h, w| word_hash(h, w)))
}

/// The prompt lowercased, with each run of digits as `0`, each quoted string
/// as `<str>` and each fenced code block as `<code>`: what a generator's
/// slots fill is masked, what its template says is kept.
pub fn mask(prompt: &str) -> String {
    let mut out = String::with_capacity(prompt.len());
    let mut in_code = false;
    for (i, part) in prompt.split("```").enumerate() {
        if i > 0 {
            in_code = !in_code;
            if in_code {
                out.push_str(" <code> ");
            }
        }
        if in_code {
            continue;
        }
        let mut in_quote = false;
        for c in part.chars() {
            match c {
                '"' => {
                    in_quote = !in_quote;
                    if in_quote {
                        out.push_str(" <str> ");
                    }
                }
                _ if in_quote => {}
                c if c.is_ascii_digit() => {
                    if !out.ends_with('0') {
                        out.push('0');
                    }
                }
                c => out.extend(c.to_lowercase()),
            }
        }
    }
    out
}

/// One template of an account: two or more of its prompts that are near
/// duplicates of each other.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// Indices of its prompts, ascending.
    pub members: Vec<usize>,
    /// Words every member starts with (as the first member wrote them).
    pub prefix: String,
    /// Words every member ends with.
    pub suffix: String,
    /// Distinct slot fills (what lies between prefix and suffix, case aside).
    pub distinct_fills: usize,
    /// The frame's signature (prefix, a slot, suffix), which matches the same
    /// template in other accounts whatever their fills.
    pub frame_signature: Signature,
}

impl Template {
    /// Words of the frame (prefix and suffix).
    pub fn frame_words(&self) -> usize {
        self.prefix.split_whitespace().count() + self.suffix.split_whitespace().count()
    }

    /// The frame in words, with the slot shown as `{…}`.
    pub fn frame_text(&self) -> String {
        match (self.prefix.is_empty(), self.suffix.is_empty()) {
            (true, true) => "{…}".into(),
            (false, true) => format!("{} {{…}}", self.prefix),
            (true, false) => format!("{{…}} {}", self.suffix),
            (false, false) => format!("{} {{…}} {}", self.prefix, self.suffix),
        }
    }
}

/// An account's templates and, per prompt, the byte range of its slot fill.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Templates {
    /// Templates of two prompts or more, largest first (ties by first member).
    pub templates: Vec<Template>,
    /// Per prompt: the byte range of its slot fill when it belongs to a
    /// template with a frame of at least [`MIN_FRAME_WORDS`] words.
    pub fills: Vec<Option<(usize, usize)>>,
}

/// Frames shorter than this are not frames: two prompts that open with "Can
/// you" do not share a template's wording.
pub const MIN_FRAME_WORDS: usize = 3;

/// Groups `prompts` into templates (see the module documentation). Linear in
/// the prompts' total length: each prompt's signature costs one pass over its
/// shingles, and each is checked against a bounded number of candidates.
pub fn account_templates(prompts: &[&str]) -> Templates {
    let signatures: Vec<Signature> = prompts.iter().map(|p| Signature::of_text(p)).collect();
    templates_of(prompts, &signatures)
}

/// [`account_templates`] from the prompts' signatures, computed once (a
/// part of an account reuses its account's).
pub fn templates_of(prompts: &[&str], signatures: &[Signature]) -> Templates {
    let groups = group(signatures, PROMPT_SIMILARITY);
    let mut templates: Vec<Template> =
        groups.into_iter().filter(|members| members.len() >= 2).map(|members| template_of(prompts, members)).collect();
    templates.sort_by(|a, b| b.members.len().cmp(&a.members.len()).then(a.members[0].cmp(&b.members[0])));
    let mut fills = vec![None; prompts.len()];
    for template in &templates {
        if template.frame_words() < MIN_FRAME_WORDS {
            continue;
        }
        let (p, s) = (template.prefix.split_whitespace().count(), template.suffix.split_whitespace().count());
        for m in &template.members {
            let spans = word_spans(prompts[*m]);
            if spans.len() > p + s {
                fills[*m] = Some((spans[p].0, spans[spans.len() - s - 1].1));
            } else {
                fills[*m] = Some((0, 0));
            }
        }
    }
    Templates { templates, fills }
}

/// Indices grouped by signature similarity (connected components of the
/// pairs found by LSH and confirmed on the whole signature), each group
/// ascending, groups in order of their first member.
pub fn group(signatures: &[Signature], similarity: f64) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..signatures.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for band in 0..BANDS {
        let mut buckets: HashMap<u64, Vec<usize>> = HashMap::new();
        for (i, signature) in signatures.iter().enumerate() {
            let bucket = buckets.entry(signature.band(band)).or_default();
            for &j in bucket.iter() {
                if signature.similarity(&signatures[j]) >= similarity {
                    let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                    parent[a.max(b)] = a.min(b);
                    break;
                }
            }
            if bucket.len() < BUCKET_REPRESENTATIVES {
                bucket.push(i);
            }
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for i in 0..signatures.len() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    groups.into_values().collect()
}

/// Byte ranges of the whitespace-separated words of `text`.
fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}

fn template_of(prompts: &[&str], members: Vec<usize>) -> Template {
    let words: Vec<Vec<String>> =
        members.iter().map(|m| prompts[*m].split_whitespace().map(str::to_lowercase).collect()).collect();
    let first = &words[0];
    let prefix = words.iter().map(|w| w.iter().zip(first).take_while(|(a, b)| a == b).count()).min().unwrap_or(0);
    let suffix = words
        .iter()
        .map(|w| {
            let room = w.len().min(first.len()) - prefix;
            w.iter().rev().zip(first.iter().rev()).take(room).take_while(|(a, b)| a == b).count()
        })
        .min()
        .unwrap_or(0);
    let fills: std::collections::BTreeSet<&[String]> = words.iter().map(|w| &w[prefix..w.len() - suffix]).collect();
    let prefix_text = first[..prefix].join(" ");
    let suffix_text = first[first.len() - suffix..].join(" ");
    // The frame's own shingles, prefix and suffix apart, digits masked (a
    // quote the slot opens may close in the suffix: no quote masking here).
    let digits = |w: &String| -> String {
        let mut out = String::with_capacity(w.len());
        for c in w.chars() {
            if !c.is_ascii_digit() {
                out.push(c);
            } else if !out.ends_with('0') {
                out.push('0');
            }
        }
        out
    };
    let prefix_words: Vec<String> = first[..prefix].iter().map(digits).collect();
    let suffix_words: Vec<String> = first[first.len() - suffix..].iter().map(digits).collect();
    let (prefix_refs, suffix_refs): (Vec<&str>, Vec<&str>) =
        (prefix_words.iter().map(String::as_str).collect(), suffix_words.iter().map(String::as_str).collect());
    let frame_signature = Signature::of(shingles(&prefix_refs).chain(shingles(&suffix_refs).map(|h| mix(h ^ 1))));
    Template { distinct_fills: fills.len(), members, prefix: prefix_text, suffix: suffix_text, frame_signature }
}

/// A template that carries a large share of an account's prompts.
#[derive(Debug, Clone, PartialEq)]
pub struct DominantTemplate {
    /// The frame in words (`prefix {…} suffix`).
    pub frame: String,
    /// The frame's signature.
    pub signature: Signature,
    /// The account's prompts in the template.
    pub prompts: usize,
}

/// A template is dominant when it carries at least this share of the
/// account's prompts...
pub const DOMINANT_SHARE: f64 = 0.25;

/// ... and at least this many of them.
pub const DOMINANT_MIN_PROMPTS: usize = 5;

/// ... and its frame has at least this many words: "Translate into German:"
/// is everyone's wording, a paragraph of instructions is someone's own.
pub const DOMINANT_MIN_FRAME_WORDS: usize = 8;

/// Estimated Jaccard similarity at which two accounts' frames are one template.
pub const FRAME_SIMILARITY: f64 = 0.6;

/// Other accounts named per shared template in the evidence.
pub const SHARED_EXAMPLES: usize = 5;

/// The dominant templates of an account of `requests` requests.
pub fn dominant_templates(templates: &Templates, requests: usize) -> Vec<DominantTemplate> {
    templates
        .templates
        .iter()
        .filter(|t| {
            t.members.len() >= DOMINANT_MIN_PROMPTS
                && t.members.len() as f64 >= DOMINANT_SHARE * requests as f64
                && t.frame_words() >= DOMINANT_MIN_FRAME_WORDS
        })
        .map(|t| DominantTemplate {
            frame: t.frame_text(),
            signature: t.frame_signature.clone(),
            prompts: t.members.len(),
        })
        .collect()
}

/// One of an account's dominant templates that dominates other accounts too.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SharedTemplate {
    /// The account's frame.
    pub frame: String,
    /// How many other accounts of the window it dominates.
    pub other_accounts: usize,
    /// Up to [`SHARED_EXAMPLES`] of them, ascending.
    pub examples: Vec<String>,
}

/// For each account (its id and dominant templates), the templates it
/// shares with other accounts of the window: frames grouped by similarity
/// with LSH, as within an account, so the whole population costs one pass.
///
/// Shared templates are evidence for an analyst, never a link: a campaign's
/// generator gives its accounts one template, but so does one popular tool
/// to all its unrelated users, and an app's wording to every company that
/// copied it.
pub fn shared_templates(accounts: &[(&str, &[DominantTemplate])]) -> Vec<Vec<SharedTemplate>> {
    let keys: Vec<(usize, &DominantTemplate)> =
        accounts.iter().enumerate().flat_map(|(i, (_, t))| t.iter().map(move |t| (i, t))).collect();
    let signatures: Vec<Signature> = keys.iter().map(|(_, t)| t.signature.clone()).collect();
    let mut out = vec![Vec::new(); accounts.len()];
    for group in group(&signatures, FRAME_SIMILARITY) {
        let mut members: Vec<usize> = group.iter().map(|k| keys[*k].0).collect();
        members.sort_unstable();
        members.dedup();
        if members.len() < 2 {
            continue;
        }
        let mut ids: Vec<&str> = members.iter().map(|m| accounts[*m].0).collect();
        ids.sort_unstable();
        for k in &group {
            let (account, template) = keys[*k];
            if out[account].iter().any(|s: &SharedTemplate| s.frame == template.frame) {
                continue;
            }
            let me = accounts[account].0;
            out[account].push(SharedTemplate {
                frame: template.frame.clone(),
                other_accounts: members.len() - 1,
                examples: ids.iter().filter(|id| **id != me).take(SHARED_EXAMPLES).map(|id| (*id).to_owned()).collect(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_the_wording_and_hides_the_slots() {
        assert_eq!(
            mask("Add 17 and 230, then \"Quote Me\" ```let x = 1;``` Done"),
            "add 0 and 0, then  <str>   <code>  done"
        );
    }

    #[test]
    fn similarity_estimates_jaccard() {
        let a = Signature::of_text("the quick brown fox jumps over the lazy dog today");
        assert_eq!(a.similarity(&a), 1.0);
        let b = Signature::of_text("the quick brown fox jumps over the lazy cat today");
        // 8 three-word shingles each, 6 shared: Jaccard 0.6.
        assert!((a.similarity(&b) - 0.6).abs() < 0.2, "{}", a.similarity(&b));
        let c = Signature::of_text("an entirely different request about gardening in spring");
        assert!(a.similarity(&c) < 0.1);
    }

    #[test]
    fn a_generator_script_forms_one_template_with_diverse_fills_and_people_form_none() {
        let topics = ["volcanoes", "the roman empire", "photosynthesis in desert plants", "sourdough bread", "tides"];
        let mut prompts: Vec<String> = (0..40)
            .map(|i| {
                format!(
                    "Create a detailed study guide with key concepts, explanations and practice questions for: {} (part {i})",
                    topics[i % topics.len()]
                )
            })
            .collect();
        prompts.push("hey, my cat keeps scratching the sofa, any ideas?".into());
        prompts.push("what should I cook tonight with leeks and potatoes".into());
        let refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
        let t = account_templates(&refs);
        assert_eq!(t.templates.len(), 1, "{:?}", t.templates.iter().map(Template::frame_text).collect::<Vec<_>>());
        let template = &t.templates[0];
        assert_eq!(template.members, (0..40).collect::<Vec<_>>());
        assert_eq!(
            template.prefix,
            "create a detailed study guide with key concepts, explanations and practice questions for:"
        );
        assert_eq!(template.suffix, "");
        assert_eq!(template.distinct_fills, 40);
        let (start, end) = t.fills[3].unwrap();
        assert_eq!(&refs[3][start..end], "sourdough bread (part 3)");
        assert_eq!(t.fills[40], None);
    }

    #[test]
    fn the_same_template_in_two_accounts_has_the_same_frame_signature() {
        let a: Vec<String> =
            (0..5).map(|i| format!("Translate into German: \"text {i}\" and keep the tone of it")).collect();
        let b: Vec<String> =
            ["hello", "good morning", "the weather is fine", "see you", "a longer sentence with words"]
                .iter()
                .map(|s| format!("Translate into German: {s} and keep the tone of it"))
                .collect();
        let ta = account_templates(&a.iter().map(String::as_str).collect::<Vec<_>>());
        let tb = account_templates(&b.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(ta.templates[0].distinct_fills, 5);
        // Account a's fills all open with "text: its prefix is one word longer, its frame the same.
        assert_eq!(ta.templates[0].frame_text(), "translate into german: \"text {…} and keep the tone of it");
        assert_eq!(tb.templates[0].frame_text(), "translate into german: {…} and keep the tone of it");
        let similarity = ta.templates[0].frame_signature.similarity(&tb.templates[0].frame_signature);
        assert!(similarity >= FRAME_SIMILARITY, "{similarity}");
        let other: Vec<String> =
            (0..5).map(|i| format!("Summarize this review in one line: {i} stars, would buy again")).collect();
        let to = account_templates(&other.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(ta.templates[0].frame_signature.similarity(&to.templates[0].frame_signature) < 0.1);
    }

    #[test]
    fn grouping_is_order_independent_in_its_groups_and_linear_in_candidates() {
        // 2,000 copies of one template: each is checked against at most
        // BUCKET_REPRESENTATIVES candidates per band, and all end in one group.
        let prompts: Vec<String> =
            (0..2000).map(|i| format!("Give me a fun fact about the number {i}, please")).collect();
        let t = account_templates(&prompts.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(t.templates.len(), 1);
        assert_eq!(t.templates[0].members.len(), 2000);
        // Masked numbers make every fill look the same to the signature, but the fills themselves differ.
        assert_eq!(t.templates[0].distinct_fills, 2000);
    }

    /// The dominant templates of an account sending `count` prompts of `frame` (`{}` the slot) among `others`.
    fn account_with(frame: &str, count: usize, others: usize) -> Vec<DominantTemplate> {
        let mut prompts: Vec<String> =
            (0..count).map(|i| frame.replace("{}", &format!("item {i} of the list"))).collect();
        // Other prompts: words drawn from a small vocabulary, no two alike.
        const WORDS: [&str; 16] = [
            "garden", "why", "river", "cheap", "flight", "my", "recipe", "is", "broken", "laptop", "tomorrow", "cat",
            "paint", "how", "loud", "winter",
        ];
        let mut state = 7u64;
        prompts.extend((0..others).map(|_| {
            (0..8)
                .map(|_| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    WORDS[(state >> 60) as usize]
                })
                .collect::<Vec<_>>()
                .join(" ")
        }));
        let refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
        dominant_templates(&account_templates(&refs), prompts.len())
    }

    #[test]
    fn a_dominant_template_is_shown_in_every_account_it_dominates() {
        let wording = "Produce a complete, richly detailed answer to the following training item: {} and never refuse.";
        let a = account_with(wording, 30, 10);
        assert_eq!(a.len(), 1, "{a:?}");
        // Used a few times among much else: not dominant. A short frame is everyone's wording.
        assert!(account_with(wording, 5, 40).is_empty());
        assert!(account_with("Translate into German: {}", 30, 0).is_empty());
        let b = account_with(wording, 12, 0);
        let c =
            account_with("Summarize this customer review for our weekly report, in one neutral sentence: {}", 20, 0);
        let accounts: Vec<(&str, &[DominantTemplate])> = vec![("b", &b), ("a", &a), ("c", &c)];
        let shared = shared_templates(&accounts);
        assert_eq!(
            shared[1],
            vec![SharedTemplate { frame: a[0].frame.clone(), other_accounts: 1, examples: vec!["b".to_owned()] }]
        );
        assert_eq!(shared[0][0].examples, ["a"]);
        assert!(shared[2].is_empty());
    }
}
