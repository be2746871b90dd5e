//! The fingerprint test: do a suspect model's outputs carry what is
//! characteristic of ours, whatever prompts produced them?
//!
//! The paired tests ([`super::distillation`], [`super::panel`]) need prompts
//! that we, the suspect and the controls all answered. A provider often
//! holds the suspect's answers to the suspect's own or public prompts
//! instead. What survives distillation whatever the prompt is the teacher's
//! manner: the phrases it reaches for, how it opens and closes, how it lays
//! an answer out, how it refuses. This test learns that manner from our
//! served answers against a background of other models' answers, and asks
//! whether the suspect's answers carry more of it than unrelated models'
//! answers do.
//!
//! **What is learned.** Each answer is reduced to a set of features: its
//! word one-, two- and three-grams (phrases), its first one and three words
//! and its last three (openings and closings), and its layout (lists,
//! headings, bold, code blocks, tables, paragraphs, length, a closing
//! question). A feature is ours when our answers use it more often than the
//! background's do: the log odds ratio of the two rates with half a count
//! added to each cell, kept when it is positive, when at least `min_ours` of
//! our answers use it, and when its z (the log odds ratio over its standard
//! error) reaches `min_z`; at most `max_features`, the largest z first. An
//! answer's score is the sum of the log odds ratios of our features it
//! carries, divided by the mean score of our own answers that were not
//! learned from (half of ours, drawn by the seed): a model's **share** of
//! our fingerprint is the mean over its answers, about 1 for ours and lower
//! for a model without our habits. Nothing is keyed on a particular model's
//! strings: every feature is learned per case from the answers at hand.
//! Directions in sentence-embedding space are not among the features: on
//! the lineage panel an unrelated model leans toward ours in meaning more
//! than the students do (`docs/evaluation.md`, "Directions in embedding
//! space, measured and left out").
//!
//! **Leaving each control out.** Features chosen because the background
//! lacks them are rarer in the background's own answers than in any model's
//! that was not part of it (the choice fits the background's quirks). So a
//! control is never scored on features its own answers helped choose: for
//! each control, the features are learned against the background and the
//! other controls, and the control and the suspect are both scored on them,
//! two models neither of which was learned from. With one control and no
//! other background, half of the control's answers (drawn by the seed) are
//! the background and the other half are scored.
//!
//! **The tests.** Against each control, a one-sided permutation test over
//! answers (the suspect's and the control's answers pooled and relabelled at
//! random) asks whether the suspect's mean score is above the control's:
//! "more of ours than this model". Unrelated models differ in that by style
//! alone, so with three controls or more the question is the panel's (see
//! [`super::panel`]): each control's share, scored with it left out, is a
//! draw from how much of our fingerprint unrelated models carry; the
//! suspect's share (its mean over the same feature sets) is compared with
//! them by a one-sided Student-t prediction test with controls - 1 degrees
//! of freedom, and every control in turn against the others. With one or
//! two controls the decision is the largest of the per-control p-values
//! (the suspect must carry more than every control), and the report says
//! what that cannot rule out.
//!
//! **What it cannot tell.** Why the suspect shares our manner: a student of
//! ours does, and so may a model tuned on the same public data, a sibling of
//! ours, or a model tuned to the same house style. The controls decide which
//! of these is ruled out. Topics are not what it reads (the suspect answered
//! other prompts), but a suspect whose prompts ask for our habits (lists,
//! code) gains from them: controls answering prompts like the suspect's are
//! the fair comparison.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::Conclusion;
use super::lexical::{is_numbered, is_unspaced_script};
use super::panel::{MIN_CONTROLS, standing};
use crate::templates::mix;

/// How the fingerprint is learned and tested.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FingerprintConfig {
    /// The fewest answers of the suspect, and of each control, the test
    /// concludes on; ours need twice as many (half is held out).
    pub min_items: usize,
    /// The most features a fingerprint keeps.
    pub max_features: usize,
    /// A feature fewer of our learned answers use is no habit of ours.
    pub min_ours: usize,
    /// The least z (log odds ratio over its standard error) a feature needs.
    pub min_z: f64,
    /// Random relabellings of the per-control permutation test; 0 leaves it
    /// out (the panel test needs none).
    pub permutations: usize,
    /// Seeds the held-out halves and the relabellings.
    pub seed: u64,
    /// The level.
    pub alpha: f64,
    /// Features listed as evidence in a report.
    pub evidence: usize,
}

impl Default for FingerprintConfig {
    fn default() -> Self {
        Self {
            min_items: super::MIN_ALIGNED_ITEMS,
            max_features: 300,
            min_ours: 5,
            min_z: 3.0,
            permutations: 9_999,
            seed: 0x5eed,
            alpha: 0.05,
            evidence: 12,
        }
    }
}

/// What a feature is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// One to three words in a row, anywhere in the answer.
    Phrase,
    /// The answer's first word, or its first three.
    Opening,
    /// The answer's last three words.
    Closing,
    /// How the answer is laid out.
    Layout,
}

impl FeatureKind {
    fn tag(self) -> u64 {
        match self {
            FeatureKind::Phrase => 0x7068_7261,
            FeatureKind::Opening => 0x6f70_656e,
            FeatureKind::Closing => 0x636c_6f73,
            FeatureKind::Layout => 0x6c61_796f,
        }
    }
}

/// One answer, reduced to its features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    text: String,
    keys: Vec<u64>,
}

impl Answer {
    /// The features of `text`.
    pub fn of(text: &str) -> Self {
        let mut keys: Vec<u64> = features(text).into_iter().map(|(kind, name)| key(kind, &name)).collect();
        keys.sort_unstable();
        keys.dedup();
        Self { text: text.to_owned(), keys }
    }

