//! Coverage: how an account's prompts spread over the window's topics
//! ([`crate::topics`]), and how often it asks again, in other words, what it
//! asked before. Read from the prompts the audit embedded (a per-account daily
//! sample on CPU), so every count here is over that sample.

use std::collections::HashMap;

use dw_domain::RequestRecord;

use super::Signal;
use crate::topics::{Topics, dot, unit};

/// Fewer embedded prompts than this leave the coverage signals uncomputed.
pub const MIN_EMBEDDED: usize = 8;

/// A prompt at least this close (cosine) to an earlier prompt of the account
/// with other wording asks the same thing again.
pub const REASK_SIMILARITY: f32 = 0.85;

/// At most this many embedded prompts (spread evenly over the account's) are
/// compared pairwise for re-asks, so a fully embedded heavy account costs a
/// bounded amount.
const MAX_REASK_PROMPTS: usize = 512;

/// `topic_entropy`, `topic_evenness` and `reask_share`.
pub(super) fn signals(requests: &[RequestRecord], topics: Option<&Topics>) -> Vec<Signal> {
    const NAMES: [&str; 3] = ["topic_entropy", "topic_evenness", "reask_share"];
    let not_computed = |why: String| NAMES.map(|name| Signal::not_computed(name, why.clone())).to_vec();
    let Some(topics) = topics else {
        return not_computed("the window has no topics: the audit embedded no prompts, or fewer than 20".into());
    };
    let embedded: Vec<(&RequestRecord, usize, Vec<f32>)> = requests
        .iter()
        .filter_map(|r| {
            let vector = r.prompt_vector.as_deref()?;
            let (topic, _) = topics.assign(vector)?;
            Some((r, topic, unit(vector)))
        })
        .collect();
    if embedded.len() < MIN_EMBEDDED {
        return not_computed(format!(
            "{} of {} prompts embedded, fewer than {MIN_EMBEDDED}",
            embedded.len(),
            requests.len()
        ));
    }
    let n = embedded.len();
    let mut counts: HashMap<usize, (usize, &str)> = HashMap::new();
    for (r, topic, _) in &embedded {
        counts.entry(*topic).or_insert((0, r.event_id.as_str())).0 += 1;
    }
    let entropy: f64 = counts
        .values()
        .map(|(c, _)| {
            let p = *c as f64 / n as f64;
            -p * p.log2()
        })
        .sum();
    let evenness = entropy / (n.min(topics.len()) as f64).log2();
    let mut by_size: Vec<(usize, usize, &str)> = counts.iter().map(|(t, (c, e))| (*c, *t, *e)).collect();
    by_size.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let largest = by_size[0].0;
    let spread = format!(
        "{n} embedded prompts over {} of the window's {} topics; the largest holds {largest} ({:.0}%)",
        counts.len(),
        topics.len(),
        100.0 * largest as f64 / n as f64
    );
    let examples: Vec<String> = by_size.iter().take(3).map(|(_, _, e)| (*e).to_owned()).collect();
    let (reasks, compared, reask_examples) = reasks(&embedded);
    vec![
        Signal::computed("topic_entropy", entropy, format!("{entropy:.2} bits: {spread}"), examples.clone()),
        Signal::computed("topic_evenness", evenness, spread, examples),
        Signal::computed(
            "reask_share",
            reasks as f64 / compared as f64,
            format!(
                "{reasks} of {compared} embedded prompts ask an earlier one again in other words (cosine >= {REASK_SIMILARITY})"
            ),
            reask_examples,
        ),
    ]
}

/// How many of the compared prompts re-ask an earlier one (same topic,
/// cosine at least [`REASK_SIMILARITY`], other wording), out of how many,
/// with up to three example ids.
fn reasks(embedded: &[(&RequestRecord, usize, Vec<f32>)]) -> (usize, usize, Vec<String>) {
    let step = embedded.len().div_ceil(MAX_REASK_PROMPTS);
    let picked: Vec<&(&RequestRecord, usize, Vec<f32>)> = embedded.iter().step_by(step).collect();
    let mut earlier: HashMap<usize, Vec<(String, &[f32])>> = HashMap::new();
    let mut count = 0;
    let mut examples = Vec::new();
    for (r, topic, vector) in &picked {
        let wording = normalized(&r.prompt);
        let same_topic = earlier.entry(*topic).or_default();
        if same_topic.iter().any(|(w, v)| *w != wording && dot(v, vector) >= REASK_SIMILARITY) {
            count += 1;
            if examples.len() < 3 {
                examples.push(r.event_id.clone());
            }
        }
        same_topic.push((wording, vector.as_slice()));
    }
    (count, picked.len(), examples)
}

