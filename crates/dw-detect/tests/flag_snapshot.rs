//! The flags an audit proposes, with their evidence bundles, snapshot-tested:
//! the JSON an analyst (and the dashboard) reads must not drift unnoticed.
//! After an intended change, re-record with `DW_UPDATE_SNAPSHOTS=1` and review
//! the diff of `tests/snapshots/flag_candidates.json`.

use dw_detect::{AccountSignals, DetectConfig, Weights, flags, score_population};
use dw_domain::RequestRecord;

fn request(account: &str, i: usize, ts_ms: i64, prompt: &str) -> RequestRecord {
    RequestRecord {
        account_id: account.into(),
        event_id: format!("{account}-{i}"),
        ts_ms,
        model: "atlas-2".into(),
        prompt: prompt.into(),
        system_prompt: None,
        prior_turns: Some(0),
        conversation_id: None,
        temperature: Some(0.7),
        max_tokens: Some(4096),
        n: None,
        logprobs: None,
        finish_reason: Some("stop".into()),
        prompt_tokens: Some(20),
        completion_tokens: Some(900),
        client_ip: None,
        user_agent: Some("OpenAI/Python 1.50.0".into()),
        end_user: None,
        prompt_vector: None,
    }
}

/// Six accounts scripted from one /24 (24 requests a day for four days),
/// one harvesting reasoning around the clock on its own, and a person.
fn population() -> Vec<AccountSignals> {
    let start = 1_793_577_600_000; // 2026-11-02T00:00:00Z
    let mut accounts = Vec::new();
    for a in 0..6 {
        let id = format!("farm{a}");
        let requests: Vec<RequestRecord> = (0..96)
            .map(|i| {
                let mut r = request(
                    &id,
                    i,
                    start + (i / 24) as i64 * 86_400_000 + (i % 24) as i64 * 1_500_000 + a * 7_000,
                    &format!(
                        "Task: Generate a list of {} creative names for item number {i}.\n\nRespond in full detail.",
                        i % 7 + 3
                    ),
                );
                r.client_ip = Some(format!("198.51.100.{}", a + 10).parse().unwrap());
                r
            })
            .collect();
        accounts.push(AccountSignals::from_requests(&requests, None, None, true).unwrap());
    }
    let reasoning: Vec<RequestRecord> = (0..300)
        .map(|i| {
            let mut r = request(
                "solo",
                i,
                start + i as i64 * 1_150_000,
                &format!(
                    "Problem {i}: a train leaves at {} o'clock. Think step by step and show your full reasoning.",
                    i % 12
                ),
            );
            r.client_ip = Some("203.0.113.77".parse().unwrap());
            r.logprobs = Some(i % 2 == 0);
            r
        })
        .collect();
    accounts.push(AccountSignals::from_requests(&reasoning, None, None, true).unwrap());
    let person: Vec<RequestRecord> = (0..12)
        .map(|i| {
            let mut r =
                request("person", i, start + i as i64 * 5_400_000, "hey, what should i cook tonight with leeks?");
            r.prior_turns = Some((i % 3) as u32);
            r.max_tokens = None;
            r
        })
        .collect();
    accounts.push(AccountSignals::from_requests(&person, None, None, true).unwrap());
    accounts
}

#[test]
fn flag_candidates_and_their_evidence_match_the_snapshot() {
    let verdicts = score_population(population(), &DetectConfig::default(), &Weights::default());
    let candidates = flags::candidates(&verdicts).unwrap();
    let rendered: Vec<serde_json::Value> = candidates
        .iter()
        .map(|c| {
            serde_json::json!({
                "subject": c.subject.as_str(),
                "id": c.id,
                "risk": c.risk,
                "level": c.level.as_str(),
                "fired": c.fired,
                "reason": c.reason,
                "evidence": c.evidence,
            })
        })
        .collect();
    let text = serde_json::to_string_pretty(&rendered).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/flag_candidates.json");
    if std::env::var_os("DW_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; record it with DW_UPDATE_SNAPSHOTS=1", path.display()));
    assert!(
        text == expected,
        "the flags differ from {}; re-record with DW_UPDATE_SNAPSHOTS=1 if intended",
        path.display()
    );

    // What the snapshot must show, whatever its numbers.
    let ids: Vec<(&str, &str)> = candidates.iter().map(|c| (c.subject.as_str(), c.id.as_str())).collect();
    assert!(ids.contains(&("account", "farm3")) && ids.contains(&("account", "solo")), "{ids:?}");
    assert!(ids.iter().any(|(kind, _)| *kind == "cluster"), "{ids:?}");
    assert!(!ids.iter().any(|(_, id)| *id == "person"), "{ids:?}");
    let farm = candidates.iter().find(|c| c.id == "farm3").unwrap();
    assert_eq!(farm.evidence["link"]["linked_accounts"].as_array().unwrap().len(), 5);
    assert!(!farm.evidence["activity"]["sample_prompts"].as_array().unwrap().is_empty());
}