    fn has(&self, key: u64) -> bool {
        self.keys.binary_search(&key).is_ok()
    }
}

fn key(kind: FeatureKind, name: &str) -> u64 {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    mix(h ^ kind.tag())
}

/// Lowercased words: runs of letters and digits (an apostrophe between
/// letters stays inside the word); each Han, kana or Hangul character is a
/// word of its own.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if is_unspaced_script(c) {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            out.push(c.to_string());
        } else if c.is_alphanumeric() {
            current.extend(c.to_lowercase());
        } else if matches!(c, '\'' | '’') && !current.is_empty() && chars.peek().is_some_and(|n| n.is_alphabetic()) {
            current.push('\'');
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Every feature of `text`, named as a report shows it.
fn features(text: &str) -> Vec<(FeatureKind, String)> {
    let words = words(text);
    let mut out = Vec::with_capacity(words.len() * 3 + 16);
    for n in 1..=3 {
        for gram in words.windows(n) {
            out.push((FeatureKind::Phrase, gram.join(" ")));
        }
    }
    if let Some(first) = words.first() {
        out.push((FeatureKind::Opening, first.clone()));
    }
    if words.len() >= 3 {
        out.push((FeatureKind::Opening, words[..3].join(" ")));
        out.push((FeatureKind::Closing, words[words.len() - 3..].join(" ")));
    }
    for habit in layout(text, words.len()) {
        out.push((FeatureKind::Layout, habit.to_owned()));
    }
    out
}

/// The layout habits of `text` (of `word_count` words).
fn layout(text: &str, word_count: usize) -> Vec<&'static str> {
    let trimmed = text.trim();
    let lines: Vec<&str> = trimmed.lines().map(str::trim).collect();
    let any = |test: &dyn Fn(&str) -> bool| lines.iter().any(|l| test(l));
    let mut habits = Vec::new();
    let bullet = |l: &str| l.starts_with(['-', '*', '•']) && l.chars().nth(1).is_some_and(char::is_whitespace);
    if any(&bullet) {
        habits.push("a bulleted list");
    }
    if any(&|l| is_numbered(l)) {
        habits.push("a numbered list");
    }
    if any(&|l| l.starts_with('#')) {
        habits.push("headings (lines starting with #)");
    }
    if any(&|l| l.starts_with('|') && l.ends_with('|') && l.len() > 2) {
        habits.push("a table");
    }
    if trimmed.contains("```") {
        habits.push("a code block");
    }
    if trimmed.contains("**") {
        habits.push("bold text");
    }
    if any(&|l| l.len() > 1 && l.ends_with(':')) {
        habits.push("a line ending in a colon");
    }
    if trimmed.ends_with('?') {
        habits.push("ends with a question");
    }
    if trimmed.ends_with('!') {
        habits.push("ends with an exclamation");
    }
    let paragraphs = trimmed.split("\n\n").filter(|p| !p.trim().is_empty()).count();
    habits.push(match paragraphs {
        0 | 1 => "one paragraph",
        2 => "two paragraphs",
        3 | 4 => "three or four paragraphs",
        _ => "five paragraphs or more",
    });
    habits.push(match word_count {
        0..50 => "under 50 words",
        50..100 => "50 to 99 words",
        100..200 => "100 to 199 words",
        200..400 => "200 to 399 words",
        _ => "400 words or more",
    });
    habits
}

/// One feature set learned against one background.
#[derive(Debug, Clone)]
struct Fingerprint {
    /// Feature -> its log odds ratio (ours over the background).
    weights: HashMap<u64, f64>,
    /// The mean raw score of our held-out answers.
    scale: f64,
}

impl Fingerprint {
    fn learn(ours: &[&Answer], held_out: &[&Answer], background: &[&Answer], config: &FingerprintConfig) -> Self {
        let mut in_ours: HashMap<u64, u32> = HashMap::new();
        for answer in ours {
            for key in &answer.keys {
                *in_ours.entry(*key).or_default() += 1;
            }
        }
        in_ours.retain(|_, n| *n as usize >= config.min_ours.max(1));
        let mut in_background: HashMap<u64, u32> = in_ours.keys().map(|k| (*k, 0)).collect();
        for answer in background {
            for key in &answer.keys {
                if let Some(n) = in_background.get_mut(key) {
                    *n += 1;
                }
            }
        }
        let (n_ours, n_background) = (ours.len() as f64, background.len() as f64);
        let mut chosen: Vec<(u64, f64, f64)> = in_ours
            .iter()
            .filter_map(|(key, a)| {
                let a = f64::from(*a);
                let b = f64::from(in_background[key]);
                let log_odds = ((a + 0.5) / (n_ours - a + 0.5)).ln() - ((b + 0.5) / (n_background - b + 0.5)).ln();
                let se =
                    (1.0 / (a + 0.5) + 1.0 / (n_ours - a + 0.5) + 1.0 / (b + 0.5) + 1.0 / (n_background - b + 0.5))
                        .sqrt();
                let z = log_odds / se;
                (log_odds > 0.0 && z >= config.min_z).then_some((*key, log_odds, z))
            })
            .collect();
        // The largest z first; the key breaks ties, so the same answers give the same features.
        chosen.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
        chosen.truncate(config.max_features);
        let weights: HashMap<u64, f64> = chosen.into_iter().map(|(k, w, _)| (k, w)).collect();
        let mut fingerprint = Self { weights, scale: 1.0 };
        let raw = mean(held_out.iter().map(|a| fingerprint.raw(a)));
        fingerprint.scale = raw;
        fingerprint
    }

    fn raw(&self, answer: &Answer) -> f64 {
        answer.keys.iter().filter_map(|k| self.weights.get(k)).sum()
    }

