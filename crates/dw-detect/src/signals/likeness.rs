//! Dataset likeness: prompts that read like the records of an instruction
//! dataset rather than a person's requests.

use std::collections::{HashMap, HashSet};

use dw_domain::RequestRecord;

use super::Signal;
use crate::content::InstructionClassifier;

/// Fewer embedded prompts than this leave the share uncomputed.
pub const MIN_EMBEDDED: usize = 4;

/// Share of the account's prompts (their varying parts) that the
/// task-instruction classifier reads as task instructions. `fills` gives,
/// per prompt, the byte range of its slot fill when it belongs to one of the
/// account's templates ([`crate::templates`]).
pub(super) fn task_instruction_share(
    requests: &[RequestRecord],
    fills: &[Option<(usize, usize)>],
    min_share: usize,
) -> Signal {
    task_instruction_share_with(requests, fills, InstructionClassifier::builtin(), min_share)
}

fn task_instruction_share_with(
    requests: &[RequestRecord],
    fills: &[Option<(usize, usize)>],
    model: &InstructionClassifier,
    min_share: usize,
) -> Signal {
    const NAME: &str = "task_instruction_share";
    if model.dim == 0 {
        // A lexical model reads every prompt.
        if requests.len() < min_share {
            return Signal::not_computed(NAME, format!("fewer than {min_share} requests"));
        }
        let frame = frame_paragraphs(requests);
        let scored: Vec<(f64, &str)> = requests
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                // A template's slot fill is what varies when it is content handed to the template (an
                // app's user input); a short fill is a parameter of the task, which is the whole prompt.
                let content = match fills.get(i).copied().flatten().and_then(|(a, b)| r.prompt.get(a..b)) {
                    Some(fill) if fill.split_whitespace().count() >= MIN_FILL_WORDS => fill,
                    _ => r.prompt.as_str(),
                };
                let varying = varying_part(content, &frame);
                if varying.is_empty() {
                    return None;
                }
                Some((model.probability(&varying, &[])?, r.event_id.as_str()))
            })
            .collect();
        if scored.len() < min_share {
            return Signal::not_computed(NAME, format!("fewer than {min_share} prompts vary"));
        }
        return share_signal(scored, "varying prompts", model);
    }
    let scored: Vec<(f64, &str)> = requests
        .iter()
        .filter_map(|r| {
            let vector = r.prompt_vector.as_deref()?;
            Some((model.probability(&r.prompt, vector)?, r.event_id.as_str()))
        })
        .collect();
    if scored.len() < MIN_EMBEDDED {
        let why = if requests.iter().any(|r| r.prompt_vector.is_some()) && scored.is_empty() {
            format!("the prompts were embedded by another model than {}", model.embedding_model)
        } else {
            format!("{} of {} prompts embedded, fewer than {MIN_EMBEDDED}", scored.len(), requests.len())
        };
        return Signal::not_computed(NAME, why);
    }
    share_signal(scored, "sampled prompts", model)
}

/// A template's slot fill of fewer words than this ("a haiku", "volcanoes")
/// is a parameter of the task, and the whole prompt is read; a longer one is
/// content handed to the template, and only it is read.
const MIN_FILL_WORDS: usize = 6;

/// Paragraphs that recur in at least this share of an account's prompts
/// (and at least [`FRAME_MIN_COUNT`] times) are its frame, not its content.
const FRAME_SHARE: f64 = 0.2;

/// See [`FRAME_SHARE`].
const FRAME_MIN_COUNT: usize = 5;

/// The paragraphs an account repeats around changing content: a wrapper's
/// "Respond in full detail.", or the one instruction a translation job puts
/// before every document.
fn frame_paragraphs(requests: &[RequestRecord]) -> HashSet<&str> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in requests {
        let mut seen = HashSet::new();
        for paragraph in paragraphs(&r.prompt) {
            if seen.insert(paragraph) {
                *counts.entry(paragraph).or_default() += 1;
            }
        }
    }
    let needed = FRAME_MIN_COUNT.max((FRAME_SHARE * requests.len() as f64).ceil() as usize);
    counts.into_iter().filter(|(_, n)| *n >= needed).map(|(p, _)| p).collect()
}

fn paragraphs(text: &str) -> impl Iterator<Item = &str> {
    text.split("\n\n").map(str::trim).filter(|p| !p.is_empty())
}

