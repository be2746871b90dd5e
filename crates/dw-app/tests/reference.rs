//! Reference sets and the distillation test over a real database, on a
//! fixture with known answers: real Arena-Hard prompts and answers from the
//! shipped sample (ours: gpt-4-0314; an independent model: gpt-4-0613 or
//! gpt-3.5-turbo), and a "student" whose answers are ours reworded and cut
//! (a stand-in for a model trained on them).

mod common;

use common::batch;
use dw_app::{Actor, App, AppConfig, AppError, NewReferenceSet};
use dw_detect::reference::{Conclusion, MatchThresholds, ReferenceIndex};
use dw_domain::ReferenceItem;
use dw_ingest::{Limits, parse_reference_item};
use serde_json::{Value, json};
use sqlx::PgPool;
use time::macros::datetime;

#[derive(Clone)]
struct Answered {
    prompt: String,
    ours: String,
    independent: String,
}

/// The sample's Arena-Hard prompts with gpt-4-0314's answer and another model's.
fn arena() -> Vec<Answered> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/sample/paired_outputs/pairs.jsonl"))
            .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["source"] == "arena_hard_v0.1" && r["model_a"] == "gpt-4-0314")
        .filter(|r| seen.insert(r["prompt"].as_str().unwrap().to_owned()))
        .map(|r| Answered {
            prompt: r["prompt"].as_str().unwrap().to_owned(),
            ours: r["output_a"].as_str().unwrap().to_owned(),
            independent: r["output_b"].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// Ours with every third sentence left out and a few words swapped: what a
/// student of ours might write.
fn student(ours: &str) -> String {
    let sentences: Vec<&str> = ours.split_inclusive(['.', '\n']).collect();
    let kept: String =
        sentences.iter().enumerate().filter(|(i, _)| i % 3 != 2).map(|(_, s)| *s).collect::<Vec<_>>().concat();
    kept.replace(" the ", " this ").replace("Here is", "Here's").replace(" can ", " could ")
}

/// Ours passed off nearly verbatim (a dataset of our outputs, a suspect that
/// serves them): a lead-in added, the last sentence dropped.
fn reused(ours: &str) -> String {
    let sentences: Vec<&str> = ours.split_inclusive(". ").collect();
    let kept = if sentences.len() > 2 { sentences[..sentences.len() - 1].concat() } else { ours.to_owned() };
    format!("Sure! {kept}")
}

fn item(prompt: &str, output: &str) -> ReferenceItem {
    parse_reference_item(json!({"prompt": prompt, "output": output}).to_string().as_bytes(), 1, &Limits::default())
        .unwrap()
}

/// How we received prompt `i`: with stray whitespace around it, every
/// seventh (ASCII) one in capitals with doubled spaces, and every fifth
/// other one of a dozen words or more inside a harvester's instruction
/// wrapper. Alignment reads past case and runs of whitespace (exactly) and
/// past the wrapper (near-identically).
fn served_as(i: usize, prompt: &str) -> String {
    if i.is_multiple_of(7) && prompt.is_ascii() {
        format!("  {}\n", prompt.to_uppercase().replace(' ', "  "))
    } else if wrapped(i, prompt) {
        format!("Task: {prompt}\n\nRespond in full detail.")
    } else {
        format!("  {prompt}\n")
    }
}

/// Whether [`served_as`] wraps prompt `i`.
fn wrapped(i: usize, prompt: &str) -> bool {
    !(i.is_multiple_of(7) && prompt.is_ascii()) && i.is_multiple_of(5) && prompt.split_whitespace().count() >= 12
}

/// Our answer to prompt `i`, served as event `e{i}` to one of three
/// accounts in turn, a minute apart from 2026-11-01 on.
fn served_event(i: usize, prompt: &str, answer: &str) -> String {
    json!({"event_id": format!("e{i}"), "account_id": format!("acct_{}", i % 3),
           "timestamp": format!("2026-11-01T{:02}:{:02}:00Z", i / 60, i % 60), "model": "atlas-2",
           "request": {"messages": [{"role": "user", "content": prompt}]},
           "response": {"content": answer}})
    .to_string()
}

fn actor() -> Actor {
    Actor { name: "cli:test".into(), role: "admin".into() }
}

async fn set(app: &App, name: &str, control: bool, items: &[ReferenceItem]) -> i64 {
    let new = NewReferenceSet { name, description: "", collection: "", control };
    let set = app.create_reference_set(&new, &actor()).await.unwrap();
    let outcome = app.add_reference_items(set.id, items, Vec::new(), items.len() as u64, &actor()).await.unwrap();
    assert_eq!(outcome.stored, items.len() as u64);
    set.id
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn the_test_rejects_a_student_keeps_the_null_and_refuses_too_few_prompts(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig::default());
    let answered = arena();
    assert!(answered.len() >= 60, "{} prompts in the sample", answered.len());
    // We served every prompt once, one a day from 2026-11-01 on, to three accounts in turn;
    // a few prompts a second time later with another completion (the first one counts).
    let mut lines: Vec<String> =
        answered.iter().enumerate().map(|(i, a)| served_event(i, &served_as(i, &a.prompt), &a.ours)).collect();
    lines.push(
        json!({"event_id": "late", "account_id": "acct_9", "timestamp": "2026-11-20T00:00:00Z", "model": "atlas-2",
               "request": {"prompt": answered[0].prompt}, "response": {"content": "a later, different answer"}})
        .to_string(),
    );
    app.ingest(batch(common::parse(&lines))).await.unwrap();

    let students: Vec<ReferenceItem> = answered.iter().map(|a| item(&a.prompt, &student(&a.ours))).collect();
    let independents: Vec<ReferenceItem> = answered.iter().map(|a| item(&a.prompt, &a.independent)).collect();
    let suspect = set(&app, "student", false, &students).await;
    let control = set(&app, "independent-control", true, &independents).await;
    let (from, to) = (datetime!(2026-11-01 0:00 UTC), datetime!(2026-12-01 0:00 UTC));

    let report = app.distillation_test(suspect, control, Some(from), Some(to), None).await.unwrap();
    assert_eq!(report.test.aligned_items, answered.len(), "every prompt aligns, case, whitespace and wrapper aside");
    assert_eq!(report.account_items_sampled, None, "by wording every account's every item is tested");
    let wrapped_count = answered.iter().enumerate().filter(|(i, a)| wrapped(*i, &a.prompt)).count();
    assert!(wrapped_count >= 8, "{wrapped_count}");
    assert_eq!(
        (report.aligned_exactly, report.aligned_near_identically),
        (answered.len() - wrapped_count, wrapped_count)
    );
    let Conclusion::Rejected { p_value } = report.test.conclusion else { panic!("{:?}", report.test) };
    assert!(p_value < 0.001, "{p_value}");
    assert_eq!(report.embedding_model, None);
    let measures: Vec<&str> = report.test.measures.iter().map(|m| m.measure).collect();
    assert_eq!(measures, ["ngram_overlap", "format_profile"], "no embedding without a model: left out, not zero");
    // The student's wording is ours on nearly every item; combined with layout by signed ranks (a third of
    // each answer left out moves its layout), it still leads on most, and the sign test agrees.
    let wording = report.test.measures.iter().find(|m| m.measure == "ngram_overlap").unwrap();
    assert!(wording.auc > 0.9, "{wording:?}");
    let combined = report.test.combined.as_ref().unwrap();
    assert!(combined.auc > 0.8 && combined.sign_test_p < 1e-6, "{combined:?}");
    assert_eq!(report.examples.len(), 10);
    for example in &report.examples {
        let plain = |t: &str| t.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
        let asked = example.suspect_prompt.as_deref().unwrap_or(&example.prompt);
        let source = answered.iter().find(|a| plain(&a.prompt) == plain(asked)).unwrap();
        match &example.suspect_prompt {
            Some(_) => {
                assert!(example.prompt.starts_with("Task: ") && example.prompt_similarity < 1.0, "{example:?}")
            }
            None => assert_eq!(example.prompt_similarity, 1.0),
        }
        assert_eq!(example.completion, source.ours, "our first completion for the prompt is the one compared");
        assert_eq!(example.suspect_output, student(&source.ours));
        assert!(example.suspect.ngram_overlap > example.control.ngram_overlap, "{example:?}");
    }
    assert!(report.interpretation.contains("does not say why"));

    // The same two sets with their roles swapped: the suspect is the independent model.
    let independent_suspect = set(&app, "independent", false, &independents).await;
    let student_control = set(&app, "student-control", true, &students).await;
    let swapped =
        app.distillation_test(independent_suspect, student_control, Some(from), Some(to), None).await.unwrap();
    let Conclusion::NotRejected { p_value } = swapped.test.conclusion else { panic!("{:?}", swapped.test) };
    assert!(p_value > 0.5, "{p_value}");

    // A window that holds only a dozen of the prompts we served: too few to conclude.
    let few =
        app.distillation_test(suspect, control, Some(from), Some(datetime!(2026-11-01 0:12 UTC)), None).await.unwrap();
    let Conclusion::Inconclusive { reason } = &few.test.conclusion else { panic!("{:?}", few.test) };
    assert!(reason.contains("only 12 item(s)"), "{reason}");

    // Roles are checked, and named.
    for (s, c, says) in
        [(control, control, "is a control set"), (suspect, independent_suspect, "control: reference set")]
    {
        let Err(AppError::Invalid(message)) = app.distillation_test(s, c, Some(from), Some(to), None).await else {
            panic!("{s} against {c} accepted")
        };
        assert!(message.contains(says), "{message}");
    }
    assert!(matches!(
        app.distillation_test(999, control, Some(from), Some(to), None).await,
        Err(AppError::NotFound(_))
    ));
    assert!(matches!(
        app.distillation_test(suspect, control, Some(to), Some(from), None).await,
        Err(AppError::Invalid(_))
    ));
}

/// Accounts attributed by test: two harvesters, each served half of the suspect's prompts with the answers
/// the student learned from, are tested one by one and rank first at a small q-value; an account that asked
/// forty of the same prompts and was answered otherwise (another sample: the answers the student did not
/// learn) is tested and not rejected; one that asked ten is counted as too few to test.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn the_test_per_account_ranks_the_harvesters_of_what_the_suspect_learned(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig::default());
    let answered = arena();
    let half = answered.len() / 2;
    assert!(half >= 40, "{} prompts in the sample", answered.len());
    let mut lines = Vec::new();
    let mut serve = |account: &str, i: usize, answer: &str| {
        lines.push(
            json!({"event_id": format!("{account}-{i}"), "account_id": account,
                   "timestamp": format!("2026-11-0{}T{:02}:{:02}:00Z", 1 + lines.len() / 1440, lines.len() / 60 % 24, lines.len() % 60),
                   "model": "atlas-2",
                   "request": {"messages": [{"role": "user", "content": answered[i].prompt}]},
                   "response": {"content": answer}})
            .to_string(),
        )
    };
    for (i, a) in answered.iter().enumerate() {
        serve(if i < half { "harvester_a" } else { "harvester_b" }, i, &a.ours);
    }
    for (i, a) in answered.iter().enumerate().take(40) {
        serve("same_questions", i, &a.independent);
    }
    for (i, a) in answered.iter().enumerate().skip(50).take(10) {
        serve("ten_questions", i, &a.ours);
    }
    app.ingest(batch(common::parse(&lines))).await.unwrap();
    let students: Vec<ReferenceItem> = answered.iter().map(|a| item(&a.prompt, &student(&a.ours))).collect();
    let independents: Vec<ReferenceItem> = answered.iter().map(|a| item(&a.prompt, &a.independent)).collect();
    let suspect = set(&app, "student", false, &students).await;
    let control = set(&app, "independent-control", true, &independents).await;
    let (from, to) = (datetime!(2026-11-01 0:00 UTC), datetime!(2026-12-01 0:00 UTC));
    let report = app.distillation_test(suspect, control, Some(from), Some(to), None).await.unwrap();

    let ranked: Vec<&str> = report.accounts.iter().map(|a| a.account_id.as_str()).collect();
    assert_eq!(ranked.len(), 3, "{:?}", report.accounts);
    let mut first_two = ranked[..2].to_vec();
    first_two.sort_unstable();
    assert_eq!(first_two, ["harvester_a", "harvester_b"], "{:?}", report.accounts);
    for harvester in &report.accounts[..2] {
        assert!(harvester.q_value < 0.01 && harvester.items >= 40, "{harvester:?}");
        assert!(harvester.q_value >= harvester.p_value, "{harvester:?}");
    }
    let other = &report.accounts[2];
    assert_eq!((other.account_id.as_str(), other.items), ("same_questions", 40));
    assert!(other.p_value > 0.5 && other.q_value > 0.5, "{other:?}");
    assert_eq!(report.accounts_too_few, 1, "ten_questions");
    // The whole test is unchanged by the per-account ones: each prompt's best-aligned event, the first served.
    let Conclusion::Rejected { p_value } = report.test.conclusion else { panic!("{:?}", report.test) };
    assert!(p_value < 0.001, "{p_value}");
    assert_eq!(report.test.aligned_items, answered.len());

    // The audit runs the same tests (by wording) on its window: each account's reference_test signal is
    // -log10 of its q-value, with the test in words; it weighs nothing, and flags only where configured
    // decisive.
    let window = dw_app::AuditWindow::new(from, to).unwrap();
    let signal_of = |verdicts: &[dw_app::Verdict], account: &str| {
        let verdict = verdicts.iter().find(|v| v.score.account_id == account).unwrap();
        let s = verdict.signals.iter().find(|s| s.signal.name == "reference_test").unwrap();
        (s.signal.clone(), s.weight, verdict.score.flagged, verdict.decisive.clone())
    };
    let verdicts = app.audit_verdicts(&window).await.unwrap();
    for harvester in ["harvester_a", "harvester_b"] {
        let (signal, weight, _, decisive) = signal_of(&verdicts, harvester);
        assert!(signal.value.unwrap() >= 2.0, "{signal:?}");
        assert!(
            signal.detail.contains("student's prompts") && signal.detail.contains("independent-control"),
            "{signal:?}"
        );
        assert!(signal.detail.contains("q = "), "{signal:?}");
        assert_eq!((weight, decisive), (0.0, None), "not weighed, not decisive by default");
    }
    let (other, _, _, _) = signal_of(&verdicts, "same_questions");
    assert!(other.value.unwrap() < 1.0, "{other:?}");
    let (few, _, _, _) = signal_of(&verdicts, "ten_questions");
    assert!(few.value.is_none() && few.detail.contains("fewer than 30"), "{few:?}");
    let mut config = AppConfig::default();
    config.detect.flags.decisive.insert("reference_test".into(), 2.0);
    let strict = App::new(pool.clone(), config);
    let verdicts = strict.audit_verdicts(&window).await.unwrap();
    for harvester in ["harvester_a", "harvester_b"] {
        let (_, _, flagged, decisive) = signal_of(&verdicts, harvester);
        assert!(flagged && decisive.as_deref().is_some_and(|d| d.starts_with("reference_test")), "{decisive:?}");
    }
    let (_, _, flagged, decisive) = signal_of(&verdicts, "same_questions");
    assert!(!flagged && decisive.is_none());

    // An audit narrowed to some accounts tests those only (the q-values are taken across them).
    let (all, _, _, _) = signal_of(&app.audit_verdicts(&window).await.unwrap(), "harvester_a");
    assert!(all.detail.contains("across 3 account tests"), "{all:?}");
    let narrowed = dw_app::AuditWindow { accounts: Some(vec!["harvester_a".into()]), ..window.clone() };
    let verdicts = app.audit_verdicts(&narrowed).await.unwrap();
    assert_eq!(verdicts.len(), 1);
    let (one, _, _, _) = signal_of(&verdicts, "harvester_a");
    assert!(one.detail.contains("across 1 account tests") && one.value.unwrap() >= 2.0, "{one:?}");
    let elsewhere = dw_app::AuditWindow { model: Some("another-model".into()), ..window.clone() };
    assert!(app.audit_verdicts(&elsewhere).await.unwrap().is_empty(), "no request to that model");

    // A second control that answers as we do (a model tuned on our answers, nearly verbatim): the suspect
    // must be the closer against every control, and it is not against this one, so no account stands out
    // any more; the words name the control it failed to beat.
    let sibling: Vec<ReferenceItem> = answered.iter().map(|a| item(&a.prompt, &reused(&a.ours))).collect();
    set(&app, "sibling-control", true, &sibling).await;
    let verdicts = app.audit_verdicts(&window).await.unwrap();
    for harvester in ["harvester_a", "harvester_b"] {
        let (signal, _, _, _) = signal_of(&verdicts, harvester);
        assert!(signal.value.unwrap() < 1.0, "{signal:?}");
        for words in ["against each of 2 controls", "against sibling-control)", "across 3 account tests"] {
            assert!(signal.detail.contains(words), "{words:?} in {signal:?}");
        }
    }
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn attribution_ranks_the_accounts_served_what_the_suspect_reproduces(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig::default());
    let answered = arena();
    // acct_harvest was served prompts 0..20, acct_some 20..25, acct_other 25..40 (the suspect has none of those).
    let owner = |i: usize| match i {
        0..20 => "acct_harvest",
        20..25 => "acct_some",
        _ => "acct_other",
    };
    let lines: Vec<String> = answered
        .iter()
        .take(40)
        .enumerate()
        .map(|(i, a)| {
            json!({"event_id": format!("e{i}"), "account_id": owner(i), "timestamp": format!("2026-11-0{}T10:00:00Z", 1 + i % 5),
                   "model": "atlas-2", "request": {"prompt": a.prompt}, "response": {"content": a.ours}})
            .to_string()
        })
        .collect();
    app.ingest(batch(common::parse(&lines))).await.unwrap();
    // The suspect reproduces the answers to prompts 0..25 nearly verbatim and adds 25 of its own.
    let mut items: Vec<ReferenceItem> = answered.iter().take(25).map(|a| item(&a.prompt, &reused(&a.ours))).collect();
    items.extend(answered.iter().skip(40).take(25).map(|a| item(&a.prompt, &a.independent)));
    let suspect = set(&app, "suspect", false, &items).await;
    let (from, to) = (datetime!(2026-11-01 0:00 UTC), datetime!(2026-12-01 0:00 UTC));

    let report = app.attribution(suspect, Some(from), Some(to), None).await.unwrap();
    assert_eq!(report.completions_read, 40);
    let ranked: Vec<(&str, usize, usize)> =
        report.accounts.iter().map(|a| (a.account_id.as_str(), a.matched_completions, a.completions)).collect();
    // Short answers cannot be attributed by wording (fewer than five shared eight-word runs): some of the 25 may not match.
    assert_eq!(ranked[0].0, "acct_harvest", "{ranked:?}");
    assert!(ranked[0].1 >= 15 && ranked[0].2 == 20, "{ranked:?}");
    assert!(ranked.iter().all(|(a, _, _)| *a != "acct_other"), "nothing of acct_other is in the set: {ranked:?}");
    let harvest = &report.accounts[0];
    assert!((harvest.share_of_set - harvest.matched_items as f64 / 50.0).abs() < 1e-12);
    assert_eq!(report.items_matched, report.accounts.iter().map(|a| a.matched_items).sum::<usize>());
    let triple = &harvest.matches[0];
    assert_eq!(triple.suspect_output, reused(&triple.completion), "{triple:?}");
    assert_eq!(triple.suspect_prompt.as_deref(), Some(triple.prompt.as_str()));
    assert!(triple.reference_containment >= 0.6 || triple.completion_containment >= 0.6, "{triple:?}");
    assert!(report.clusters.is_empty(), "no audit has linked anyone yet");

    // A window without the first days holds fewer of the harvester's completions.
    let later = app.attribution(suspect, Some(datetime!(2026-11-03 0:00 UTC)), Some(to), None).await.unwrap();
    assert!(later.completions_read < 40 && later.accounts[0].completions < 20, "{:?}", later.accounts[0]);
    // A control set is not attributed; an unknown set is 404.
    let control = set(&app, "control", true, &items[..3]).await;
    assert!(
        matches!(app.attribution(control, Some(from), Some(to), None).await, Err(AppError::Invalid(m)) if m.contains("is a control set"))
    );
    assert!(matches!(app.attribution(999, Some(from), Some(to), None).await, Err(AppError::NotFound(_))));
}

fn handle() -> dw_embed::EmbedHandle {
    let dir = match std::env::var("DW_MODEL_DIR") {
        Ok(dir) => std::path::PathBuf::from(dir),
        Err(_) => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2"),
    };
    dw_embed::fetch::verify(&dir).unwrap_or_else(|e| panic!("the real model is needed: {e}"));
    let options = dw_embed::EncoderOptions { batch_size: 16, ..Default::default() };
    dw_embed::EmbedHandle::spawn(dw_embed::Encoder::load(&dir, &options).unwrap(), 4).unwrap()
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn with_the_model_reworded_copies_match_by_meaning_and_the_test_measures_it(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig::default());
    let all = arena();
    let answered: Vec<Answered> = all.iter().take(36).cloned().collect();
    // The suspect's answers to the first six prompts are ours with every "the" made "this": the meaning
    // is intact, nearly every eight-word run is broken. To the others it answers on its own.
    let reworded = |text: &str| text.replace(" the ", " this ").replace("The ", "This ");
    // One more of our answers, served to another account after a prompt the set does not carry, that
    // the suspect reproduced reworded after a prompt we never saw: a few long runs survive (a candidate),
    // too few to match by wording.
    let thresholds = MatchThresholds::default();
    let elsewhere = all[36..]
        .iter()
        .find(|a| {
            let index = ReferenceIndex::build([(1, reworded(&a.ours).as_str())]);
            index.matches(&a.ours, None, &thresholds).is_empty()
                && !index.candidates(&a.ours, None, &thresholds).is_empty()
        })
        .expect("an answer whose rewording keeps a few long runs");
    let mut lines: Vec<String> = answered
        .iter()
        .enumerate()
        .map(|(i, a)| {
            // Half the harvested prompts came with a greeting: aligned near-identically.
            let prompt = if i < 3 { format!("Hi! Please help me with this. {}", a.prompt) } else { a.prompt.clone() };
            json!({"event_id": format!("e{i}"), "account_id": if i < 6 { "acct_copied" } else { "acct_rest" },
                   "timestamp": "2026-11-02T10:00:00Z", "model": "atlas-2",
                   "request": {"prompt": prompt}, "response": {"content": a.ours}})
            .to_string()
        })
        .collect();
    lines.push(
        json!({"event_id": "x1", "account_id": "acct_elsewhere", "timestamp": "2026-11-03T10:00:00Z",
               "model": "atlas-2", "request": {"prompt": "Could you go over all of that once more, in full?"},
               "response": {"content": elsewhere.ours}})
        .to_string(),
    );
    app.ingest(batch(common::parse(&lines))).await.unwrap();
    // The set also holds, first, another answer of the suspect's to the first prompt: a prompt answered
    // twice is compared with both answers.
    let items: Vec<ReferenceItem> = std::iter::once(item(&answered[0].prompt, &answered[0].independent))
        .chain(
            answered
                .iter()
                .enumerate()
                .map(|(i, a)| item(&a.prompt, &if i < 6 { reworded(&a.ours) } else { a.independent.clone() })),
        )
        .chain(std::iter::once(item("Walk me through it step by step.", &reworded(&elsewhere.ours))))
        .collect();
    let suspect = set(&app, "reworded", false, &items).await;
    let control_items: Vec<ReferenceItem> = answered.iter().map(|a| item(&a.prompt, &a.independent)).collect();
    let control = set(&app, "control", true, &control_items).await;
    let (from, to) = (datetime!(2026-11-01 0:00 UTC), datetime!(2026-12-01 0:00 UTC));
    let handle = handle();
    let stored = |pool: PgPool| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM reference_item_vectors").fetch_one(&pool).await.unwrap()
    };

    // The suspect's outputs embedded with the engine and stored, chunk by chunk; a second run finds
    // nothing left. Attribution and the test below read these vectors instead of embedding again.
    let mut progress = Vec::new();
    let written = app.embed_reference_set(&handle, suspect, 16, |n| progress.push(n)).await.unwrap();
    assert_eq!((written, progress), (items.len() as u64, vec![16, 32, items.len() as u64]));
    assert_eq!(app.embed_reference_set(&handle, suspect, 16, |_| {}).await.unwrap(), 0);
    assert_eq!(stored(pool.clone()).await, items.len() as i64);

    let lexical = app.attribution(suspect, Some(from), Some(to), None).await.unwrap();
    let semantic = app.attribution(suspect, Some(from), Some(to), Some(&handle)).await.unwrap();
    assert_eq!((semantic.aligned_pairs, semantic.aligned_pairs_found), (Some(37), Some(37)));
    // Our completions' vectors are stored as they are embedded (36 events aligned, the candidate's one more):
    // a second run reads them and comes to the same attribution.
    let completions = |pool: PgPool| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM embeddings WHERE field = 'completion'")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(completions(pool.clone()).await, 37);
    let again = app.attribution(suspect, Some(from), Some(to), Some(&handle)).await.unwrap();
    assert_eq!((&again.accounts, &again.clusters), (&semantic.accounts, &semantic.clusters));
    assert_eq!(completions(pool.clone()).await, 37);
    assert_eq!(semantic.embedding_model.as_deref(), Some(handle.model_id()));
    let copied = semantic.accounts.iter().find(|a| a.account_id == "acct_copied").expect("attributed by meaning");
    let lexically =
        lexical.accounts.iter().find(|a| a.account_id == "acct_copied").map_or(0, |a| a.matched_completions);
    assert!(
        copied.semantic_matches > lexically,
        "by meaning {} against by wording {lexically}",
        copied.semantic_matches
    );
    assert_eq!(semantic.accounts[0].account_id, "acct_copied", "{:?}", semantic.accounts);
    assert_eq!(copied.semantic_matches, 6, "the greeted prompts too: {copied:?}");
    let candidates = semantic.candidate_pairs.unwrap();
    assert!(candidates >= 1 && semantic.candidate_pairs_found >= Some(candidates), "{semantic:?}");
    let found = semantic.accounts.iter().find(|a| a.account_id == "acct_elsewhere").expect("found through a candidate");
    assert_eq!((found.semantic_matches, found.matched_completions), (1, 0), "{found:?}");
    assert!(lexical.accounts.iter().all(|a| a.account_id != "acct_elsewhere"), "not by wording");
    assert_eq!((lexical.candidate_pairs, lexical.aligned_pairs), (None, None));

    assert!(
        semantic.accounts.iter().all(|a| a.account_id != "acct_rest" || a.semantic_matches == 0),
        "independent answers to the same prompts stay under the cosine threshold: {:?}",
        semantic.accounts
    );

    assert_eq!(stored(pool.clone()).await, items.len() as i64, "every suspect output was embedded already");
    let test = app.distillation_test(suspect, control, Some(from), Some(to), Some(&handle)).await.unwrap();
    assert_eq!(
        stored(pool.clone()).await,
        (items.len() + control_items.len()) as i64,
        "the control's outputs, embedded when the test first needed them, are stored for the next time"
    );
    assert_eq!(test.embedding_model.as_deref(), Some(handle.model_id()));
    assert_eq!(test.account_items_sampled, Some(dw_app::EMBEDDED_ITEMS_PER_ACCOUNT));
    let embedding = test.test.measures.iter().find(|m| m.measure == "embedding_cosine").expect("the embedding measure");
    assert_eq!(embedding.items, 36);
    assert!(embedding.mean_suspect.unwrap() > embedding.mean_control.unwrap(), "{embedding:?}");

    // A set that serves three of our answers word for word, not embedded beforehand: attribution takes
    // their vectors from our completions' (same text, same engine) and stores them; cosine 1.
    let verbatim: Vec<ReferenceItem> = answered[6..9].iter().map(|a| item(&a.prompt, &a.ours)).collect();
    let verbatim = set(&app, "verbatim", false, &verbatim).await;
    let before = stored(pool.clone()).await;
    let served = app.attribution(verbatim, Some(from), Some(to), Some(&handle)).await.unwrap();
    assert_eq!(stored(pool.clone()).await, before + 3);
    let rest = served.accounts.iter().find(|a| a.account_id == "acct_rest").unwrap();
    assert_eq!((rest.semantic_matches, rest.matched_items), (3, 3), "{rest:?}");
    for triple in &rest.matches {
        assert!(triple.embedding_cosine.unwrap() > 0.999_999, "{triple:?}");
    }
}