    /// `answer`'s share of the fingerprint (1 for our typical answer).
    fn share(&self, answer: &Answer) -> f64 {
        self.raw(answer) / self.scale
    }

    fn usable(&self) -> bool {
        !self.weights.is_empty() && self.scale > 0.0
    }
}

/// Our fingerprint learned once per control of a panel (each left out),
/// ready to test suspects against.
#[derive(Debug, Clone)]
pub struct FingerprintPanel {
    config: FingerprintConfig,
    controls: Vec<String>,
    ours: usize,
    held_out: Vec<Answer>,
    background: usize,
    /// Per control: the features learned with it left out, and its answers
    /// scored on them.
    per_control: Vec<(Fingerprint, Vec<Answer>)>,
    /// Why the panel cannot test, when it cannot.
    unusable: Option<String>,
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// Whether the seed puts item `i` of a split in its second half.
fn second_half(seed: u64, salt: u64, i: usize) -> bool {
    mix(seed ^ mix(salt.wrapping_add(i as u64))) & 1 == 1
}

impl FingerprintPanel {
    /// Learns our fingerprint from `ours` against `background` (answers of
    /// other models that are never tested) and the `controls` (name and
    /// answers), once per control with that control left out.
    pub fn learn(
        ours: &[Answer],
        controls: &[(&str, &[Answer])],
        background: &[Answer],
        config: &FingerprintConfig,
    ) -> Self {
        let names: Vec<String> = controls.iter().map(|(n, _)| (*n).to_owned()).collect();
        let mut panel = Self {
            config: *config,
            controls: names,
            ours: ours.len(),
            held_out: Vec::new(),
            background: background.len(),
            per_control: Vec::new(),
            unusable: None,
        };
        if controls.is_empty() {
            panel.unusable = Some("no control set: the test needs at least one".into());
            return panel;
        }
        if ours.len() < 2 * config.min_items {
            panel.unusable = Some(format!(
                "only {} of our answers: the fingerprint needs at least {} (half learned from, half held out)",
                ours.len(),
                2 * config.min_items
            ));
            return panel;
        }
        let mut learned_from = Vec::new();
        for (i, answer) in ours.iter().enumerate() {
            if second_half(config.seed, 0x0a5, i) {
                panel.held_out.push(answer.clone());
            } else {
                learned_from.push(answer);
            }
        }
        let held_out: Vec<&Answer> = panel.held_out.iter().collect();
        for (j, (name, answers)) in controls.iter().enumerate() {
            let mut against: Vec<&Answer> = background.iter().collect();
            for (l, (_, other)) in controls.iter().enumerate() {
                if l != j {
                    against.extend(other.iter());
                }
            }
            let scored: Vec<Answer> = if against.is_empty() {
                // One control and no other background: half of it is the background.
                let (mut learn, mut score) = (Vec::new(), Vec::new());
                for (i, answer) in answers.iter().enumerate() {
                    if second_half(config.seed, 0xc0, i) { score.push(answer.clone()) } else { learn.push(answer) }
                }
                against = learn;
                score
            } else {
                answers.to_vec()
            };
            if scored.len() < config.min_items {
                panel.unusable = Some(format!(
                    "control {name}: {} answer(s) to score; the test needs at least {}",
                    scored.len(),
                    config.min_items
                ));
                return panel;
            }
            let fingerprint = Fingerprint::learn(&learned_from, &held_out, &against, config);
            if !fingerprint.usable() {
                panel.unusable = Some(format!(
                    "with {name} left out, no feature of our answers is used more often than in the background's: \
                     there is no fingerprint to look for"
                ));
                return panel;
            }
            panel.per_control.push((fingerprint, scored));
        }
        panel
    }

    /// The same fingerprints, tested for the decision only: no per-control
    /// permutation test and no evidence (power and level over many
    /// resamples need neither).
    pub fn for_resampling(mut self) -> Self {
        self.config.permutations = 0;
        self.config.evidence = 0;
        self
    }

    /// The controls, in order.
    pub fn controls(&self) -> &[String] {
        &self.controls
    }

