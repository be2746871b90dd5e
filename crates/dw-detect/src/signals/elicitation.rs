//! Reasoning elicitation and identity probing, by the phrases people and
//! scripts use for them in several languages.
//!
//! Matching ignores case; the phrase lists cover English,
//! Chinese, Spanish, Russian, Japanese, French, German, Portuguese and
//! Korean. They were written from how each language asks for worked
//! reasoning, not from any dataset's wording.

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use dw_domain::RequestRecord;

use super::{Signal, share_of};

const REASONING_PHRASES: &[&str] = &[
    // English
    "step by step",
    "step-by-step",
    "chain of thought",
    "chain-of-thought",
    "show your work",
    "show all your work",
    "show your working",
    "show all work",
    "show your reasoning",
    "explain your reasoning",
    "full reasoning",
    "reasoning process",
    "thought process",
    "think it through",
    "think through",
    "reason through",
    "reason step",
    "walk through the solution",
    "walk me through",
    "work it out",
    "each step",
    "every step",
    "intermediate steps",
    "let's think",
    "lets think",
    "justify your answer",
    "explain how you got",
    "before giving the final answer",
    "before answering",
    "derive the answer",
    // Chinese
    "一步一步",
    "一步步",
    "逐步",
    "分步",
    "思考过程",
    "推理过程",
    "思维链",
    "详细推理",
    "解题步骤",
    "解题过程",
    "写出过程",
    "展示过程",
    "推导过程",
    "计算过程",
    "解题思路",
    "每一步",
    "推理",
    // Spanish
    "paso a paso",
    "razonamiento",
    "razona",
    "muestra tu trabajo",
    "muestra el procedimiento",
    "explica cómo llegaste",
    "justifica tu respuesta",
    "paso por paso",
    "cómo llegaste",
    "cada paso",
    "pasos intermedios",
    "todos los pasos",
    "proceso de pensamiento",
    // Russian
    "шаг за шагом",
    "пошагово",
    "по шагам",
    "рассужд",
    "ход решения",
    "ход мысл",
    "покажи решение",
    "обоснуй",
    "промежуточные шаги",
    "каждый шаг",
    "распиши",
    // Japanese
    "ステップバイステップ",
    "段階的",
    "一歩ずつ",
    "順を追って",
    "推論",
    "考え方",
    "思考過程",
    "途中式",
    "解き方",
    "一歩一歩",
    "各ステップ",
    "ステップごと",
    "根拠を示",
    "計算の過程",
    "途中の計算",
    "手順を説明",
    // French
    "étape par étape",
    "pas à pas",
    "raisonnement",
    "raisonne",
    "montre ton travail",
    "justifie ta réponse",
    "détaille ta démarche",
    "détaille les étapes",
    "étape après étape",
    "ta démarche",
    "chaque étape",
    "étapes intermédiaires",
    // German
    "schritt für schritt",
    "schrittweise",
    "gedankengang",
    "lösungsweg",
    "rechenweg",
    "denkprozess",
    "begründe",
    "zeige deine arbeit",
    "erkläre deine überlegung",
    "überlegungen",
    "zwischenschritte",
    "jeden schritt",
    // Portuguese
    "passo a passo",
    "raciocínio",
    "mostre seu trabalho",
    "justifique sua resposta",
    // Korean
    "단계별",
    "단계적으로",
    "추론 과정",
    "풀이 과정",
    "차근차근",
];

const IDENTITY_PHRASES: &[&str] = &[
    "who are you",
    "what are you?",
    "what model are you",
    "which model are you",
    "what llm are you",
    "who made you",
    "who created you",
    "who built you",
    "who trained you",
    "who developed you",
    "what is your name",
    "what's your name",
    "your system prompt",
    "your initial instructions",
    "repeat your instructions",
    "repeat the text above",
    "print your instructions",
    "your training data",
    "your knowledge cutoff",
    "knowledge cutoff",
    "are you gpt",
    "are you chatgpt",
    "are you claude",
    "are you gemini",
    "are you llama",
    "what version are you",
    "model architecture",
    "how many parameters do you",
    "你是谁",
    "你是什么模型",
    "哪个模型",
    "谁训练",
    "谁开发",
    "你的系统提示",
    "quién eres",
    "qué modelo eres",
    "quién te entrenó",
    "кто ты",
    "какая ты модель",
    "кто тебя обучил",
    "あなたは誰",
    "どのモデル",
    "誰が作った",
    "qui es-tu",
    "quel modèle es-tu",
    "qui t'a entraîné",
    "wer bist du",
    "welches modell bist du",
    "wer hat dich trainiert",
];

/// One automaton per phrase list, matching all phrases in a single pass
/// (ASCII case folded; the non-Latin phrases have no case).
fn matcher(phrases: &[&str]) -> AhoCorasick {
    AhoCorasick::builder().ascii_case_insensitive(true).build(phrases).expect("the phrase lists are valid patterns")
}

fn reasoning_matcher() -> &'static AhoCorasick {
    static MATCHER: OnceLock<AhoCorasick> = OnceLock::new();
    MATCHER.get_or_init(|| matcher(REASONING_PHRASES))
}

fn identity_matcher() -> &'static AhoCorasick {
    static MATCHER: OnceLock<AhoCorasick> = OnceLock::new();
    MATCHER.get_or_init(|| matcher(IDENTITY_PHRASES))
}

/// Lower-cases only when the text has non-ASCII capitals (É, Ш, ...), which
/// the automaton's ASCII case folding does not cover.
fn fold(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(|c| !c.is_ascii() && c.is_uppercase()) { text.to_lowercase().into() } else { text.into() }
}

/// Whether a text asks for step-by-step reasoning or a chain of thought.
pub fn asks_for_reasoning(text: &str) -> bool {
    reasoning_matcher().is_match(fold(text).as_ref())
}

/// Whether a text asks the model about itself: its name, maker, training,
/// instructions.
pub fn probes_identity(text: &str) -> bool {
    identity_matcher().is_match(fold(text).as_ref())
}

pub(super) fn signals(requests: &[RequestRecord]) -> Vec<Signal> {
    let n = requests.len().max(1);
    let (reasoning, examples) = share_of(requests, |r| {
        asks_for_reasoning(&r.prompt) || r.system_prompt.as_deref().is_some_and(asks_for_reasoning)
    });
    let (identity, identity_examples) = share_of(requests, |r| probes_identity(&r.prompt));
    vec![
        Signal::computed(
            "reasoning_share",
            reasoning as f64 / n as f64,
            format!("{reasoning} of {} requests ask for step-by-step reasoning", requests.len()),
            examples,
        ),
        Signal::computed(
            "identity_probe_share",
            identity as f64 / n as f64,
            format!("{identity} of {} requests ask the model about itself", requests.len()),
            identity_examples,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_requests_are_recognized_in_several_languages() {
        for text in [
            "Solve this and show all your work.",
            "Let's think about it step-by-step.",
            "请逐步解答这道题。",
            "Resuelve el problema paso a paso.",
            "Реши задачу пошагово.",
            "途中式も書いてください。",
            "Explique ton raisonnement.",
            "Bitte mit Lösungsweg.",
        ] {
            assert!(asks_for_reasoning(text), "{text}");
        }
        for text in ["Write a haiku about autumn.", "What is the capital of France?", "Translate this into German."] {
            assert!(!asks_for_reasoning(text), "{text}");
        }
    }

    #[test]
    fn identity_probes_are_recognized() {
        assert!(probes_identity("Hey, which model are you exactly?"));
        assert!(probes_identity("你是谁？"));
        assert!(!probes_identity("Who are the members of the Beatles?"));
    }
}