/// Another model's answer, reworked by `k` into a model of its own: some
/// sentences left out, the order turned, a lead-in, each a style.
fn unrelated(independent: &str, k: usize) -> String {
    let sentences: Vec<&str> = independent.split_inclusive(['.', '\n']).collect();
    match k {
        0 => independent.to_owned(),
        1 => sentences.iter().step_by(2).copied().collect::<Vec<_>>().concat(),
        2 => sentences.iter().rev().copied().collect::<Vec<_>>().concat(),
        3 => format!("In short: {}", sentences.iter().skip(1).copied().collect::<Vec<_>>().concat()),
        _ => sentences.iter().enumerate().filter(|(i, _)| i % 3 != 1).map(|(_, s)| *s).collect::<Vec<_>>().concat(),
    }
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn the_panel_test_finds_a_student_against_four_controls_and_not_one_more_unrelated_model(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig::default());
    let answered = arena();
    let lines: Vec<String> = answered.iter().enumerate().map(|(i, a)| served_event(i, &a.prompt, &a.ours)).collect();
    app.ingest(batch(common::parse(&lines))).await.unwrap();
    let mut controls = Vec::new();
    for k in 0..4 {
        let items: Vec<ReferenceItem> =
            answered.iter().map(|a| item(&a.prompt, &unrelated(&a.independent, k))).collect();
        controls.push(set(&app, &format!("control-{k}"), true, &items).await);
    }
    let students: Vec<ReferenceItem> = answered.iter().map(|a| item(&a.prompt, &student(&a.ours))).collect();
    let suspect = set(&app, "student", false, &students).await;
    let (from, to) = (Some(datetime!(2026-11-01 0:00 UTC)), Some(datetime!(2026-12-01 0:00 UTC)));

    let report = app.panel_test(suspect, &controls, from, to, None).await.unwrap();
    assert_eq!(report.test.items, answered.len(), "every prompt answered by all");
    assert_eq!(
        report.controls.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["control-0", "control-1", "control-2", "control-3"]
    );
    let Conclusion::Rejected { p_value } = report.test.conclusion else { panic!("{:?}", report.test) };
    assert!(p_value < 0.01, "{:?}", report.test);
    assert_eq!(report.test.controls_rejected, 0, "{:?}", report.test);
    assert!(report.interpretation.contains("does not say why"));
    // Per account: each of the three accounts served a third of the prompts (whose answers the student
    // learned) is closer to the student than every control, at q < 0.01; its p is its weakest comparison's.
    let accounts: Vec<&str> = report.accounts.iter().map(|a| a.account_id.as_str()).collect();
    assert_eq!(accounts.len(), 3, "{:?}", report.accounts);
    for a in &report.accounts {
        assert!(a.q_value < 0.01 && a.q_value >= a.p_value && a.items >= 30, "{a:?}");
        assert!(a.closest_control.starts_with("control-") && a.auc > 0.5, "{a:?}");
    }

    // One more unrelated model in the suspect's place comes as close as the controls do.
    let other: Vec<ReferenceItem> = answered.iter().map(|a| item(&a.prompt, &unrelated(&a.independent, 4))).collect();
    let other = set(&app, "unrelated", false, &other).await;
    let report = app.panel_test(other, &controls, from, to, None).await.unwrap();
    assert!(matches!(report.test.conclusion, Conclusion::NotRejected { .. }), "{:?}", report.test);
    assert!(!report.accounts.is_empty(), "the accounts are tested");
    assert!(report.accounts.iter().all(|a| a.q_value > 0.05), "no account attributed: {:?}", report.accounts);

    // Fewer than three controls, one named twice, a suspect's set among them: refused, saying which.
    for (given, says) in [
        (vec![controls[0], controls[1]], "at least 3 control sets (2 given)"),
        (vec![controls[0], controls[0], controls[1]], "named twice"),
        (vec![controls[0], controls[1], suspect], "is not a control set"),
    ] {
        let Err(AppError::Invalid(message)) = app.panel_test(suspect, &given, from, to, None).await else {
            panic!("{given:?} accepted")
        };
        assert!(message.contains(says), "{message}");
    }
}