    /// Tests the suspect's answers against the panel.
    pub fn test(&self, suspect: &str, answers: &[Answer]) -> FingerprintTest {
        let config = &self.config;
        let k = self.controls.len();
        let method = self.method();
        let empty = |reason: String| FingerprintTest {
            ours_items: self.ours,
            ours_held_out: self.held_out.len(),
            background_items: self.background,
            suspect: FingerprintStanding::named(suspect, answers.len()),
            controls: Vec::new(),
            degrees_of_freedom: None,
            controls_rejected: 0,
            alpha: config.alpha,
            conclusion: Conclusion::Inconclusive { reason },
            evidence: Vec::new(),
            method: method.clone(),
        };
        if let Some(reason) = &self.unusable {
            return empty(reason.clone());
        }
        if answers.len() < config.min_items {
            return empty(format!(
                "only {} answer(s) of the suspect; the test needs at least {}",
                answers.len(),
                config.min_items
            ));
        }
        let mut standings = Vec::with_capacity(k);
        let mut suspect_shares = Vec::with_capacity(k);
        for (j, (fingerprint, scored)) in self.per_control.iter().enumerate() {
            let ours: Vec<f64> = answers.iter().map(|a| fingerprint.share(a)).collect();
            let theirs: Vec<f64> = scored.iter().map(|a| fingerprint.share(a)).collect();
            let s = mean(ours.iter().copied());
            suspect_shares.push(s);
            let p = (config.permutations > 0)
                .then(|| permutation_p(&ours, &theirs, config.permutations, config.seed ^ mix(j as u64 + 1)));
            standings.push(FingerprintStanding {
                model: self.controls[j].clone(),
                items: scored.len(),
                share: mean(theirs.iter().copied()),
                features: Some(fingerprint.weights.len()),
                suspect_share: Some(s),
                suspect_above_p: p,
                t: None,
                p_value: None,
            });
        }
        let suspect_share = mean(suspect_shares.iter().copied());
        let mut test = FingerprintTest {
            ours_items: self.ours,
            ours_held_out: self.held_out.len(),
            background_items: self.background,
            suspect: FingerprintStanding { share: suspect_share, ..FingerprintStanding::named(suspect, answers.len()) },
            controls: Vec::new(),
            degrees_of_freedom: None,
            controls_rejected: 0,
            alpha: config.alpha,
            conclusion: Conclusion::Inconclusive { reason: String::new() },
            evidence: self.evidence(answers),
            method,
        };
        let values: Vec<f64> = standings.iter().map(|s| s.share).collect();
        let spread = values.iter().any(|v| (v - values[0]).abs() > 1e-12);
        let p_value = if k >= MIN_CONTROLS && spread {
            let (t, p) = standing(suspect_share, &values);
            test.suspect.t = t;
            test.suspect.p_value = p;
            for j in 0..k {
                let others: Vec<f64> = values.iter().enumerate().filter(|(l, _)| *l != j).map(|(_, v)| *v).collect();
                if others.len() >= 2 {
                    (standings[j].t, standings[j].p_value) = standing(values[j], &others);
                }
            }
            test.degrees_of_freedom = Some(k - 1);
            test.controls_rejected = standings.iter().filter(|s| s.p_value.is_some_and(|p| p < config.alpha)).count();
            p
        } else {
            // The suspect must carry more than every control. With three
            // controls or more whose shares are all one value (none uses
            // our habits at all, say), the panel has no spread to measure
            // the suspect against, and this is the decision too.
            if k >= MIN_CONTROLS {
                test.method.push_str(
                    "; here the controls' shares did not spread (all equal), so the decision is the largest of the \
                     per-control p-values instead",
                );
            }
            let ps: Option<Vec<f64>> = standings.iter().map(|s| s.suspect_above_p).collect();
            ps.map(|ps| ps.into_iter().fold(0.0, f64::max))
        };
        test.controls = standings;
        test.conclusion = match p_value {
            Some(p) if p < config.alpha => Conclusion::Rejected { p_value: p },
            Some(p) => Conclusion::NotRejected { p_value: p },
            None => Conclusion::Inconclusive {
                reason: if k >= MIN_CONTROLS {
                    "the controls' shares do not spread and the per-control permutation test was not run: the panel \
                     gives no distribution to compare with"
                        .into()
                } else {
                    "the per-control permutation test was not run (no permutations configured)".into()
                },
            },
        };
        test
    }

    fn method(&self) -> String {
        let c = &self.config;
        let decision = if self.controls.len() >= MIN_CONTROLS {
            "the suspect's share (its mean over those feature sets) compared with the controls' shares as one more \
             draw from their distribution (one-sided Student-t prediction test, controls - 1 degrees of freedom), \
             and every control in turn against the others"
        } else {
            "the decision is the largest of the per-control p-values: with fewer than three controls the test \
             says the suspect carries more of our fingerprint than these models, not more than unrelated models do"
        };
        format!(
            "features of our answers (word one- to three-grams, first one and three words, last three words, layout \
             habits) used more often than in the background's and the other controls' answers (log odds ratio with \
             half a count added, z >= {}, in at least {} of our answers, at most {} features), learned once per \
             control with that control left out, on half of our answers; a model's share of the fingerprint is its \
             answers' mean summed log odds over that of our other half; against each control a one-sided \
             permutation test over answers ({} relabellings, seed {}); {decision}",
            c.min_z, c.min_ours, c.max_features, c.permutations, c.seed
        )
    }

    /// The features every control's fingerprint holds (chosen whichever
    /// control was left out), ranked by how much more often the suspect's
    /// answers use them than the controls' do.
    fn evidence(&self, suspect: &[Answer]) -> Vec<FingerprintFeature> {
        let Some((first, _)) = self.per_control.first().filter(|_| self.config.evidence > 0) else {
            return Vec::new();
        };
        let common: BTreeSet<u64> = first
            .weights
            .keys()
            .copied()
            .filter(|k| self.per_control.iter().all(|(f, _)| f.weights.contains_key(k)))
            .collect();
        let rate = |answers: &[Answer], key: u64| {
            answers.iter().filter(|a| a.has(key)).count() as f64 / answers.len().max(1) as f64
        };
        let rows: Vec<(f64, FingerprintFeature)> = common
            .into_iter()
            .filter_map(|key| {
                let suspect_rate = rate(suspect, key);
                let control_rates: Vec<ModelRate> = self
                    .per_control
                    .iter()
                    .zip(&self.controls)
                    .map(|((_, answers), model)| ModelRate { model: model.clone(), rate: rate(answers, key) })
                    .collect();
                let controls_mean = mean(control_rates.iter().map(|r| r.rate));
                let lift = suspect_rate - controls_mean;
                if lift <= 0.0 {
                    return None;
                }
                let suspect_example = suspect.iter().find(|a| a.has(key));
                let ours_example = self.held_out.iter().find(|a| a.has(key));
                let (kind, name) = suspect_example.or(ours_example).and_then(|a| name_of(&a.text, key))?;
                let log_odds = mean(self.per_control.iter().map(|(f, _)| f.weights[&key]));
                Some((
                    lift,
                    FingerprintFeature {
                        kind,
                        feature: name.clone(),
                        log_odds,
                        ours_rate: rate(&self.held_out, key),
                        suspect_rate,
                        control_rates,
                        ours_example: ours_example.map(|a| excerpt(&a.text, kind, &name)),
                        suspect_example: suspect_example.map(|a| excerpt(&a.text, kind, &name)),
                    },
                ))
            })
            .collect();
        // A phrase inside a longer listed one that the suspect uses nearly as
        // often says nothing the longer one does not ("hope this" beside "i
        // hope this helps"): the longer is kept.
        // Likewise a phrase that is all of a listed opening or closing.
        let subsumed = |f: &FingerprintFeature| {
            f.kind == FeatureKind::Phrase
                && rows.iter().any(|(_, g)| {
                    let longer = g.kind == FeatureKind::Phrase && g.feature.len() > f.feature.len();
                    let placed = matches!(g.kind, FeatureKind::Opening | FeatureKind::Closing);
                    (longer || placed)
                        && g.suspect_rate >= 0.8 * f.suspect_rate
                        && format!(" {} ", g.feature).contains(&format!(" {} ", f.feature))
                })
        };
        let keep: Vec<bool> = rows.iter().map(|(_, f)| !subsumed(f)).collect();
        let mut rows: Vec<(f64, FingerprintFeature)> =
            rows.into_iter().zip(keep).filter_map(|(row, keep)| keep.then_some(row)).collect();
        rows.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.feature.cmp(&b.1.feature)));
        rows.into_iter().take(self.config.evidence).map(|(_, f)| f).collect()
    }
}

