//! Task instructions versus people's requests.
//!
//! Extraction datasets are pools of task instructions ("Write a function
//! that...", "Generate a list of...", a role to play, a tool to call), most
//! of them written by a model for the purpose; people write requests about
//! their own situation, in conversation. This is a logistic model over a
//! prompt's sentence embedding and a few lexical features, trained by
//! `distillwatch classifier train` (see `docs/evaluation.md` for its data,
//! provenance and leave-one-source-out accuracy); its weights live in
//! `instruction_classifier.json` beside this file.
//!
//! Training is Newton's method on the L2-penalized log-loss (a few
//! iterations, deterministic), with every example weighted so that each
//! class and, within a class, each source counts the same: one large source
//! (red-team chats, say) cannot teach the model its own quirks.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// Number of lexical features.
pub const LEXICAL: usize = 20;

/// Names of the lexical features, in order.
pub const LEXICAL_NAMES: [&str; LEXICAL] = [
    "log_chars",
    "log_lines",
    "log_sentences",
    "mean_word_length",
    "ends_with_question",
    "ends_with_terminal_punctuation",
    "starts_lowercase",
    "opens_with_task_verb",
    "opens_with_question_word",
    "addresses_a_role",
    "instruction_then_input",
    "field_line_share",
    "first_person_share",
    "lowercase_i",
    "chat_markers",
    "contraction_share",
    "exclamation",
    "digit_share",
    "uppercase_share",
    "code_symbol_share",
];

/// Words a person uses about themselves (English; other languages simply
/// contribute 0 to the word-list features).
const FIRST_PERSON: [&str; 10] = ["i", "i'm", "i've", "i'd", "i'll", "im", "my", "me", "mine", "myself"];

/// Verbs that open a task as a dataset writes it.
const TASK_VERBS: [&str; 40] = [
    "write",
    "create",
    "generate",
    "explain",
    "describe",
    "list",
    "give",
    "provide",
    "summarize",
    "translate",
    "classify",
    "identify",
    "rewrite",
    "compose",
    "design",
    "implement",
    "find",
    "calculate",
    "convert",
    "suggest",
    "develop",
    "analyze",
    "compare",
    "name",
    "edit",
    "correct",
    "determine",
    "construct",
    "outline",
    "produce",
    "predict",
    "evaluate",
    "imagine",
    "pretend",
    "compute",
    "categorize",
    "paraphrase",
    "formulate",
    "draft",
    "debug",
];

/// Words that open a question.
const QUESTION_WORDS: [&str; 16] = [
    "what", "how", "why", "who", "where", "when", "which", "can", "could", "would", "is", "are", "do", "does",
    "should", "will",
];

/// Words of chat rather than of a dataset.
const CHAT_MARKERS: [&str; 14] =
    ["please", "thanks", "thank", "hi", "hello", "hey", "lol", "pls", "plz", "u", "ur", "ok", "okay", "btw"];

/// Lexical features of a prompt: its size and shape, how it opens and ends,
/// whether it addresses a role or is an instruction followed by its input
/// (as dataset records are), how much it speaks of its writer and in what
/// register, and what kinds of characters it is made of.
pub fn lexical_features(text: &str) -> [f64; LEXICAL] {
    let trimmed = text.trim();
    let chars: Vec<char> = trimmed.chars().collect();
    let n_chars = chars.len().max(1) as f64;
    let lines: Vec<&str> = trimmed.lines().filter(|l| !l.trim().is_empty()).collect();
    let raw_words: Vec<&str> = trimmed.split_whitespace().collect();
    let words: Vec<String> = raw_words
        .iter()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    let n_words = words.len().max(1) as f64;
    let share = |list: &[&str]| words.iter().filter(|w| list.contains(&w.as_str())).count() as f64 / n_words;
    let first = words.first().map(String::as_str).unwrap_or("");
    let sentences = trimmed.split(['.', '?', '!', '\n']).filter(|s| s.split_whitespace().count() >= 3).count();
    let lower = trimmed.to_lowercase();
    let head: String = lower.chars().take(80).collect();
    let role =
        ["you are", "act as", "role play", "roleplay", "pretend", "imagine you"].iter().any(|p| head.contains(p));
    let instruction_then_input = trimmed
        .split_once("\n\n")
        .is_some_and(|(instruction, input)| instruction.split_whitespace().count() <= 60 && !input.trim().is_empty());
    let contractions = raw_words
        .iter()
        .filter(|w| ["'s", "n't", "'m", "'re", "'ve", "'ll", "'d"].iter().any(|c| w.contains(c)))
        .count();
    let count = |f: &dyn Fn(char) -> bool| chars.iter().filter(|c| f(**c)).count() as f64 / n_chars;
    let flag = |b: bool| f64::from(u8::from(b));
    [
        n_chars.ln_1p(),
        (lines.len() as f64).ln_1p(),
        (sentences as f64).ln_1p(),
        words.iter().map(|w| w.chars().count()).sum::<usize>() as f64 / n_words,
        flag(trimmed.ends_with('?') || trimmed.ends_with('？')),
        flag(trimmed.ends_with(['.', '!', '?', '。', '！', '？', ':', '"', '`', ')'])),
        flag(chars.first().is_some_and(|c| c.is_lowercase())),
        flag(TASK_VERBS.contains(&first)),
        flag(QUESTION_WORDS.contains(&first)),
        flag(role),
        flag(instruction_then_input),
        if lines.is_empty() {
            0.0
        } else {
            lines.iter().filter(|l| is_field_line(l)).count() as f64 / lines.len() as f64
        },
        share(&FIRST_PERSON),
        flag(raw_words.iter().any(|w| *w == "i" || w.starts_with("i'"))),
        share(&CHAT_MARKERS),
        contractions as f64 / n_words,
        flag(trimmed.contains('!')),
        count(&|c| c.is_ascii_digit()),
        count(&char::is_uppercase),
        count(&|c| matches!(c, '{' | '}' | ';' | '(' | ')' | '[' | ']' | '=' | '<' | '>' | '_')),
    ]
}

