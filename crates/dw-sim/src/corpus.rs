//! The real text the simulated traffic is made of.
//!
//! A data folder has the layout of `../shared/data` (and of the sample shipped
//! in `data/sample/`): human prompts with their follow-up turns, model-written
//! task instructions with the teacher's answers, benchmark items, reasoning
//! traces and paired model outputs. Nothing here is invented text: every
//! prompt and completion the simulator emits comes from one of these pools
//! (wrapped or templated by [`crate::phrasing`] where a kind of user would do
//! that).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::SimError;

/// Shared, immutable text: events of one conversation share their history.
pub type Text = Arc<str>;

/// A human conversation opener with its later user turns.
#[derive(Debug, Clone)]
pub struct HumanThread {
    /// The first user message, then the follow-ups, in order.
    pub turns: Vec<Text>,
    /// The assistant's first answer, when the source has one.
    pub response: Option<Text>,
}

/// A prompt with the answer a model gave to it.
#[derive(Debug, Clone)]
pub struct Answered {
    /// What was asked.
    pub prompt: Text,
    /// What the model answered.
    pub response: Text,
}

/// A multiple-choice benchmark item.
#[derive(Debug, Clone)]
pub struct ChoiceItem {
    /// The ready-to-send question with its lettered choices.
    pub prompt: Text,
    /// The correct letter.
    pub answer: Text,
}

/// A sampled chain-of-thought answer to a math problem.
#[derive(Debug, Clone)]
pub struct Trace {
    /// The problem.
    pub prompt: Text,
    /// The problem's id: several traces share one.
    pub problem_id: String,
    /// The sampled reasoning.
    pub response: Text,
}

/// Every pool of text, loaded from one data folder.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Prompts people wrote to assistants, with follow-ups.
    pub human: Vec<HumanThread>,
    /// Real user prompts (Chatbot Arena) with a model's answer.
    pub arena: Vec<Answered>,
    /// Model-generated task instructions with the teacher's answer (real distillation data).
    pub instructions: Vec<Answered>,
    /// Self-Instruct style generated prompts with a model's answer.
    pub self_instruct: Vec<Answered>,
    /// Grade-school math word problems with worked solutions.
    pub gsm8k: Vec<Answered>,
    /// Multiple-choice exam questions.
    pub mmlu: Vec<ChoiceItem>,
    /// Math problems with sampled chains of thought.
    pub traces: Vec<Trace>,
    /// Real model answers, for prompts whose source carries none.
    pub responses: Vec<Text>,
}

#[derive(Deserialize)]
struct HumanRecord {
    prompt: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    followup_turns: Option<Vec<String>>,
    #[serde(default)]
    response: Option<String>,
}

#[derive(Deserialize)]
struct AnsweredRecord {
    prompt: String,
    response: String,
    #[serde(default)]
    subset: Option<String>,
}

#[derive(Deserialize)]
struct GsmRecord {
    prompt: String,
    answer: String,
}

#[derive(Deserialize)]
struct MmluRecord {
    prompt: String,
    answer: String,
}

#[derive(Deserialize)]
struct TraceRecord {
    prompt: String,
    problem_id: String,
    response: String,
}

#[derive(Deserialize)]
struct PairRecord {
    id: String,
    prompt: String,
    output_a: String,
    output_b: String,
}

/// The files a data folder must hold, relative to it.
pub const REQUIRED_FILES: [&str; 6] = [
    "human_prompts/human_prompts.jsonl",
    "distill_instructions/distill_instructions.jsonl",
    "benchmarks/gsm8k.jsonl",
    "benchmarks/mmlu.jsonl",
    "reasoning_traces/math_cot_100x8.jsonl",
    "paired_outputs/pairs.jsonl",
];

/// One of two disjoint halves of a data folder: weights are fitted on
/// traffic built from the `Fit` half only, and reported on both.
///
/// The split is by source where a pool has several (people's prompts:
/// HH-RLHF and MT-Bench to `Fit`, Chatbot Arena and OpenAssistant to
/// `Holdout`; instructions: GPTeacher toolformer and roleplay to `Fit`,
/// codegen to `Holdout`), so the held-out half is made of sources the fit
/// never saw; pools from one source (GSM8K, MMLU, reasoning traces by
/// problem, paired outputs) are split by a hash of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Half {
    /// The half weights are fitted on.
    Fit,
    /// The other half.
    Holdout,
}