/// The kind and name of the feature `key` of `text`.
fn name_of(text: &str, key: u64) -> Option<(FeatureKind, String)> {
    features(text).into_iter().find(|(kind, name)| self::key(*kind, name) == key)
}

/// Where a feature shows in `text`: the line holding a phrase (cut to about
/// 200 characters around it), or the answer's opening for a layout habit.
fn excerpt(text: &str, kind: FeatureKind, name: &str) -> String {
    const WIDTH: usize = 200;
    let cut = |s: &str, from: usize| -> String {
        let chars: Vec<char> = s.chars().collect();
        let start = from.saturating_sub(WIDTH / 3).min(chars.len());
        let end = (start + WIDTH).min(chars.len());
        let mut out: String = chars[start..end].iter().collect();
        if start > 0 {
            out.insert(0, '…');
        }
        if end < chars.len() {
            out.push('…');
        }
        out.trim().to_owned()
    };
    let wanted: Vec<String> = name.split(' ').map(str::to_owned).collect();
    let line = match kind {
        FeatureKind::Layout => None,
        FeatureKind::Opening => text.lines().find(|l| !l.trim().is_empty()),
        FeatureKind::Closing => text.lines().rev().find(|l| !l.trim().is_empty()),
        FeatureKind::Phrase => text.lines().find(|l| words(l).windows(wanted.len()).any(|w| w == wanted.as_slice())),
    };
    match line {
        Some(line) => {
            let lower = line.to_lowercase();
            let at = lower.find(wanted[0].as_str()).map_or(0, |byte| lower[..byte].chars().count());
            cut(line.trim(), at)
        }
        None => cut(text.trim(), 0),
    }
}

/// One-sided p-value that `a`'s mean exceeds `b`'s, by relabelling the
/// pooled values at random: (1 + relabellings at least as extreme) / (1 +
/// relabellings).
pub fn permutation_p(a: &[f64], b: &[f64], permutations: usize, seed: u64) -> f64 {
    let mut pool: Vec<f64> = a.iter().chain(b).copied().collect();
    let total: f64 = pool.iter().sum();
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let statistic = |sum_a: f64| sum_a / na - (total - sum_a) / nb;
    let observed = statistic(a.iter().sum());
    let slack = 1e-12 * pool.iter().map(|v| v.abs()).sum::<f64>().max(1.0);
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(state)
    };
    let n = pool.len();
    let mut at_least = 0usize;
    for _ in 0..permutations {
        // The first a.len() of a partial Fisher-Yates shuffle are the relabelled `a`.
        let mut sum = 0.0;
        for i in 0..a.len() {
            let j = i + (next() % (n - i) as u64) as usize;
            pool.swap(i, j);
            sum += pool[i];
        }
        if statistic(sum) >= observed - slack {
            at_least += 1;
        }
    }
    (1 + at_least) as f64 / (1 + permutations) as f64
}

/// Where one model falls.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FingerprintStanding {
    /// The model's name (the set's).
    pub model: String,
    /// Its answers scored.
    pub items: usize,
    /// The share of our fingerprint its answers carry: about 1 for our own
    /// answers, lower for a model without our habits (for the suspect, its
    /// mean over the feature sets learned with each control left out).
    pub share: f64,
    /// For a control: features learned with it left out.
    pub features: Option<usize>,
    /// For a control: the suspect's share on those same features.
    pub suspect_share: Option<f64>,
    /// For a control: the one-sided permutation p-value that the suspect's
    /// answers carry more of those features than this control's.
    pub suspect_above_p: Option<f64>,
    /// How many of the controls' standard deviations the share lies above
    /// their mean (for a control: above the other controls').
    pub t: Option<f64>,
    /// The one-sided Student-t p-value of that.
    pub p_value: Option<f64>,
}

impl FingerprintStanding {
    fn named(model: &str, items: usize) -> Self {
        Self {
            model: model.to_owned(),
            items,
            share: 0.0,
            features: None,
            suspect_share: None,
            suspect_above_p: None,
            t: None,
            p_value: None,
        }
    }
}

/// A model's rate of one feature.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelRate {
    /// The model (the set's name).
    pub model: String,
    /// The share of its answers that use the feature.
    pub rate: f64,
}

