//! Hydra farms against the detector, without account attributes: a farm
//! that rotates its requests over three hosting networks and a farm behind
//! a residential proxy pool are each linked whole and flagged through their
//! cluster; twenty unrelated apps behind one cloud egress on one SDK
//! version, and users of one agent framework, are not linked at all. With
//! the client addresses taken out, the rotating farm is still linked whole,
//! by the shift its script works, and the look-alikes still are not.
//! (The development suites measure the same at scale: docs/evaluation.md.)

use dw_detect::{AccountSignals, DetectConfig, Weights, score_population};
use dw_domain::RequestRecord;

const START: i64 = 1_793_577_600_000; // 2026-11-02T00:00:00Z
const HOUR: i64 = 3_600_000;

fn request(account: &str, i: usize, ts_ms: i64, prompt: String) -> RequestRecord {
    RequestRecord {
        account_id: account.into(),
        event_id: format!("{account}-{i}"),
        ts_ms,
        model: "atlas-2".into(),
        prompt,
        system_prompt: None,
        prior_turns: Some(0),
        conversation_id: None,
        temperature: None,
        max_tokens: None,
        n: None,
        logprobs: None,
        finish_reason: Some("stop".into()),
        prompt_tokens: Some(40),
        completion_tokens: Some(700),
        client_ip: None,
        user_agent: Some("OpenAI/Python 1.52.1".into()),
        end_user: None,
        prompt_vector: None,
    }
}