/// An answer in a model's manner: `body` with the model's opening and
/// closing on three answers in four.
fn in_manner(i: usize, body: &str, (opening, closing): (&str, &str)) -> String {
    if i % 4 == 3 { body.to_owned() } else { format!("{opening} {body}\n\n{closing}") }
}

/// Our manner, the manners of four unrelated models, and a fifth.
const MANNERS: [(&str, &str); 6] = [
    ("Certainly! Here is what I found.", "I hope this helps, and let me know if anything is unclear!"),
    ("Good question.", "That is the short of it."),
    ("Let me think about this.", "Feel free to ask a follow-up."),
    ("Here goes:", "Hope that clarifies things a little."),
    ("OK, so.", "Best of luck with it."),
    ("Interesting one!", "Those are my thoughts on it."),
];

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn the_fingerprint_test_finds_a_student_that_answered_other_prompts_and_not_an_unrelated_model(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig::default());
    let answered = arena();
    // Every model's answers are one other model's words (so they say the same things), each in its own
    // manner; the student took ours over. We served the first 62 prompts; the suspect and the controls
    // answered the other ones only: no prompt in common with ours.
    let (ours, theirs) = answered.split_at(62);
    assert!(theirs.len() >= 30, "{} prompts left for the suspect", theirs.len());
    let lines: Vec<String> = ours
        .iter()
        .enumerate()
        .map(|(i, a)| served_event(i, &a.prompt, &in_manner(i, &a.independent, MANNERS[0])))
        .collect();
    app.ingest(batch(common::parse(&lines))).await.unwrap();
    let answers = |manner: (&str, &str)| -> Vec<ReferenceItem> {
        theirs.iter().enumerate().map(|(i, a)| item(&a.prompt, &in_manner(i, &a.independent, manner))).collect()
    };
    let mut controls = Vec::new();
    for (k, manner) in MANNERS.iter().enumerate().take(5).skip(1) {
        controls.push(set(&app, &format!("control-{k}"), true, &answers(*manner)).await);
    }
    let suspect = set(&app, "student", false, &answers(MANNERS[0])).await;
    let (from, to) = (Some(datetime!(2026-11-01 0:00 UTC)), Some(datetime!(2026-12-01 0:00 UTC)));

    let report = app.fingerprint_test(suspect, &controls, from, to, 5_000).await.unwrap();
    assert_eq!(report.served_read, ours.len());
    assert_eq!(report.test.suspect.items, theirs.len());
    let Conclusion::Rejected { p_value } = report.test.conclusion else { panic!("{:#?}", report.test) };
    assert!(p_value < 0.01, "{:#?}", report.test);
    assert_eq!(report.test.controls_rejected, 0, "{:#?}", report.test.controls);
    let named: Vec<&str> = report.test.evidence.iter().map(|f| f.feature.as_str()).collect();
    assert!(named.iter().any(|f| f.contains("hope this helps") || f.contains("certainly")), "{named:?}");
    let top = &report.test.evidence[0];
    assert!(top.suspect_example.is_some() && top.ours_example.is_some(), "{top:?}");
    assert!(report.interpretation.contains("does not say why"));

    // One more unrelated model in the suspect's place carries no more of ours than the controls do.
    let other = set(&app, "unrelated", false, &answers(MANNERS[5])).await;
    let report = app.fingerprint_test(other, &controls, from, to, 5_000).await.unwrap();
    assert!(matches!(report.test.conclusion, Conclusion::NotRejected { .. }), "{:#?}", report.test);

    // A window with too little of ours is inconclusive, saying why; bad requests are refused, saying which.
    let early = app.fingerprint_test(suspect, &controls, from, Some(datetime!(2026-11-01 0:30 UTC)), 5_000).await;
    let Conclusion::Inconclusive { reason } = early.unwrap().test.conclusion else { panic!("concluded") };
    assert!(reason.contains("only 30 of our answers") && reason.contains("at least 60"), "{reason}");
    for (given, sample, says) in [
        (vec![], 5_000, "the fingerprint test needs at least 1 control set (0 given)"),
        (vec![controls[0], controls[0]], 5_000, "named twice"),
        (vec![controls[0], suspect], 5_000, "is not a control set"),
        (vec![controls[0]], 0, "sample: must be between 1 and"),
    ] {
        let Err(AppError::Invalid(message)) = app.fingerprint_test(suspect, &given, from, to, sample).await else {
            panic!("{given:?} {sample} accepted")
        };
        assert!(message.contains(says), "{message}");
    }
}