impl Half {
    /// Sources (or `source/subset`s) of people's prompts and instructions in the fit half.
    pub const FIT_SOURCES: [&'static str; 4] = ["anthropic_hh_rlhf", "mt_bench", "toolformer", "roleplay"];

    fn keeps_source(self, source: Option<&str>) -> bool {
        let in_fit = source.is_some_and(|s| Self::FIT_SOURCES.contains(&s));
        in_fit == (self == Half::Fit)
    }

    fn keeps_text(self, key: &str) -> bool {
        let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        (h % 2 == 0) == (self == Half::Fit)
    }
}

impl Corpus {
    /// Loads every pool from `dir`. A missing file or a bad line is an error
    /// naming the file (and line).
    pub fn load(dir: &Path) -> Result<Self, SimError> {
        Self::load_half(dir, None)
    }

    /// Loads every pool from `dir`, or only one half of it ([`Half`]).
    pub fn load_half(dir: &Path, half: Option<Half>) -> Result<Self, SimError> {
        let by_source = |source: Option<&str>| half.is_none_or(|h| h.keeps_source(source));
        let by_text = |key: &str| half.is_none_or(|h| h.keeps_text(key));
        let human: Vec<HumanThread> = read_jsonl::<HumanRecord>(dir, REQUIRED_FILES[0])?
            .into_iter()
            .filter(|r| !r.prompt.trim().is_empty() && by_source(r.source.as_deref()))
            .map(|r| {
                let mut turns = vec![text(r.prompt)];
                turns.extend(
                    r.followup_turns.unwrap_or_default().into_iter().filter(|t| !t.trim().is_empty()).map(text),
                );
                HumanThread { turns, response: r.response.filter(|s| !s.trim().is_empty()).map(text) }
            })
            .collect();
        let instructions = read_jsonl::<AnsweredRecord>(dir, REQUIRED_FILES[1])?
            .into_iter()
            .filter(|r| !r.prompt.trim().is_empty() && !r.response.trim().is_empty())
            .filter(|r| by_source(r.subset.as_deref()))
            .map(|r| Answered { prompt: text(r.prompt), response: text(r.response) })
            .collect();
        let gsm8k = read_jsonl::<GsmRecord>(dir, REQUIRED_FILES[2])?
            .into_iter()
            .filter(|r| by_text(&r.prompt))
            .map(|r| Answered { prompt: text(r.prompt), response: text(strip_calculator_marks(&r.answer)) })
            .collect();
        let mmlu = read_jsonl::<MmluRecord>(dir, REQUIRED_FILES[3])?
            .into_iter()
            .filter(|r| by_text(&r.prompt))
            .map(|r| ChoiceItem { prompt: text(r.prompt), answer: text(r.answer) })
            .collect();
        let traces = read_jsonl::<TraceRecord>(dir, REQUIRED_FILES[4])?
            .into_iter()
            .filter(|r| by_text(&r.problem_id))
            .map(|r| Trace { prompt: text(r.prompt), problem_id: r.problem_id, response: text(r.response) })
            .collect();
        let mut arena = Vec::new();
        let mut self_instruct = Vec::new();
        let mut responses = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for pair in read_jsonl::<PairRecord>(dir, REQUIRED_FILES[5])?.into_iter().filter(|p| by_text(&p.prompt)) {
            let output_b = text(pair.output_b);
            if !output_b.trim().is_empty() {
                responses.push(output_b);
            }
            if pair.output_a.trim().is_empty() || !seen.insert(pair.prompt.clone()) {
                continue;
            }
            let answered = Answered { prompt: text(pair.prompt), response: text(pair.output_a) };
            if pair.id.starts_with("arena") {
                arena.push(answered);
            } else {
                self_instruct.push(answered);
            }
        }
        responses.extend(human.iter().filter_map(|h| h.response.clone()));
        let corpus = Self { human, arena, instructions, self_instruct, gsm8k, mmlu, traces, responses };
        corpus.check(dir)?;
        Ok(corpus)
    }