/// A line that opens with a short label and a colon (`Input: ...`).
fn is_field_line(line: &str) -> bool {
    let Some((label, _)) = line.trim_start().split_once(':') else { return false };
    let words = label.split_whitespace().count();
    (1..=3).contains(&words) && label.chars().next().is_some_and(char::is_alphabetic) && label.len() <= 30
}

/// One training example.
#[derive(Debug, Clone, Copy)]
pub struct Example<'a> {
    /// The prompt.
    pub text: &'a str,
    /// Its sentence embedding.
    pub embedding: &'a [f32],
    /// Whether it is a task instruction (the positive class).
    pub instruction: bool,
    /// The dataset it came from: each class weighs the same in the loss,
    /// and so does each source within its class.
    pub source: &'a str,
}

/// Loss weights (summing to 1): half to each class, shared equally by the
/// class's sources, and equally by each source's examples.
fn balanced_weights(examples: &[Example<'_>]) -> Vec<f64> {
    use std::collections::BTreeMap;
    let mut per_source: BTreeMap<(bool, &str), usize> = BTreeMap::new();
    for e in examples {
        *per_source.entry((e.instruction, e.source)).or_default() += 1;
    }
    let sources_in = |class: bool| per_source.keys().filter(|(c, _)| *c == class).count() as f64;
    let classes = [true, false].iter().filter(|c| sources_in(**c) > 0.0).count() as f64;
    examples
        .iter()
        .map(|e| 1.0 / classes / sources_in(e.instruction) / per_source[&(e.instruction, e.source)] as f64)
        .collect()
}

/// The fitted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstructionClassifier {
    /// The model's version, named in every signal it feeds.
    pub version: String,
    /// The embedding model whose vectors it reads.
    pub embedding_model: String,
    /// Embedding dimension.
    pub dim: usize,
    /// Per-feature mean (embedding dimensions, then the lexical features).
    pub mean: Vec<f64>,
    /// Per-feature standard deviation.
    pub scale: Vec<f64>,
    /// Per-feature weight on the standardized features.
    pub weights: Vec<f64>,
    /// The intercept.
    pub bias: f64,
    /// The L2 penalty it was trained with.
    pub l2: f64,
    /// Where its training data came from.
    pub provenance: Vec<String>,
}

/// The committed model.
static BUILTIN: LazyLock<InstructionClassifier> = LazyLock::new(|| {
    serde_json::from_str(include_str!("instruction_classifier.json"))
        .expect("instruction_classifier.json is written by `distillwatch classifier train`")
});