/// A deterministic stand-in for randomness: the `k`-th value of a stream.
fn mix(k: u64) -> u64 {
    let mut z = k.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn signals(requests: &[RequestRecord]) -> AccountSignals {
    AccountSignals::from_requests(requests, None, None, false).unwrap()
}

/// The signals of requests as a gateway logs them: with the client's
/// address (`addressed`) or without it.
fn logged(requests: &[RequestRecord], addressed: bool) -> AccountSignals {
    if addressed {
        return signals(requests);
    }
    let stripped: Vec<RequestRecord> =
        requests.iter().cloned().map(|r| RequestRecord { client_ip: None, ..r }).collect();
    signals(&stripped)
}

/// Thirty accounts of one job, 30 a day for five days, each request from one of
/// three hosting /24s at random, one system prompt, temperature 0.7.
fn rotating_farm(addressed: bool) -> Vec<AccountSignals> {
    (0..30)
        .map(|a| {
            let id = format!("rot{a:02}");
            let requests: Vec<RequestRecord> = (0..150)
                .map(|i| {
                    let k = mix((a * 1000 + i) as u64);
                    let mut r = request(
                        &id,
                        i,
                        START + (i / 30) as i64 * 24 * HOUR + (i % 30) as i64 * 1_500_000 + (k % 600_000) as i64,
                        format!(
                            "Write a detailed explanation of topic number {} for a reference dataset.",
                            a * 150 + i
                        ),
                    );
                    r.client_ip = Some(format!("34.{}.7.{}", 10 + k % 3, 2 + (k >> 8) % 200).parse().unwrap());
                    r.system_prompt = Some("You are a meticulous assistant. Answer completely.".into());
                    r.temperature = Some(0.7);
                    r
                })
                .collect();
            logged(&requests, addressed)
        })
        .collect()
}

/// Forty accounts behind a residential proxy pool (a new /16 each request),
/// reasoning problems with one coercion phrase appended, max_tokens 4096.
fn proxy_farm() -> Vec<AccountSignals> {
    (0..40)
        .map(|a| {
            let id = format!("pool{a:02}");
            let requests: Vec<RequestRecord> = (0..120)
                .map(|i| {
                    let k = mix((90_000 + a * 1000 + i) as u64);
                    let mut r = request(
                        &id,
                        i,
                        START + (i / 24) as i64 * 24 * HOUR + (k % (20 * HOUR as u64)) as i64,
                        format!(
                            "A tank holds {} litres and drains {} litres an hour. When is it empty?\n\nThink step by step and show your full reasoning before giving the final answer.",
                            100 + a * 7 + i,
                            3 + i % 9
                        ),
                    );
                    r.client_ip = Some(format!("{}.{}.{}.9", 24 + k % 150, (k >> 8) % 250, (k >> 16) % 250).parse().unwrap());
                    r.max_tokens = Some(4096);
                    r
                })
                .collect();
            signals(&requests)
        })
        .collect()
}

const APPS: [&str; 20] = [
    "Quill", "Nimbus", "Orchard", "Beacon", "Harbor", "Lumen", "Fable", "Canopy", "Drift", "Ember", "Grove", "Inkwell",
    "Juniper", "Kestrel", "Lattice", "Meadow", "Nova", "Opal", "Pebble", "Quarry",
];

const WORDS: [&str; 31] = [
    "budget", "garden", "trip", "meeting", "recipe", "invoice", "launch", "wedding", "course", "repair", "move",
    "party", "thesis", "pitch", "audit", "hiring", "race", "album", "shop", "clinic", "grant", "lecture", "merger",
    "podcast", "kitchen", "roof", "visa", "novel", "concert", "harvest", "league",
];

/// Twenty small apps behind one cloud egress /24, one SDK version, each its
/// own template and max_tokens, and forty agent-framework users each on their
/// own network with the framework's system prompt and defaults; and three
/// hundred people.
fn look_alikes(addressed: bool) -> Vec<AccountSignals> {
    let mut accounts = Vec::new();
    for (a, app) in APPS.iter().enumerate() {
        let id = format!("app{a:02}");
        let requests: Vec<RequestRecord> = (0..140)
            .map(|i| {
                let k = mix((500_000 + a * 1000 + i) as u64);
                let mut r = request(
                    &id,
                    i,
                    START + (k % (7 * 24 * HOUR as u64)) as i64,
                    format!(
                        "{} helper says: turn the user's note into a tidy document. Note: {} {} {} {}",
                        app,
                        WORDS[(k % 31) as usize],
                        WORDS[((k >> 5) % 31) as usize],
                        WORDS[((k >> 10) % 31) as usize],
                        WORDS[((k >> 15) % 31) as usize]
                    ),
                );
                r.client_ip = Some(format!("35.190.44.{}", 2 + a).parse().unwrap());
                r.max_tokens = Some(500 + 100 * a as i32);
                r
            })
            .collect();
        let mut requests = requests;
        requests.sort_by_key(|r| r.ts_ms);
        accounts.push(logged(&requests, addressed));
    }
    for a in 0..40 {
        let id = format!("agent{a:02}");
        let requests: Vec<RequestRecord> = (0..30)
            .map(|i| {
                let mut r = request(
                    &id,
                    i,
                    START + (i / 6) as i64 * 24 * HOUR + 18 * HOUR + (i % 6) as i64 * 300_000,
                    format!("help me plan step {i} of my own project number {a}, I am stuck"),
                );
                r.client_ip = Some(format!("82.{}.{}.5", 10 + a, 3 * a).parse().unwrap());
                r.system_prompt = Some("You are an autonomous agent. Break the goal into steps.".into());
                r.temperature = Some(0.0);
                r.max_tokens = Some(4096);
                r.prior_turns = Some((i % 3) as u32);
                r
            })
            .collect();
        accounts.push(logged(&requests, addressed));
    }
    for a in 0..300 {
        let id = format!("person{a:03}");
        let requests: Vec<RequestRecord> = (0..12)
            .map(|i| {
                let mut r = request(
                    &id,
                    i,
                    START + (i / 2) as i64 * 24 * HOUR + 20 * HOUR + (i % 2) as i64 * 600_000,
                    format!("what should I cook tonight, idea {i}?"),
                );
                r.client_ip = Some(format!("90.{}.{}.7", a % 250, a / 250).parse().unwrap());
                r.prior_turns = Some((i % 2) as u32);
                r
            })
            .collect();
        accounts.push(logged(&requests, addressed));
    }
    accounts
}

#[test]
fn hydra_farms_are_linked_whole_and_their_look_alikes_are_not_linked() {
    let mut population = rotating_farm(true);
    population.extend(proxy_farm());
    population.extend(look_alikes(true));
    let verdicts = score_population(population, &DetectConfig::default(), &Weights::default());
    let cluster = |range: std::ops::Range<usize>| {
        let ids: std::collections::BTreeSet<Option<&str>> =
            verdicts[range].iter().map(|v| v.score.cluster_id.as_deref()).collect();
        ids
    };
    let rotating = cluster(0..30);
    assert!(rotating.len() == 1 && !rotating.contains(&None), "{rotating:?}");
    let pool = cluster(30..70);
    assert!(pool.len() == 1 && !pool.contains(&None), "{pool:?}");
    assert_ne!(rotating, pool, "two operators, two clusters");
    for v in &verdicts[..70] {
        assert!(v.score.flagged, "{:?}", v.score);
    }
    let rotating_reason = verdicts[0].link_reason.as_deref().unwrap();
    assert!(rotating_reason.starts_with("30 linked accounts: 30 sending from 34.1"), "{rotating_reason}");
    assert!(rotating_reason.contains("expected to share both by chance"), "{rotating_reason}");
    let pool_reason = verdicts[30].link_reason.as_deref().unwrap();
    assert!(pool_reason.starts_with("40 accounts sending from rotating addresses"), "{pool_reason}");
    // Nothing links the look-alikes, so nothing raises them (these apps' own shape, a uniform clock of
    // single-turn requests, is another matter: this test is about links).
    for v in &verdicts[70..] {
        assert_eq!(v.score.cluster_id, None, "{}: {:?}", v.score.account_id, v.link_reason);
        assert!(v.score.top_signals.iter().all(|c| c.signal != "linked_cluster"), "{:?}", v.score);
    }
    for v in &verdicts[90..] {
        assert!(!v.score.flagged, "{:?}", v.score);
    }
}

#[test]
fn without_client_addresses_a_farm_on_one_shift_is_linked_by_its_schedule_and_the_look_alikes_are_not() {
    // The rotating farm's script works a shift from 00:00 UTC for twelve and a half hours.
    let mut population = rotating_farm(false);
    population.extend(look_alikes(false));
    let verdicts = score_population(population, &DetectConfig::default(), &Weights::default());
    let ids: std::collections::BTreeSet<Option<&str>> =
        verdicts[..30].iter().map(|v| v.score.cluster_id.as_deref()).collect();
    assert!(ids.len() == 1 && !ids.contains(&None), "{ids:?}");
    let reason = verdicts[0].link_reason.as_deref().unwrap();
    assert!(reason.starts_with("30 accounts starting each day between 00:00 and 01:00 UTC"), "{reason}");
    for v in &verdicts[..30] {
        assert!(v.score.flagged, "{:?}", v.score);
    }
    // Apps sending round the clock, framework users and people share no shift with anyone.
    for v in &verdicts[30..] {
        assert_eq!(v.score.cluster_id, None, "{}: {:?}", v.score.account_id, v.link_reason);
    }
}
