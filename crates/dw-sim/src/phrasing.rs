//! The words users and scripts wrap around real prompts: system prompts of
//! bots, templates of app backends, chain-of-thought requests in several
//! languages, an evader's rewording, follow-ups.
//!
//! These are the only strings the simulator writes itself; the substance of
//! every prompt and completion comes from [`crate::corpus`].

use rand::Rng;
use rand::seq::IndexedRandom;

/// Requests for step-by-step reasoning, by language, as harvesters of
/// reasoning traces phrase them.
pub const REASONING_REQUESTS: [&str; 10] = [
    "Think step by step and show your full reasoning before giving the final answer.",
    "Explain your complete chain of thought, then state the answer.",
    "请一步一步地思考，写出完整的推理过程，最后给出答案。",
    "Piensa paso a paso y muestra todo tu razonamiento antes de dar la respuesta final.",
    "Réfléchis étape par étape et détaille tout ton raisonnement avant de donner la réponse.",
    "Denke Schritt für Schritt nach und zeige deinen vollständigen Lösungsweg.",
    "Рассуждай шаг за шагом и покажи полный ход решения перед окончательным ответом.",
    "ステップバイステップで考え、推論の過程をすべて示してから最終的な答えを出してください。",
    "Pense passo a passo e mostre todo o seu raciocínio antes da resposta final.",
    "단계별로 생각하고 전체 추론 과정을 보여 준 다음 최종 답을 제시하세요.",
];

/// What an evaluation harness adds to get a bare answer.
pub const ANSWER_ONLY: [&str; 3] =
    ["Answer with the letter of the correct option only.", "Respond with only the letter (A, B, C or D).", "Answer:"];

/// What a one-pass chain-of-thought evaluation asks.
pub const COT_EVAL: [&str; 2] = [
    "Solve the problem. Reason step by step, and finish with \"The answer is\" followed by the number.",
    "Let's think step by step.",
];

/// Wrappers a harvesting script puts around each task to buy a longer answer.
pub const HARVEST_WRAPPERS: [&str; 5] = [
    "{p}",
    "{p}\n\nGive a thorough, well-structured answer.",
    "Task: {p}\n\nRespond in full detail.",
    "{p}\n\nBe comprehensive and include examples where useful.",
    "### Instruction\n{p}\n\n### Response",
];

/// How benchmark replayers ask for a rationale.
pub const RATIONALE_REQUESTS: [&str; 3] = [
    "{p}\n\nExplain your reasoning in detail, then give the final answer.",
    "Question: {p}\n\nWalk through the solution carefully before answering.",
    "{p}\n\nShow all of your work.",
];

/// Evaders' openers: a person's casual way in.
const CASUAL_OPENERS: [&str; 10] = [
    "hey, quick question: ",
    "Hi! ",
    "So I was wondering - ",
    "I'm stuck on something for work. ",
    "can you help me with this? ",
    "My friend asked me this and I don't know: ",
    "ok so ",
    "Hello, ",
    "random thing but ",
    "Need a hand here. ",
];

/// Evaders' closers.
const CASUAL_CLOSERS: [&str; 8] = [" thanks!", " thx", " Thank you so much.", "", " :)", " appreciate it", "", " ty"];

/// Follow-ups that cost a person a second and make a single task look like a chat.
pub const FAKE_FOLLOWUPS: [&str; 8] = [
    "thanks! can you expand on that a bit?",
    "Could you give an example?",
    "great, can you make it more detailed?",
    "ok and why is that?",
    "Can you explain the second part again?",
    "thanks, anything else I should know?",
    "cool. can you summarize that?",
    "makes sense. what would you change?",
];

/// Customer-support system prompt, with the company's name filled in.
pub fn support_system_prompt(company: &str) -> String {
    format!(
        "You are the customer support assistant of {company}. Be friendly, concise and accurate. Only help with \
         questions about {company} accounts, orders and products. Never give legal or medical advice. If the \
         customer asks about a billing dispute or wants to cancel, offer to hand them to a human agent."
    )
}

/// Company names for support bots and app backends.
pub const COMPANIES: [&str; 12] = [
    "Northwind Outfitters",
    "Brightpath Telecom",
    "Cobalt Bank",
    "Lumen Home Goods",
    "Harbor Air",
    "Quillstone Books",
    "Verde Energy",
    "Atlas Fitness",
    "Pinecrest Insurance",
    "Orbit Games",
    "Saffron Meals",
    "Keystone Realty",
];

