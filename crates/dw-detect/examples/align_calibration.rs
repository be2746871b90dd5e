//! How prompt alignment (`dw_detect::reference::align`) behaves on real
//! prompts: how many distinct prompts it would wrongly take for one another,
//! and how many retouched copies it finds, by prompt length.
//!
//!     cargo run --release -p dw-detect --example align_calibration -- ../shared/data
//!
//! Reads every `prompt` of human_prompts, distill_instructions and the two
//! benchmarks, drops repeats (case and whitespace aside), and splits them in
//! two halves by position. The first half is indexed.
//! - False alignments: each prompt of the second half is looked up; every
//!   alignment found joins two prompts the data holds as distinct.
//! - Found copies: each prompt of the first half is looked up as a client
//!   might send it: in capitals with doubled spaces (exact), with all its
//!   ASCII punctuation deleted (a stress test: in code and formulas tokens
//!   merge), after a greeting, and inside an instruction wrapper; found
//!   when it aligns with itself.

use std::collections::{BTreeMap, HashSet};

use dw_detect::reference::align::{PromptAligner, normalize};

const FILES: [&str; 4] = [
    "human_prompts/human_prompts.jsonl",
    "distill_instructions/distill_instructions.jsonl",
    "benchmarks/gsm8k.jsonl",
    "benchmarks/mmlu.jsonl",
];

fn words(prompt: &str) -> usize {
    prompt.split_whitespace().count()
}

fn bucket(words: usize) -> &'static str {
    match words {
        0..=9 => "1-9 words",
        10..=19 => "10-19 words",
        20..=39 => "20-39 words",
        _ => "40+ words",
    }
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: align_calibration DATA_DIR");
    let mut seen = HashSet::new();
    let mut prompts: Vec<String> = Vec::new();
    for file in FILES {
        let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"));
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            let Some(prompt) = row["prompt"].as_str() else { continue };
            if !prompt.trim().is_empty() && seen.insert(normalize(prompt)) {
                prompts.push(prompt.to_owned());
            }
        }
    }
    let indexed: Vec<&str> = prompts.iter().step_by(2).map(String::as_str).collect();
    let held_out: Vec<&str> = prompts.iter().skip(1).step_by(2).map(String::as_str).collect();
    let started = std::time::Instant::now();
    let aligner = PromptAligner::new(indexed.iter().copied());
    let built = started.elapsed();

    let started = std::time::Instant::now();
    let mut false_alignments = Vec::new();
    for prompt in &held_out {
        if let Some(found) = aligner.align(prompt) {
            false_alignments.push((found.similarity, *prompt, indexed[found.index]));
        }
    }
    let looked_up = started.elapsed();
    println!(
        "{} distinct prompts: {} indexed in {:.2} s, {} looked up in {:.2} s",
        prompts.len(),
        indexed.len(),
        built.as_secs_f64(),
        held_out.len(),
        looked_up.as_secs_f64()
    );
    println!(
        "false alignments: {} of {} ({:.3}%)",
        false_alignments.len(),
        held_out.len(),
        100.0 * false_alignments.len() as f64 / held_out.len() as f64
    );
    let same_words = false_alignments.iter().filter(|(s, _, _)| *s >= 1.0).count();
    println!(
        "  {same_words} of them with the same words (only punctuation differs: the data's own repeats), {} with words added",
        false_alignments.len() - same_words
    );
    // The ones with words added, most similar first, then a few repeats.
    false_alignments.sort_by(|a, b| (a.0 >= 1.0).cmp(&(b.0 >= 1.0)).then(b.0.total_cmp(&a.0)));
    for (similarity, a, b) in false_alignments.iter().take(12) {
        // Where they part: the words after their common opening.
        let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
        let from = |t: &str| t.chars().skip(common.saturating_sub(30)).take(120).collect::<String>().replace('\n', " ");
        println!("  {similarity:.3} after {common} characters\n    {:?}\n    {:?}", from(a), from(b));
    }

    type Variant = fn(&str) -> String;
    let variants: [(&str, Variant); 5] = [
        ("capitals, doubled spaces (exact)", |p| format!("  {}\n", p.to_uppercase().replace(' ', "  "))),
        ("all ASCII punctuation deleted", |p| p.chars().filter(|c| !c.is_ascii_punctuation()).collect()),
        ("after a greeting", |p| format!("Hi there! {p}")),
        ("instruction wrapper", |p| format!("Task: {p}\n\nRespond in full detail.")),
        ("greeting and wrapper", |p| format!("Hello, please help. Task: {p}\n\nRespond in full detail. Thanks!")),
    ];
    println!("\n| sent as | {} |", ["1-9 words", "10-19 words", "20-39 words", "40+ words", "all"].join(" | "));
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (name, variant) in variants {
        let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (index, prompt) in indexed.iter().enumerate() {
            let found = aligner.align(&variant(prompt)).is_some_and(|a| a.index == index);
            for key in [bucket(words(prompt)), "all"] {
                let entry = counts.entry(key).or_default();
                entry.0 += usize::from(found);
                entry.1 += 1;
            }
        }
        let cells: Vec<String> = ["1-9 words", "10-19 words", "20-39 words", "40+ words", "all"]
            .iter()
            .map(|k| {
                let (found, total) = counts.get(k).copied().unwrap_or_default();
                format!("{:.3} ({total})", found as f64 / total.max(1) as f64)
            })
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}