impl InstructionClassifier {
    /// The model committed with this build.
    pub fn builtin() -> &'static Self {
        &BUILTIN
    }

    /// Probability that a prompt is a task instruction, from its text and
    /// its embedding; `None` when the embedding has the wrong dimension.
    pub fn probability(&self, text: &str, embedding: &[f32]) -> Option<f64> {
        if embedding.len() != self.dim {
            return None;
        }
        let features = features(text, embedding);
        let z = self.bias
            + features
                .iter()
                .zip(&self.mean)
                .zip(&self.scale)
                .zip(&self.weights)
                .map(|(((x, m), s), w)| (x - m) / s * w)
                .sum::<f64>();
        Some(sigmoid(z))
    }

    /// Fits the model on `examples` (all with embeddings of one dimension).
    pub fn train(examples: &[Example<'_>], l2: f64, embedding_model: &str, provenance: Vec<String>) -> Self {
        let dim = examples.first().map_or(0, |e| e.embedding.len());
        let rows: Vec<Vec<f64>> = examples.iter().map(|e| features(e.text, e.embedding)).collect();
        let width = dim + LEXICAL;
        let balanced = balanced_weights(examples);
        let mut mean = vec![0.0; width];
        for (row, w) in rows.iter().zip(&balanced) {
            for (m, x) in mean.iter_mut().zip(row) {
                *m += w * x;
            }
        }
        let mut scale = vec![0.0; width];
        for (row, w) in rows.iter().zip(&balanced) {
            for ((s, x), m) in scale.iter_mut().zip(row).zip(&mean) {
                *s += w * (x - m) * (x - m);
            }
        }
        for s in &mut scale {
            *s = if *s > 1e-12 { s.sqrt() } else { 1.0 };
        }
        // Standardized design matrix with a leading column of ones.
        let design: Vec<Vec<f64>> = rows
            .iter()
            .map(|row| {
                std::iter::once(1.0).chain(row.iter().zip(&mean).zip(&scale).map(|((x, m), s)| (x - m) / s)).collect()
            })
            .collect();
        let targets: Vec<f64> = examples.iter().map(|e| f64::from(u8::from(e.instruction))).collect();
        let weights: Vec<f64> = balanced.iter().map(|w| w * examples.len() as f64).collect();
        let beta = crate::learn::newton_logistic(&design, &targets, &weights, l2);
        Self {
            version: String::new(),
            embedding_model: embedding_model.to_owned(),
            dim,
            mean,
            scale,
            weights: beta[1..].to_vec(),
            bias: beta[0],
            l2,
            provenance,
        }
    }

    /// The model with every number rounded to `digits` significant digits,
    /// so that the committed file stays small and diffs stay readable.
    pub fn rounded(mut self, digits: i32) -> Self {
        let round = |x: f64| {
            if x == 0.0 || !x.is_finite() {
                return x;
            }
            let magnitude = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
            (x * magnitude).round() / magnitude
        };
        for v in self.mean.iter_mut().chain(&mut self.scale).chain(&mut self.weights) {
            *v = round(*v);
        }
        self.bias = round(self.bias);
        self
    }
}

fn features(text: &str, embedding: &[f32]) -> Vec<f64> {
    embedding.iter().map(|v| f64::from(*v)).chain(lexical_features(text)).collect()
}

use crate::learn::sigmoid;

/// One held-out source's result in leave-one-source-out validation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldOut {
    /// The source left out of training.
    pub source: String,
    /// Whether its prompts are task instructions.
    pub instruction: bool,
    /// Its prompts.
    pub prompts: usize,
    /// Share classified as their true class.
    pub accuracy: f64,
    /// Each prompt's probability of being a task instruction, from the
    /// model that never saw this source.
    #[serde(skip)]
    pub probabilities: Vec<f64>,
}

