//! Templating: a generator script behind the prompts shows as a shared
//! frame (the same opening or closing words around changing content) and as
//! templates (near-duplicate prompts, [`crate::templates`]) whose slots it
//! fills with ever new content.

use std::collections::HashMap;

use dw_domain::RequestRecord;

use super::{MIN_REQUESTS_FOR_SHAPE, Signal};
use crate::templates::Templates;

/// Words of a frame at each end of a prompt.
const FRAME_WORDS: usize = 5;

/// A prompt's frame: its first and last few words with numbers, quoted
/// strings and code masked, so that slot fills do not split one template.
pub fn prompt_frame(prompt: &str) -> (String, String) {
    frame_of_masked(&crate::templates::mask(prompt))
}

/// [`prompt_frame`] of a prompt already masked ([`crate::templates::mask`]).
pub(crate) fn frame_of_masked(masked: &str) -> (String, String) {
    let words: Vec<&str> = masked.split_whitespace().collect();
    if words.len() <= 2 * FRAME_WORDS {
        let whole = words.join(" ");
        return (whole.clone(), whole);
    }
    (words[..FRAME_WORDS].join(" "), words[words.len() - FRAME_WORDS..].join(" "))
}

pub(super) fn signals(requests: &[RequestRecord], frames: &[(String, String)], templates: &Templates) -> Vec<Signal> {
    if requests.len() < MIN_REQUESTS_FOR_SHAPE {
        return ["frame_share", "template_share", "slot_fill_diversity"]
            .into_iter()
            .map(|name| Signal::not_computed(name, "fewer than 20 requests"))
            .collect();
    }
    let mut out = vec![frame_share(requests, frames)];
    out.extend(template_signals(requests, templates));
    out
}

/// Templates whose prompts count toward `template_share` and whose fills
/// toward `slot_fill_diversity`.
pub const TOP_TEMPLATES: usize = 3;

/// Templated prompts needed for `slot_fill_diversity`.
const MIN_TEMPLATED_FOR_FILLS: usize = 10;

fn template_signals(requests: &[RequestRecord], templates: &Templates) -> Vec<Signal> {
    let top = &templates.templates[..templates.templates.len().min(TOP_TEMPLATES)];
    let templated: usize = top.iter().map(|t| t.members.len()).sum();
    let examples = |t: Option<&crate::templates::Template>| {
        t.map(|t| t.members.iter().take(3).map(|m| requests[*m].event_id.clone()).collect()).unwrap_or_default()
    };
    let described = top
        .iter()
        .map(|t| format!("{} × \"{}\"", t.members.len(), cut(&t.frame_text(), 80)))
        .collect::<Vec<_>>()
        .join(", ");
    let share = Signal::computed(
        "template_share",
        templated as f64 / requests.len() as f64,
        if top.is_empty() {
            format!("no two of {} prompts are near duplicates", requests.len())
        } else {
            format!("{templated} of {} prompts in its {} largest templates: {described}", requests.len(), top.len())
        },
        examples(top.first()),
    );
    let fills = if templated < MIN_TEMPLATED_FOR_FILLS {
        Signal::not_computed(
            "slot_fill_diversity",
            format!("{templated} templated prompts, fewer than {MIN_TEMPLATED_FOR_FILLS}"),
        )
    } else {
        let distinct: usize = top.iter().map(|t| t.distinct_fills).sum();
        Signal::computed(
            "slot_fill_diversity",
            distinct as f64 / templated as f64,
            format!("{distinct} distinct slot fills in {templated} templated prompts"),
            examples(top.first()),
        )
    };
    vec![share, fills]
}

fn cut(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(chars).collect::<String>())
    }
}

fn frame_share(requests: &[RequestRecord], frames: &[(String, String)]) -> Signal {
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
        _ => return Signal::not_computed("frame_share", "no prompts"),
    };
    Signal::computed(
        "frame_share",
        count as f64 / requests.len() as f64,
        format!("{count} of {} prompts share the {end} \"{frame}\"", requests.len()),
        vec![example],
    )
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
        let structure = crate::signals::PromptStructure::of(&requests);
        let signals = signals(&requests, &structure.frames, &structure.templates);
        let names: Vec<_> = signals.iter().map(|s| s.name).collect();
        assert_eq!(names, ["frame_share", "template_share", "slot_fill_diversity"]);
        assert_eq!(signals[0].value, Some(1.0), "{}", signals[0].detail);
        assert_eq!(signals[1].value, Some(1.0), "{}", signals[1].detail);
        assert_eq!(signals[2].value, Some(1.0), "{}", signals[2].detail);
        assert!(signals[1].detail.starts_with("30 of 30 prompts in its 1 largest templates"), "{}", signals[1].detail);
    }
}