    fn check(&self, dir: &Path) -> Result<(), SimError> {
        let pools = [
            ("human prompts", self.human.len()),
            ("Chatbot Arena prompts", self.arena.len()),
            ("task instructions", self.instructions.len()),
            ("Self-Instruct prompts", self.self_instruct.len()),
            ("GSM8K items", self.gsm8k.len()),
            ("MMLU items", self.mmlu.len()),
            ("reasoning traces", self.traces.len()),
            ("model responses", self.responses.len()),
        ];
        for (name, len) in pools {
            if len == 0 {
                return Err(SimError::Data {
                    path: dir.to_path_buf(),
                    message: format!("the data folder has no {name}"),
                });
            }
        }
        Ok(())
    }
}

fn text(s: String) -> Text {
    Arc::from(s)
}

/// GSM8K solutions carry calculator annotations (`<<48/2=24>>`) that no model
/// emits; a served answer would not have them.
fn strip_calculator_marks(answer: &str) -> String {
    let mut out = String::with_capacity(answer.len());
    let mut rest = answer;
    while let Some(start) = rest.find("<<") {
        out.push_str(&rest[..start]);
        match rest[start..].find(">>") {
            Some(end) => rest = &rest[start + end + 2..],
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out.replace("#### ", "The answer is ")
}

/// Which side of the task-instruction classifier a prompt is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptClass {
    /// A model-generated task instruction (the records of a distillation dataset).
    Instruction,
    /// A request a person wrote to an assistant.
    Human,
    /// A task instruction written by people for evaluating instruction
    /// following: not trained on, reported apart (it is the hard middle).
    HumanWrittenTask,
}

/// A prompt of the classifier's data, with where it came from.
#[derive(Debug, Clone)]
pub struct LabelledPrompt {
    /// The prompt.
    pub text: String,
    /// Its class.
    pub class: PromptClass,
    /// `source/subset`: the unit of leave-one-source-out validation.
    pub source: String,
    /// `owner/repo@commit:path` of the public repository it came from.
    pub provenance: String,
}

#[derive(Deserialize)]
struct SourcedRecord {
    prompt: String,
    source: String,
    #[serde(default)]
    subset: Option<String>,
    #[serde(default)]
    provenance: Option<String>,
}

/// The optional file of human-written evaluation tasks.
pub const HUMAN_WRITTEN_TASKS: &str = "paired_outputs/self_instruct_252_wide.jsonl";

/// The task-instruction classifier's data from a data folder: model-generated
/// instructions, people's first prompts, and (when the folder has them) the
/// human-written evaluation tasks.
pub fn classifier_prompts(dir: &Path) -> Result<Vec<LabelledPrompt>, SimError> {
    let mut out = Vec::new();
    let mut add = |relative: &str, class: PromptClass| -> Result<(), SimError> {
        for r in read_jsonl::<SourcedRecord>(dir, relative)? {
            let source = match r.subset {
                Some(subset) => format!("{}/{subset}", r.source),
                None => r.source,
            };
            out.push(LabelledPrompt { text: r.prompt, class, source, provenance: r.provenance.unwrap_or_default() });
        }
        Ok(())
    };
    add(REQUIRED_FILES[1], PromptClass::Instruction)?;
    add(REQUIRED_FILES[0], PromptClass::Human)?;
    if dir.join(HUMAN_WRITTEN_TASKS).exists() {
        add(HUMAN_WRITTEN_TASKS, PromptClass::HumanWrittenTask)?;
    }
    Ok(out)
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(dir: &Path, relative: &str) -> Result<Vec<T>, SimError> {
    let path: PathBuf = dir.join(relative);
    let file = std::fs::File::open(&path).map_err(|source| SimError::Io { path: path.clone(), source })?;
    let mut out = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| SimError::Io { path: path.clone(), source })?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line)
            .map_err(|e| SimError::Data { path: path.clone(), message: format!("line {}: {e}", index + 1) })?;
        out.push(record);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calculator_marks_are_removed() {
        let answer = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72";
        assert_eq!(strip_calculator_marks(answer), "Natalia sold 48/2 = 24 clips in May.\nThe answer is 72");
    }

    #[test]
    fn the_halves_are_disjoint_and_cover_the_folder() {
        let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/sample"));
        let whole = Corpus::load(dir).unwrap();
        let fit = Corpus::load_half(dir, Some(Half::Fit)).unwrap();
        let holdout = Corpus::load_half(dir, Some(Half::Holdout)).unwrap();
        assert_eq!(fit.human.len() + holdout.human.len(), whole.human.len());
        assert_eq!(fit.instructions.len() + holdout.instructions.len(), whole.instructions.len());
        assert_eq!(fit.gsm8k.len() + holdout.gsm8k.len(), whole.gsm8k.len());
        assert_eq!(fit.mmlu.len() + holdout.mmlu.len(), whole.mmlu.len());
        assert_eq!(fit.traces.len() + holdout.traces.len(), whole.traces.len());
        let fit_prompts: std::collections::HashSet<&str> = fit.instructions.iter().map(|a| &*a.prompt).collect();
        assert!(holdout.instructions.iter().all(|a| !fit_prompts.contains(&*a.prompt)));
        let fit_humans: std::collections::HashSet<&str> = fit.human.iter().map(|h| &*h.turns[0]).collect();
        assert!(holdout.human.iter().all(|h| !fit_humans.contains(&*h.turns[0])));
    }

    #[test]
    fn a_missing_folder_names_the_file() {
        let err = Corpus::load(Path::new("/nonexistent-data")).unwrap_err().to_string();
        assert!(err.contains("human_prompts/human_prompts.jsonl"), "{err}");
    }
}