/// Source-balanced ranking quality of held-out predictions: the ROC AUC of
/// every (instruction source, request source) pair, each side predicted by
/// models that never saw it; the mean and the worst pair.
pub fn pairwise_auc(held: &[HeldOut]) -> Option<(f64, f64)> {
    let mut aucs = Vec::new();
    for positive in held.iter().filter(|h| h.instruction) {
        for negative in held.iter().filter(|h| !h.instruction) {
            let mut wins = 0.0;
            for p in &positive.probabilities {
                for n in &negative.probabilities {
                    wins += if p > n {
                        1.0
                    } else if p == n {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
            let pairs = (positive.probabilities.len() * negative.probabilities.len()) as f64;
            if pairs > 0.0 {
                aucs.push(wins / pairs);
            }
        }
    }
    let mean = aucs.iter().sum::<f64>() / aucs.len() as f64;
    (!aucs.is_empty()).then(|| (mean, aucs.iter().copied().fold(1.0, f64::min)))
}

/// Leave-one-source-out validation: for each source, a model trained on
/// every other source classifies that one's prompts.
pub fn leave_one_source_out(examples: &[Example<'_>], l2: f64) -> Vec<HeldOut> {
    let mut sources: Vec<&str> = examples.iter().map(|e| e.source).collect();
    sources.sort_unstable();
    sources.dedup();
    sources
        .into_iter()
        .map(|held| {
            let train: Vec<Example<'_>> = examples.iter().filter(|e| e.source != held).copied().collect();
            let model = InstructionClassifier::train(&train, l2, "", Vec::new());
            let test: Vec<&Example<'_>> = examples.iter().filter(|e| e.source == held).collect();
            let probabilities: Vec<f64> =
                test.iter().map(|e| model.probability(e.text, e.embedding).unwrap_or(f64::NAN)).collect();
            let correct = test.iter().zip(&probabilities).filter(|(e, p)| (**p >= 0.5) == e.instruction).count();
            HeldOut {
                source: held.to_owned(),
                instruction: test.first().is_some_and(|e| e.instruction),
                prompts: test.len(),
                accuracy: correct as f64 / test.len().max(1) as f64,
                probabilities,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_features_read_size_ends_person_and_fields() {
        let named = |text: &str| -> std::collections::HashMap<&str, f64> {
            LEXICAL_NAMES.iter().copied().zip(lexical_features(text)).collect()
        };
        let person = named("my boss keeps yelling at me, what do I do? thanks!!");
        assert_eq!(person["ends_with_question"], 0.0);
        assert_eq!(person["exclamation"], 1.0);
        assert_eq!(person["starts_lowercase"], 1.0);
        assert_eq!(person["lowercase_i"], 0.0, "\"I\" is capitalized here");
        assert!((person["first_person_share"] - 3.0 / 11.0).abs() < 1e-12, "{person:?}");
        assert!((person["chat_markers"] - 1.0 / 11.0).abs() < 1e-12, "{person:?}");
        let task = named("Summarize the text.\nInput: The cat sat.\nOutput format: one line");
        assert_eq!(
            (task["opens_with_task_verb"], task["starts_lowercase"], task["first_person_share"]),
            (1.0, 0.0, 0.0)
        );
        assert!((task["field_line_share"] - 2.0 / 3.0).abs() < 1e-12, "{task:?}");
        assert!((task["log_lines"] - 4f64.ln()).abs() < 1e-12);
        let record = named("You are a pirate. Describe the sea.\n\nTone: cheerful");
        assert_eq!((record["addresses_a_role"], record["instruction_then_input"]), (1.0, 1.0));
        let question = named("how do i build an FPV drone?");
        assert_eq!((question["opens_with_question_word"], question["lowercase_i"]), (1.0, 1.0));
        assert_eq!(question["ends_with_question"], 1.0);
    }

    #[test]
    fn newton_recovers_a_separating_direction() {
        // Two-dimensional "embeddings": instructions lean on axis 0, requests on axis 1.
        let vectors: Vec<[f32; 2]> = (0..200)
            .map(|i| {
                let t = i as f32 / 200.0;
                if i % 2 == 0 { [0.8 + 0.2 * t, 0.3 - 0.2 * t] } else { [0.3 - 0.2 * t, 0.8 + 0.2 * t] }
            })
            .collect();
        let examples: Vec<Example<'_>> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| Example {
                text: if i % 2 == 0 { "Write a poem." } else { "Write a poem?" },
                embedding: v,
                instruction: i % 2 == 0,
                source: if i % 4 < 2 { "a" } else { "b" },
            })
            .collect();
        let model = InstructionClassifier::train(&examples, 1.0, "test", vec![]);
        assert!(model.probability("Write a poem.", &[0.9, 0.2]).unwrap() > 0.9);
        assert!(model.probability("Write a poem?", &[0.2, 0.9]).unwrap() < 0.1);
        assert_eq!(model.probability("x", &[0.1]), None, "wrong dimension");
        let again = InstructionClassifier::train(&examples, 1.0, "test", vec![]);
        assert_eq!(model, again, "deterministic");
        let held = leave_one_source_out(&examples, 1.0);
        assert_eq!(held.len(), 2);
        assert!(held.iter().all(|h| h.accuracy > 0.9 && h.prompts == 100), "{held:?}");
    }

    #[test]
    fn the_committed_model_loads_and_matches_the_encoder() {
        let model = InstructionClassifier::builtin();
        assert_eq!(model.mean.len(), model.dim + LEXICAL);
        assert_eq!(model.weights.len(), model.dim + LEXICAL);
        assert!(!model.provenance.is_empty() && !model.version.is_empty());
    }
}