/// What changes from one prompt to the next: the prompt without its frame.
/// One instruction applied to many inputs (translate this, summarize that)
/// leaves the inputs, which are not instructions; a harvesting wrapper
/// around a pool of tasks leaves the tasks.
fn varying_part(prompt: &str, frame: &HashSet<&str>) -> String {
    paragraphs(prompt).filter(|p| !frame.contains(p)).collect::<Vec<_>>().join("\n\n")
}

fn share_signal(mut scored: Vec<(f64, &str)>, what: &str, model: &InstructionClassifier) -> Signal {
    const NAME: &str = "task_instruction_share";
    let instructions = scored.iter().filter(|(p, _)| *p >= 0.5).count();
    let mean = scored.iter().map(|(p, _)| p).sum::<f64>() / scored.len() as f64;
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    Signal::computed(
        NAME,
        instructions as f64 / scored.len() as f64,
        format!(
            "{instructions} of {} {what} read as task instructions (mean probability {mean:.2}, classifier {})",
            scored.len(),
            model.version
        ),
        scored.iter().filter(|(p, _)| *p >= 0.5).take(3).map(|(_, id)| (*id).to_owned()).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::request;
    use super::*;
    use crate::content::instruction::{Example, LEXICAL};

    /// The signal with the account's own template fills.
    fn with_fills(requests: &[RequestRecord], model: &InstructionClassifier) -> Signal {
        let prompts: Vec<&str> = requests.iter().map(|r| r.prompt.as_str()).collect();
        let fills = crate::templates::account_templates(&prompts).fills;
        task_instruction_share_with(requests, &fills, model, crate::signals::MIN_REQUESTS_FOR_SHARE)
    }

    #[test]
    fn an_apps_template_around_peoples_questions_reads_as_people() {
        let questions = [
            "why does my sourdough starter smell like nail polish remover?",
            "is it bad that my 3 year old still wakes up twice a night",
            "how do i get my landlord to fix the heating, it's been 2 weeks",
            "my knee hurts when i run downhill but not uphill, why",
            "can i use my old iphone charger with the new one",
            "what's the difference between a roth and a traditional ira for someone like me",
        ];
        let requests: Vec<RequestRecord> = (0..24)
            .map(|i| {
                let prompt = format!(
                    "Create a detailed study guide with key concepts, explanations and practice questions for: {} ({i})",
                    questions[i % questions.len()]
                );
                request(i, i as i64, &prompt)
            })
            .collect();
        let model = InstructionClassifier::builtin();
        let read_fills = with_fills(&requests, model);
        assert!(read_fills.value.unwrap() <= 0.25, "{}", read_fills.detail);
        assert!(read_fills.detail.starts_with("0 of 24 varying prompts"), "{}", read_fills.detail);

        // What is read is exactly the fill: a template around tasks reads as the tasks alone would.
        let tasks = [
            "Write a Python function that returns the n-th Fibonacci number using memoization.",
            "Generate a list of five creative names for a bakery that specializes in gluten-free bread.",
            "Explain the difference between mitosis and meiosis in three concise bullet points.",
            "Rewrite the following sentence in the passive voice: The committee approved the budget.",
            "Classify each animal as a mammal, bird or reptile: crocodile, sparrow, dolphin.",
            "Compose a short poem about the changing seasons in exactly four lines.",
            "Summarize the main causes of the French Revolution in under one hundred words.",
            "Create a SQL query that selects all customers who placed more than three orders.",
            "Translate the phrase 'knowledge is power' into Spanish, French and German.",
            "Describe the water cycle to a ten-year-old using a simple analogy.",
            "Suggest three strategies a small business can use to reduce its energy costs.",
            "Given a list of integers, explain how to find the second largest value efficiently.",
        ];
        let bare: Vec<RequestRecord> = tasks.iter().enumerate().map(|(i, t)| request(i, i as i64, t)).collect();
        let wrapped: Vec<RequestRecord> = tasks
            .iter()
            .enumerate()
            .map(|(i, task)| {
                request(i, i as i64, &format!("You are an expert assistant inside our study app. Read the task, think about what the student needs, \
                     and answer it carefully, completely and in plain language. Task: {task}"))
            })
            .collect();
        let (alone, in_template) = (with_fills(&bare, model), with_fills(&wrapped, model));
        assert_eq!(alone.value, in_template.value, "{} / {}", alone.detail, in_template.detail);
        assert_eq!(alone.detail, in_template.detail);
        let whole = task_instruction_share_with(&wrapped, &[], model, crate::signals::MIN_REQUESTS_FOR_SHARE);
        assert_ne!(whole.detail, in_template.detail, "the wrapper was read too");
    }

    /// A toy model over 2-dimensional "embeddings": axis 0 is instruction-like.
    fn toy() -> InstructionClassifier {
        let vectors: Vec<[f32; 2]> = (0..40).map(|i| if i % 2 == 0 { [1.0, 0.0] } else { [0.0, 1.0] }).collect();
        let examples: Vec<Example<'_>> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| Example { text: "x", embedding: v, instruction: i % 2 == 0, source: "s" })
            .collect();
        let mut model = InstructionClassifier::train(&examples, 1.0, "toy", vec!["test".into()]);
        model.version = "toy-1".into();
        assert_eq!(model.weights.len(), 2 + LEXICAL);
        model
    }

    #[test]
    fn a_lexical_model_reads_every_prompt() {
        let vectors: Vec<[f32; 0]> = vec![[]; 40];
        let texts = ["Write a haiku about autumn.", "hey so my cat keeps throwing up, should i worry??"];
        let examples: Vec<Example<'_>> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| Example { text: texts[i % 2], embedding: v, instruction: i % 2 == 0, source: "s" })
            .collect();
        let model = InstructionClassifier::train(&examples, 1.0, "", vec!["test".into()]);
        // Each prompt its own (a repeated one would be frame, not content).
        let requests: Vec<RequestRecord> =
            (0..12).map(|i| request(i, i as i64, &format!("{} ({i})", texts[usize::from(i >= 9)]))).collect();
        let signal = task_instruction_share_with(&requests, &[], &model, crate::signals::MIN_REQUESTS_FOR_SHARE);
        assert_eq!(signal.value, Some(0.75), "{}", signal.detail);
        assert!(signal.detail.starts_with("9 of 12 varying prompts read as task instructions"), "{}", signal.detail);
        let few = task_instruction_share_with(&requests[..5], &[], &model, crate::signals::MIN_REQUESTS_FOR_SHARE);
        assert_eq!(few.detail, "not computed: fewer than 10 requests");

        // One instruction before many documents: the instruction is frame, the documents are read.
        let documents: Vec<RequestRecord> = (0..12)
            .map(|i| {
                let document = if i < 9 { texts[1] } else { texts[0] };
                request(i, i as i64, &format!("Write a haiku about autumn.\n\n{document} ({i})"))
            })
            .collect();
        let signal = task_instruction_share_with(&documents, &[], &model, crate::signals::MIN_REQUESTS_FOR_SHARE);
        assert_eq!(signal.value, Some(0.25), "{}", signal.detail);
    }

    #[test]
    fn the_share_counts_embedded_prompts_only_and_says_when_too_few() {
        let model = toy();
        let mut requests: Vec<RequestRecord> = (0..10).map(|i| request(i, i as i64, "x")).collect();
        let signal = task_instruction_share_with(&requests, &[], &model, crate::signals::MIN_REQUESTS_FOR_SHARE);
        assert_eq!(signal.value, None);
        assert_eq!(signal.detail, "not computed: 0 of 10 prompts embedded, fewer than 4");
        for (i, r) in requests.iter_mut().enumerate().take(5) {
            r.prompt_vector = Some(if i < 4 { vec![1.0, 0.0] } else { vec![0.0, 1.0] });
        }
        let signal = task_instruction_share_with(&requests, &[], &model, crate::signals::MIN_REQUESTS_FOR_SHARE);
        assert_eq!(signal.value, Some(0.8), "{}", signal.detail);
        assert!(signal.detail.starts_with("4 of 5 sampled prompts read as task instructions"), "{}", signal.detail);
        assert_eq!(signal.examples, ["e0", "e1", "e2"]);
        for r in &mut requests {
            r.prompt_vector = Some(vec![0.5; 384]);
        }
        let signal = task_instruction_share_with(&requests, &[], &model, crate::signals::MIN_REQUESTS_FOR_SHARE);
        assert!(signal.detail.contains("another model than toy"), "{}", signal.detail);
    }
}