/// App-backend templates: `{t}` is the user's input.
pub const APP_TEMPLATES: [&str; 6] = [
    "Write an engaging, SEO-friendly blog post of at least 600 words about the following topic. Use headings.\n\nTopic: {t}",
    "You are a writing assistant inside a note-taking app. Expand the user's note into a well-organized document.\n\nNote: {t}",
    "Rewrite the following message so it is clear, polite and professional. Keep the meaning.\n\nMessage: {t}",
    "Create a detailed study guide with key concepts, explanations and practice questions for: {t}",
    "Generate a product FAQ with ten questions and thorough answers for a product described as: {t}",
    "Write a detailed, friendly explanation for a beginner of the following question: {t}",
];

/// Target languages of translation batch jobs.
pub const TRANSLATION_LANGUAGES: [&str; 8] =
    ["German", "French", "Spanish", "Japanese", "Portuguese", "Italian", "Korean", "Dutch"];

/// A developer's system prompts while building something.
pub const DEVELOPER_SYSTEM_PROMPTS: [&str; 6] = [
    "You are a helpful assistant.",
    "You are a concise coding assistant. Answer with code first, then a short explanation.",
    "Respond only in valid JSON with the keys \"answer\" and \"confidence\".",
    "You are a helpful assistant for our internal documentation search. Cite sources when you can.",
    "You are a friendly tutor. Keep answers under 200 words.",
    "You summarize content for busy executives.",
];

/// A developer's edits when re-asking the same prompt.
pub const DEVELOPER_EDITS: [&str; 5] = [
    "\n\nKeep it shorter.",
    "\n\nUse bullet points.",
    "\n\nAnswer in one paragraph.",
    " Be precise.",
    "\n\nFormat as markdown.",
];

/// Fills `{p}` (or `{t}`) in a template.
pub fn fill(template: &str, text: &str) -> String {
    template.replace("{p}", text).replace("{t}", text)
}

/// Rewords a prompt the way an evader's script does: a casual opener, the
/// first letter lowered, final punctuation dropped, a typo or two, a closer.
pub fn casualize<R: Rng>(rng: &mut R, prompt: &str) -> String {
    let opener = CASUAL_OPENERS.choose(rng).copied().unwrap_or("");
    let closer = CASUAL_CLOSERS.choose(rng).copied().unwrap_or("");
    let mut body: String = prompt.trim().to_owned();
    if rng.random_bool(0.6) {
        let mut chars = body.chars();
        if let Some(first) = chars.next() {
            body = first.to_lowercase().chain(chars).collect();
        }
    }
    if rng.random_bool(0.5) {
        while body.ends_with(['.', '!']) {
            body.pop();
        }
    }
    for _ in 0..rng.random_range(0..=2) {
        body = swap_adjacent_letters(rng, &body);
    }
    format!("{opener}{body}{closer}")
}

/// A typo: two neighbouring ASCII letters swapped somewhere in the text.
fn swap_adjacent_letters<R: Rng>(rng: &mut R, text: &str) -> String {
    let mut bytes: Vec<char> = text.chars().collect();
    if bytes.len() < 4 {
        return text.to_owned();
    }
    for _ in 0..8 {
        let i = rng.random_range(0..bytes.len() - 1);
        if bytes[i].is_ascii_alphabetic() && bytes[i + 1].is_ascii_alphabetic() {
            bytes.swap(i, i + 1);
            break;
        }
    }
    bytes.into_iter().collect()
}

/// The first line of a text, cut to at most `max` characters at a word boundary.
pub fn headline(text: &str, max: usize) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    if line.chars().count() <= max {
        return line.to_owned();
    }
    let cut: String = line.chars().take(max).collect();
    if line.chars().nth(max).is_some_and(char::is_whitespace) {
        return cut;
    }
    match cut.rfind(' ') {
        Some(space) if space > max / 2 => cut[..space].to_owned(),
        _ => cut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn casualized_prompts_keep_their_substance() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let prompt = "Write a Python function that reverses a linked list.";
        for _ in 0..50 {
            let reworded = casualize(&mut rng, prompt);
            assert_ne!(reworded, prompt);
            assert!(
                reworded.to_lowercase().contains("linked")
                    || reworded.to_lowercase().contains("lniked")
                    || reworded.to_lowercase().contains("reverses")
                    || reworded.contains("list"),
                "{reworded}"
            );
        }
    }

    #[test]
    fn headlines_cut_at_words() {
        assert_eq!(headline("\n  Hello there, how are you today?\nmore", 16), "Hello there, how");
        assert_eq!(headline("Hello there, however", 16), "Hello there,");
        assert_eq!(headline("short", 16), "short");
    }
}