/// Case and spacing aside, as `repeat_share` compares prompts: a repeat in
/// the same words is that signal's, not this one's.
fn normalized(prompt: &str) -> String {
    prompt.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::test_support::request;
    use crate::topics::tests::blobs;

    fn embedded(prompts_and_vectors: impl IntoIterator<Item = (String, Vec<f32>)>) -> Vec<RequestRecord> {
        prompts_and_vectors
            .into_iter()
            .enumerate()
            .map(|(i, (prompt, vector))| {
                let mut r = request(i, i as i64 * 60_000, &prompt);
                r.prompt_vector = Some(vector);
                r
            })
            .collect()
    }

    fn value(signals: &[Signal], name: &str) -> Option<f64> {
        signals.iter().find(|s| s.name == name).unwrap().value
    }

    #[test]
    fn a_sweep_spreads_evenly_and_a_person_stays_on_few_topics() {
        let window = blobs(8, 10, 64);
        let topics = Topics::fit(&window).unwrap();
        assert_eq!(topics.len(), 8);
        // A sweep: one prompt from every topic, twice over, all different.
        let sweep = embedded(window.iter().take(16).enumerate().map(|(i, v)| (format!("task {i}"), v.clone())));
        let sweep = signals(&sweep, Some(&topics));
        // A person: sixteen prompts on two topics.
        let person = embedded(
            window.iter().enumerate().filter(|(i, _)| i % 8 < 2).take(16).map(|(i, v)| (format!("q {i}"), v.clone())),
        );
        let person = signals(&person, Some(&topics));
        assert!((value(&sweep, "topic_entropy").unwrap() - 3.0).abs() < 1e-9, "{sweep:?}");
        assert!((value(&sweep, "topic_evenness").unwrap() - 1.0).abs() < 1e-9);
        assert!((value(&person, "topic_entropy").unwrap() - 1.0).abs() < 1e-9, "{person:?}");
        assert!(value(&person, "topic_evenness").unwrap() < 0.35);
        assert_eq!(sweep[1].detail, "16 embedded prompts over 8 of the window's 8 topics; the largest holds 2 (12%)");
        assert_eq!(sweep[0].examples.len(), 3);
    }

    #[test]
    fn rewording_an_earlier_prompt_is_a_reask_and_repeating_it_is_not() {
        // Eight prompts on eight topics: nothing asked twice.
        let window = blobs(8, 10, 64);
        let topics = Topics::fit(&window).unwrap();
        let mut prompts: Vec<(String, Vec<f32>)> =
            window.iter().take(8).enumerate().map(|(i, v)| (format!("distinct {i}"), v.clone())).collect();
        // The same words again (case aside): repeat_share's, not a re-ask.
        prompts.push(("DISTINCT 0".into(), window[0].clone()));
        // Other words, same meaning: a re-ask.
        prompts.push(("reworded one".into(), window[1].clone()));
        let account = signals(&embedded(prompts), Some(&topics));
        let reask = account.iter().find(|s| s.name == "reask_share").unwrap();
        assert!((reask.value.unwrap() - 0.1).abs() < 1e-9, "{reask:?}");
        assert_eq!(reask.examples, vec!["e9".to_string()]);
    }

    #[test]
    fn without_topics_or_enough_vectors_coverage_says_why() {
        let window = blobs(4, 10, 64);
        let topics = Topics::fit(&window).unwrap();
        let few = embedded(window.iter().take(5).enumerate().map(|(i, v)| (format!("p {i}"), v.clone())));
        let mut plain: Vec<RequestRecord> = (0..20).map(|i| request(100 + i, 0, "unembedded")).collect();
        plain.extend(few);
        for s in signals(&plain, Some(&topics)) {
            assert_eq!(s.value, None);
            assert_eq!(s.detail, "not computed: 5 of 25 prompts embedded, fewer than 8");
        }
        for s in signals(&plain, None) {
            assert!(s.detail.starts_with("not computed: the window has no topics"), "{}", s.detail);
        }
    }
}