/// One feature of our fingerprint, as evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FingerprintFeature {
    /// What kind of habit.
    pub kind: FeatureKind,
    /// The phrase, opening, closing or layout, in words.
    pub feature: String,
    /// How much more often our answers use it than the background's (log
    /// odds ratio, mean over the feature sets).
    pub log_odds: f64,
    /// The share of our held-out answers that use it.
    pub ours_rate: f64,
    /// The share of the suspect's answers that do.
    pub suspect_rate: f64,
    /// The share of each control's answers that do.
    pub control_rates: Vec<ModelRate>,
    /// One of our answers using it (an excerpt).
    pub ours_example: Option<String>,
    /// One of the suspect's answers using it (an excerpt).
    pub suspect_example: Option<String>,
}

/// The fingerprint test's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FingerprintTest {
    /// Our answers the fingerprint was learned from and held out.
    pub ours_items: usize,
    /// Of them, held out to set the scale.
    pub ours_held_out: usize,
    /// Background answers beside the controls'.
    pub background_items: usize,
    /// The suspect's standing.
    pub suspect: FingerprintStanding,
    /// Each control's.
    pub controls: Vec<FingerprintStanding>,
    /// Degrees of freedom of the panel's t (controls - 1; absent below three
    /// controls).
    pub degrees_of_freedom: Option<usize>,
    /// Controls that, put in the suspect's place against the others, are
    /// rejected at `alpha`.
    pub controls_rejected: usize,
    /// The level.
    pub alpha: f64,
    /// The decision.
    pub conclusion: Conclusion,
    /// The features that weigh most, with their rates and examples.
    pub evidence: Vec<FingerprintFeature>,
    /// The method, in words.
    pub method: String,
}

