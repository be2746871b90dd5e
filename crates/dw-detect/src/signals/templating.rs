//! Templating: a generator script behind the prompts shows as a shared
//! frame, the same opening or closing words around changing content.

use std::collections::HashMap;

use dw_domain::RequestRecord;

use super::{Family, MIN_REQUESTS_FOR_SHAPE, Signal};

/// Words of a frame at each end of a prompt.
const FRAME_WORDS: usize = 5;

/// A prompt's frame: its first and last few words with numbers, quoted
/// strings and code masked, so that slot fills do not split one template.
pub fn prompt_frame(prompt: &str) -> (String, String) {
    let masked = mask(prompt);
    let words: Vec<&str> = masked.split_whitespace().collect();
    if words.len() <= 2 * FRAME_WORDS {
        let whole = words.join(" ");
        return (whole.clone(), whole);
    }
    (words[..FRAME_WORDS].join(" "), words[words.len() - FRAME_WORDS..].join(" "))
}

fn mask(prompt: &str) -> String {
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

/// Every request's frame, in order: computed once per account and shared by
/// the templating signal and the evidence.
pub fn prompt_frames(requests: &[RequestRecord]) -> Vec<(String, String)> {
    requests.iter().map(|r| prompt_frame(&r.prompt)).collect()
}

pub(super) fn signals(requests: &[RequestRecord], frames: &[(String, String)]) -> Vec<Signal> {
    if requests.len() < MIN_REQUESTS_FOR_SHAPE {
        return vec![Signal::not_computed("template_share", Family::Templating, "fewer than 20 requests")];
    }
    let mut heads: HashMap<&str, (usize, &str)> = HashMap::new();
    let mut tails: HashMap<&str, (usize, &str)> = HashMap::new();
    for (r, (head, tail)) in requests.iter().zip(frames) {
        heads.entry(head).or_insert((0, &r.event_id)).0 += 1;
        tails.entry(tail).or_insert((0, &r.event_id)).0 += 1;
    }
    let top = |m: &HashMap<&str, (usize, &str)>| {
        m.iter().max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.0.cmp(a.0))).map(|(k, v)| (k.to_string(), v.0, v.1.to_owned()))
    };
    let (head, tail) = (top(&heads), top(&tails));
    let (frame, count, example, end) = match (head, tail) {
        (Some(h), Some(t)) if t.1 > h.1 => (t.0, t.1, t.2, "ending"),
        (Some(h), _) => (h.0, h.1, h.2, "opening"),
        _ => return vec![Signal::not_computed("template_share", Family::Templating, "no prompts")],
    };
    vec![Signal::computed(
        "template_share",
        Family::Templating,
        count as f64 / requests.len() as f64,
        format!("{count} of {} prompts share the {end} \"{frame}\"", requests.len()),
        vec![example],
    )]
}

#[cfg(test)]
mod tests {
    use super::super::test_support::request;
    use super::*;

    #[test]
    fn slot_fills_do_not_split_a_frame() {
        let a = prompt_frame("Translate the following text into German, please: \"Hallo 12\" and more words here");
        let b = prompt_frame("Translate the following text into German, please: \"Guten Tag 7\" and more words here");
        assert_eq!(a, b);
        let requests: Vec<_> = (0..30)
            .map(|i| {
                request(i, 0, &format!("Question {i}: what is {} plus {}? Answer with the number only.", i * 3, i))
            })
            .collect();
        let signal = &signals(&requests, &prompt_frames(&requests))[0];
        assert_eq!(signal.value, Some(1.0), "{}", signal.detail);
    }
}