/// Runs the fingerprint test in one call: learns the panel and tests the
/// suspect's answers against it.
pub fn fingerprint_test(
    suspect: (&str, &[&str]),
    ours: &[&str],
    controls: &[(&str, &[&str])],
    background: &[&str],
    config: &FingerprintConfig,
) -> FingerprintTest {
    let reduce = |texts: &[&str]| texts.iter().map(|t| Answer::of(t)).collect::<Vec<_>>();
    let controls: Vec<(&str, Vec<Answer>)> = controls.iter().map(|(n, t)| (*n, reduce(t))).collect();
    let borrowed: Vec<(&str, &[Answer])> = controls.iter().map(|(n, a)| (*n, a.as_slice())).collect();
    let panel = FingerprintPanel::learn(&reduce(ours), &borrowed, &reduce(background), config);
    panel.test(suspect.0, &reduce(suspect.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream in [0, 1).
    fn stream(seed: u64) -> impl FnMut() -> f64 {
        let mut state = seed;
        move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            (mix(state) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    const TOPICS: [&str; 12] = [
        "the river",
        "a budget",
        "the engine",
        "my garden",
        "the library",
        "a contract",
        "the vaccine",
        "a poem",
        "the bridge",
        "a recipe",
        "the election",
        "a telescope",
    ];
    const FILLER: [&str; 16] = [
        "depends", "on", "several", "factors", "such", "as", "timing", "and", "cost", "which", "vary", "between",
        "cases", "so", "consider", "them",
    ];

    /// An answer about a random topic in a model's manner: `habits` are the
    /// phrases and layouts of the model, each used with its probability.
    fn answer(next: &mut impl FnMut() -> f64, habits: &[(&str, f64)], numbered: f64) -> String {
        let topic = TOPICS[(next() * TOPICS.len() as f64) as usize];
        let mut body: Vec<String> = vec![format!("About {topic},")];
        for _ in 0..(20 + (next() * 30.0) as usize) {
            body.push(FILLER[(next() * FILLER.len() as f64) as usize].to_owned());
        }
        for (phrase, p) in habits {
            if next() < *p {
                let at = 1 + (next() * (body.len() - 1) as f64) as usize;
                body.insert(at, (*phrase).to_owned());
            }
        }
        let mut text = body.join(" ") + ".";
        if next() < numbered {
            text.push_str("\n\n1. First step.\n2. Second step.");
        }
        text
    }

    /// How often our (the teacher's) answers end in a numbered list; other
    /// models' do one time in ten.
    const TEACHER_LISTS: f64 = 0.6;

    /// A model: its own habits, and some of a teacher's taken over at
    /// `inherit` (its phrases and its numbered lists).
    fn model(seed: u64, n: usize, own: &[(&str, f64)], teacher: &[(&str, f64)], inherit: f64) -> Vec<String> {
        let mut next = stream(seed);
        let mut habits: Vec<(&str, f64)> = own.to_vec();
        habits.extend(teacher.iter().map(|(p, r)| (*p, r * inherit)));
        let numbered = 0.1 + (TEACHER_LISTS - 0.1) * inherit;
        (0..n).map(|_| answer(&mut next, &habits, numbered)).collect()
    }

    /// Our answers: the teacher's phrases and lists.
    fn ours(seed: u64, n: usize) -> Vec<String> {
        model(seed, n, &[], &TEACHER, 1.0)
    }

    const TEACHER: [(&str, f64); 4] =
        [("i hope this helps", 0.5), ("it is important to note", 0.4), ("in summary", 0.4), ("certainly", 0.3)];

    fn own(i: usize) -> Vec<(&'static str, f64)> {
        const STYLES: [[(&str, f64); 2]; 6] = [
            [("to be honest", 0.4), ("overall", 0.3)],
            [("great question", 0.4), ("basically", 0.3)],
            [("let me explain", 0.4), ("in short", 0.3)],
            [("as a rule", 0.4), ("roughly", 0.3)],
            [("here is the thing", 0.4), ("frankly", 0.3)],
            [("good point", 0.4), ("naturally", 0.3)],
        ];
        STYLES[i % STYLES.len()].to_vec()
    }

    fn refs(texts: &[String]) -> Vec<&str> {
        texts.iter().map(String::as_str).collect()
    }

    /// Ours (the teacher), a student, and unrelated controls, each answering
    /// its own prompts.
    fn case(student_inherits: f64, controls: usize, n: usize) -> (Vec<String>, Vec<String>, Vec<Vec<String>>) {
        let ours = ours(1, 2 * n);
        let student = model(2, n, &own(0), &TEACHER, student_inherits);
        let others = (0..controls).map(|c| model(10 + c as u64, n, &own(c + 1), &[], 0.0)).collect();
        (ours, student, others)
    }

    fn run(
        ours: &[String],
        suspect: &[String],
        controls: &[Vec<String>],
        config: &FingerprintConfig,
    ) -> FingerprintTest {
        let names: Vec<String> = (0..controls.len()).map(|c| format!("control-{c}")).collect();
        let control_refs: Vec<Vec<&str>> = controls.iter().map(|c| refs(c)).collect();
        let pairs: Vec<(&str, &[&str])> =
            names.iter().zip(&control_refs).map(|(n, c)| (n.as_str(), c.as_slice())).collect();
        fingerprint_test(("suspect", &refs(suspect)), &refs(ours), &pairs, &[], config)
    }

    fn p(test: &FingerprintTest) -> f64 {
        match test.conclusion {
            Conclusion::Rejected { p_value } | Conclusion::NotRejected { p_value } => p_value,
            Conclusion::Inconclusive { .. } => panic!("{:?}", test.conclusion),
        }
    }

    #[test]
    fn a_student_answering_other_prompts_stands_out_from_a_panel() {
        let (ours, student, controls) = case(0.7, 5, 150);
        let test = run(&ours, &student, &controls, &FingerprintConfig::default());
        assert!(p(&test) < 0.001, "{test:#?}");
        assert_eq!(test.degrees_of_freedom, Some(4));
        assert_eq!(test.controls_rejected, 0, "{:#?}", test.controls);
        assert!(test.suspect.share > 0.4, "{:?}", test.suspect);
        for control in &test.controls {
            assert!(control.share < test.suspect.share, "{control:?}");
            assert!(control.suspect_above_p.unwrap() < 0.001, "{control:?}");
        }
        // The evidence names the teacher's habits, with rates and examples.
        let named: Vec<&str> = test.evidence.iter().map(|f| f.feature.as_str()).collect();
        assert!(named.iter().any(|f| f.contains("hope this helps") || f.contains("important to note")), "{named:?}");
        let top = &test.evidence[0];
        assert!(top.suspect_rate > top.control_rates.iter().map(|r| r.rate).fold(0.0, f64::max), "{top:?}");
        assert!(top.suspect_example.is_some() && top.ours_example.is_some(), "{top:?}");
        for f in &test.evidence {
            let inside = test.evidence.iter().any(|g| {
                g.feature.len() > f.feature.len()
                    && g.suspect_rate >= 0.8 * f.suspect_rate
                    && format!(" {} ", g.feature).contains(&format!(" {} ", f.feature))
            });
            assert!(
                !inside || f.kind != FeatureKind::Phrase,
                "{} is inside a longer listed phrase: {named:?}",
                f.feature
            );
        }
        // Topic words are the prompts', not a habit: none is evidence.
        assert!(!named.iter().any(|f| TOPICS.iter().any(|t| t.ends_with(f))), "{named:?}");
    }

    #[test]
    fn an_unrelated_model_as_suspect_is_not_accused() {
        for seed in 0..6u64 {
            let (ours, _, controls) = case(0.0, 5, 120);
            let unrelated = model(100 + seed, 120, &own(seed as usize + 3), &[], 0.0);
            let test = run(&ours, &unrelated, &controls, &FingerprintConfig { permutations: 0, ..Default::default() });
            assert!(p(&test) > 0.05, "seed {seed}: {test:#?}");
        }
    }

    #[test]
    fn leaving_the_control_out_keeps_the_one_control_test_at_its_level() {
        // Suspect and control are two halves of one unrelated model's answers:
        // exchangeable, so the test rejects at 0.05 about 5% of the time.
        let ours = ours(1, 200);
        let background = model(3, 200, &own(4), &[], 0.0);
        let config = FingerprintConfig { permutations: 199, ..Default::default() };
        let mut rejected = 0;
        for r in 0..60u64 {
            let outputs = model(500 + r, 120, &own(r as usize), &[], 0.0);
            let (a, b): (Vec<&str>, Vec<&str>) = {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                for (i, o) in outputs.iter().enumerate() {
                    if second_half(r, 7, i) { a.push(o.as_str()) } else { b.push(o.as_str()) }
                }
                (a, b)
            };
            let test = fingerprint_test(
                ("half-a", &a),
                &refs(&ours),
                &[("half-b", b.as_slice())],
                &refs(&background),
                &FingerprintConfig { seed: r, ..config },
            );
            rejected += usize::from(matches!(test.conclusion, Conclusion::Rejected { .. }));
        }
        // 5% of 60 is 3; the binomial's 99.9% upper bound is about 10.
        assert!(rejected <= 10, "rejected {rejected} of 60 exchangeable pairs");
    }

    #[test]
    fn one_control_without_background_is_split_and_says_what_it_cannot_rule_out() {
        let (ours, student, controls) = case(0.7, 1, 160);
        let test = run(&ours, &student, &controls, &FingerprintConfig::default());
        assert!(p(&test) < 0.001, "{test:#?}");
        assert_eq!(test.degrees_of_freedom, None);
        assert!(test.controls[0].items < 160 && test.controls[0].items >= 30, "half is the background");
        assert!(test.method.contains("not more than unrelated models"), "{}", test.method);
    }

    #[test]
    fn too_little_is_inconclusive_with_the_reason() {
        let (ours, student, controls) = case(0.7, 3, 100);
        let short = run(&ours[..40], &student, &controls, &FingerprintConfig::default());
        let Conclusion::Inconclusive { reason } = &short.conclusion else { panic!("{:?}", short.conclusion) };
        assert!(reason.contains("only 40 of our answers") && reason.contains("60"), "{reason}");
        let few = run(&ours, &student[..12], &controls, &FingerprintConfig::default());
        let Conclusion::Inconclusive { reason } = &few.conclusion else { panic!("{:?}", few.conclusion) };
        assert!(reason.contains("only 12 answer(s) of the suspect"), "{reason}");
        let none = run(&ours, &student, &[], &FingerprintConfig::default());
        assert!(matches!(none.conclusion, Conclusion::Inconclusive { .. }));
        // Ours no different from the background: no fingerprint.
        let same = model(50, 200, &own(2), &[], 0.0);
        let flat = run(&same, &student, &[model(51, 100, &own(2), &[], 0.0)], &FingerprintConfig::default());
        let Conclusion::Inconclusive { reason } = &flat.conclusion else { panic!("{:?}", flat.conclusion) };
        assert!(reason.contains("no fingerprint"), "{reason}");
    }

    #[test]
    fn controls_that_never_use_our_habits_leave_the_decision_to_every_control_beaten() {
        // Ours always open with one phrase, the suspect too, the controls never: every control's share
        // is 0, so the panel has no spread, and the suspect must beat each control instead.
        let habit = |texts: Vec<String>| texts.into_iter().map(|t| format!("Certainly, here goes. {t}")).collect();
        let plain = |seed: u64, n: usize| model(seed, n, &[], &[], 0.0);
        let ours: Vec<String> = habit(plain(1, 80));
        let suspect: Vec<String> = habit(plain(2, 40));
        let controls: Vec<Vec<String>> = (0..3).map(|c| plain(10 + c, 40)).collect();
        let test = run(&ours, &suspect, &controls, &FingerprintConfig::default());
        assert!(test.controls.iter().all(|c| c.share == test.controls[0].share), "{:?}", test.controls);
        assert!(p(&test) < 0.001, "{test:#?}");
        assert!(test.method.contains("did not spread"), "{}", test.method);
        let opening = test.evidence.iter().find(|f| f.kind == FeatureKind::Opening).expect("the opening");
        assert!(opening.feature.starts_with("certainly"), "{opening:?}");
        assert!(
            !test.evidence.iter().any(|f| f.kind == FeatureKind::Phrase && f.feature == "certainly here goes"),
            "the phrase that is the whole opening is not listed twice: {:?}",
            test.evidence
        );
        let quiet = FingerprintPanel::learn(
            &ours.iter().map(|t| Answer::of(t)).collect::<Vec<_>>(),
            &controls
                .iter()
                .enumerate()
                .map(|(i, c)| (["a", "b", "c"][i], c.iter().map(|t| Answer::of(t)).collect::<Vec<_>>()))
                .collect::<Vec<_>>()
                .iter()
                .map(|(n, a)| (*n, a.as_slice()))
                .collect::<Vec<_>>(),
            &[],
            &FingerprintConfig::default(),
        )
        .for_resampling();
        let resampled = quiet.test("suspect", &suspect.iter().map(|t| Answer::of(t)).collect::<Vec<_>>());
        assert!(matches!(resampled.conclusion, Conclusion::Inconclusive { .. }), "{:?}", resampled.conclusion);
    }

    #[test]
    fn the_same_answers_and_seed_give_the_same_report() {
        let (ours, student, controls) = case(0.5, 3, 80);
        let config = FingerprintConfig { permutations: 499, ..Default::default() };
        assert_eq!(run(&ours, &student, &controls, &config), run(&ours, &student, &controls, &config));
    }

    #[test]
    fn features_name_phrases_openings_closings_and_layout() {
        let text = "Certainly! Here's how:\n\n1. Don't panic.\n2. Call **them**.\n\nI hope this helps?";
        let names: Vec<(FeatureKind, String)> = features(text);
        let has = |kind: FeatureKind, name: &str| names.iter().any(|(k, n)| *k == kind && n == name);
        assert!(has(FeatureKind::Opening, "certainly"));
        assert!(has(FeatureKind::Opening, "certainly here's how"));
        assert!(has(FeatureKind::Closing, "hope this helps"), "{names:?}");
        assert!(has(FeatureKind::Phrase, "don't panic"));
        assert!(has(FeatureKind::Layout, "a numbered list"));
        assert!(has(FeatureKind::Layout, "bold text"));
        assert!(has(FeatureKind::Layout, "ends with a question"));
        assert!(has(FeatureKind::Layout, "a line ending in a colon"));
        assert!(has(FeatureKind::Layout, "three or four paragraphs"));
        assert!(has(FeatureKind::Layout, "under 50 words"));
        assert_eq!(words("光合作用 ok"), ["光", "合", "作", "用", "ok"]);
        let answer = Answer::of(text);
        assert!(answer.has(key(FeatureKind::Phrase, "hope this helps")));
        let at = excerpt(text, FeatureKind::Phrase, "hope this helps");
        assert_eq!(at, "I hope this helps?");
    }

    #[test]
    fn the_permutation_p_is_one_sided_and_exact_in_form() {
        let high: Vec<f64> = (0..40).map(|i| 1.0 + f64::from(i % 5) * 0.01).collect();
        let low: Vec<f64> = (0..40).map(|i| f64::from(i % 5) * 0.01).collect();
        assert_eq!(permutation_p(&high, &low, 999, 1), 1.0 / 1000.0);
        assert_eq!(permutation_p(&low, &high, 999, 1), 1.0, "the other direction is never significant");
        let same = permutation_p(&low, &low, 999, 1);
        assert!(same > 0.3, "{same}");
    }
}
