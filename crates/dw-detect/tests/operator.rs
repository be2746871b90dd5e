//! A linked cluster read as one actor (`dw_detect::operator`): a farm of
//! light accounts, each under the flag line on its own and as a cluster of
//! light members, adds up to the bulk harvester it is; a household linked
//! by one card is one owner's, not one actor's, and is not read as one (the
//! merged clocks of several people are busy and flat whoever they are).

use dw_detect::operator::{MAX_OPERATOR_REQUESTS, Merged, Reading, readings, score_operators};
use dw_detect::{AccountSignals, DetectConfig, Verdict, Weights, score_population};
use dw_domain::RequestRecord;

const START: i64 = 1_793_577_600_000; // 2026-11-02T00:00:00Z
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

fn mix(k: u64) -> u64 {
    let mut z = k.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

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
        completion_tokens: Some(600),
        client_ip: None,
        user_agent: Some("python-httpx/0.27.2".into()),
        end_user: None,
        prompt_vector: None,
    }
}

const TOPICS: [&str; 12] = [
    "photosynthesis",
    "the French revolution",
    "binary search",
    "supply and demand",
    "plate tectonics",
    "the immune system",
    "compound interest",
    "the water cycle",
    "public key cryptography",
    "the Roman senate",
    "entropy",
    "sorting algorithms",
];

/// `members` accounts of one job, each a light user (`per_day` requests a
/// day, in working hours, for seven days), every prompt one of the job's
/// instructions in one wrapper, sent from one of two hosting /24s, no
/// parameters logged: only the network and the wrapper tie them.
fn farm(members: usize, per_day: usize) -> Vec<Vec<RequestRecord>> {
    (0..members)
        .map(|a| {
            let id = format!("farm{a:02}");
            let mut requests: Vec<RequestRecord> = (0..7 * per_day)
                .map(|i| {
                    let k = mix((a * 10_000 + i) as u64);
                    let day = (i / per_day) as i64;
                    let ts = START + day * DAY + 8 * HOUR + (k % (10 * HOUR as u64)) as i64;
                    let prompt = format!(
                        "Explain {} in depth, case {}, with an example.\n\nGive a thorough, well-structured answer.",
                        TOPICS[(k >> 20) as usize % TOPICS.len()],
                        a * 1000 + i
                    );
                    let mut r = request(&id, i, ts, prompt);
                    r.client_ip = Some(format!("34.{}.9.{}", 70 + (k >> 8) % 2, 2 + (k >> 12) % 200).parse().unwrap());
                    r
                })
                .collect();
            requests.sort_by_key(|r| r.ts_ms);
            requests
        })
        .collect()
}

/// Three people who share one card and one home network: evening chats of
/// a few turns each.
fn household() -> Vec<Vec<RequestRecord>> {
    (0..3)
        .map(|a| {
            let id = format!("home{a}");
            (0..28)
                .map(|i| {
                    let day = (i / 4) as i64;
                    let ts = START + day * DAY + 19 * HOUR + a as i64 * 20 * MINUTE + (i % 4) as i64 * 4 * MINUTE;
                    let mut r =
                        request(&id, i, ts, format!("and what about the {} part, {}?", ["first", "next"][i % 2], i));
                    r.prior_turns = Some((i % 4) as u32);
                    r.conversation_id = Some(format!("{id}-c{day}"));
                    r.client_ip = Some("81.14.20.7".parse().unwrap());
                    r.user_agent = Some("Mozilla/5.0 (Macintosh) Chat/3.1".into());
                    r
                })
                .collect()
        })
        .collect()
}

/// People, each on their own home network: the population the farm's
/// traces are rare in.
fn people(count: usize) -> Vec<Vec<RequestRecord>> {
    (0..count)
        .map(|a| {
            let id = format!("person{a:04}");
            (0..10)
                .map(|i| {
                    let ts = START + (i / 2) as i64 * DAY + 20 * HOUR + (i % 2) as i64 * 10 * MINUTE;
                    let mut r = request(&id, i, ts, format!("what should I cook tonight, idea {i}?"));
                    r.client_ip = Some(format!("90.{}.{}.7", a % 250, a / 250).parse().unwrap());
                    r.prior_turns = Some((i % 2) as u32);
                    r
                })
                .collect()
        })
        .collect()
}

fn signals(requests: &[RequestRecord], card: Option<&str>) -> AccountSignals {
    let attributes = card.map(|card| dw_domain::AccountAttributes {
        account_id: requests[0].account_id.clone(),
        created_at_ms: None,
        org: None,
        country: None,
        payment_fingerprint: Some(card.into()),
        email_domain_fingerprint: None,
    });
    AccountSignals::from_requests(requests, attributes, None, false).unwrap()
}

/// What the audit does: score and link, then read each cluster's members'
/// requests merged in time order and score them as one account.
fn audit(accounts: &[(Vec<RequestRecord>, Option<&str>)]) -> Vec<Verdict> {
    let config = DetectConfig::default();
    let weights = Weights::default();
    let population = accounts.iter().map(|(r, card)| signals(r, *card)).collect();
    let mut verdicts = score_population(population, &config, &weights);
    let operators = readings(&verdicts)
        .into_iter()
        .map(|reading| {
            let mut merged: Vec<RequestRecord> = accounts
                .iter()
                .filter(|(r, _)| reading.accounts.contains(&r[0].account_id))
                .flat_map(|(r, _)| r.iter().cloned())
                .collect();
            merged.sort_by_key(|r| r.ts_ms);
            (reading, Merged::of(&merged, None).unwrap())
        })
        .collect();
    score_operators(&mut verdicts, operators, &config, &weights);
    verdicts
}

#[test]
fn a_farm_of_light_accounts_is_scored_as_the_bulk_harvester_it_adds_up_to() {
    let mut accounts: Vec<(Vec<RequestRecord>, Option<&str>)> = farm(24, 30).into_iter().map(|r| (r, None)).collect();
    accounts.extend(household().into_iter().map(|r| (r, Some("card-7"))));
    accounts.extend(people(1200).into_iter().map(|r| (r, None)));

    // Before the operator is read: linked, but no member is flagged, on its own or through the cluster.
    let population = accounts.iter().map(|(r, card)| signals(r, *card)).collect();
    let before = score_population(population, &DetectConfig::default(), &Weights::default());
    let farm_cluster = before[0].score.cluster_id.clone().expect("the farm is linked by its network and wrapper");
    assert!(before[..24].iter().all(|v| v.score.cluster_id.as_ref() == Some(&farm_cluster)));
    for v in &before[..24] {
        assert!(!v.score.flagged, "each member is light, and so is their mean: {:?}", v.score);
    }

    let verdicts = audit(&accounts);
    for v in &verdicts[..24] {
        let operator = v.operator.as_ref().expect("each member shows its operator");
        assert_eq!((operator.members, operator.members_read, operator.requests), (24, 24, 24 * 7 * 30));
        assert!(v.score.flagged, "{:?}", v.score);
        assert_eq!(v.score.top_signals[0].signal, "linked_operator", "{:?}", v.score);
        assert!((v.score.risk - operator.risk).abs() < 1e-12);
        let volume = operator.signals.iter().find(|s| s.signal.name == "requests_per_active_day");
        assert_eq!(volume.and_then(|s| s.signal.value), Some(720.0), "{:?}", operator.signals);
    }

    // The household is linked by its card: one owner, three people, not one actor. It is not read as one.
    let home = &verdicts[24..27];
    assert!(home.iter().all(|v| v.score.cluster_id.is_some() && !v.operated && v.operator.is_none()));
    for v in home.iter().chain(&verdicts[27..]) {
        assert!(!v.score.flagged && v.score.risk < DetectConfig::default().levels.low, "{:?}", v.score);
    }
    assert!(verdicts[27..].iter().all(|v| v.operator.is_none() && v.score.cluster_id.is_none()));
}

fn verdict(account: &str, cluster: Option<&str>, requests: usize, risk: f64) -> Verdict {
    let score = dw_domain::AccountScore {
        account_id: account.into(),
        risk,
        level: DetectConfig::default().levels.level(risk),
        flagged: false,
        cluster_id: cluster.map(Into::into),
        top_signals: Vec::new(),
    };
    Verdict {
        score,
        requests,
        signals: Vec::new(),
        link_reason: None,
        riskiest_end_user: None,
        riskiest_stream: None,
        evidence: None,
        attributes: None,
        decisive: None,
        shared_templates: Vec::new(),
        operator: None,
        operated: true,
        cluster_edges: None,
    }
}

#[test]
fn readings_take_members_in_account_order_up_to_the_request_cap_and_skip_what_one_account_is() {
    let big = MAX_OPERATOR_REQUESTS / 2;
    let verdicts = vec![
        verdict("b", Some("c-1"), 10, 0.1),
        verdict("a", Some("c-1"), 20, 0.1),
        verdict("z", None, 5, 0.1),
        verdict("x3", Some("c-2"), big, 0.1),
        verdict("x1", Some("c-2"), big, 0.1),
        verdict("x2", Some("c-2"), big, 0.1),
        verdict("y1", Some("c-3"), MAX_OPERATOR_REQUESTS, 0.1),
        verdict("y2", Some("c-3"), 1, 0.1),
    ];
    let readings = readings(&verdicts);
    let shown: Vec<(&str, Vec<&str>, usize)> = readings
        .iter()
        .map(|r| (r.cluster_id.as_str(), r.accounts.iter().map(String::as_str).collect(), r.members))
        .collect();
    assert_eq!(shown, vec![("c-1", vec!["a", "b"], 2), ("c-2", vec!["x1", "x2"], 3)]);

    // Members tied only by ownership (a card, a sign-up burst) are neither read nor counted.
    let mut owned = verdicts.clone();
    owned[0].operated = false;
    let shown: Vec<(String, usize)> =
        dw_detect::operator::readings(&owned).into_iter().map(|r| (r.cluster_id, r.members)).collect();
    assert_eq!(shown, vec![("c-2".to_owned(), 3)], "c-1 has one operated member left: nothing to read");
}

#[test]
fn an_operator_below_its_members_raises_none_and_is_still_shown() {
    let mut verdicts = vec![verdict("a", Some("c-1"), 30, 0.8), verdict("b", Some("c-1"), 30, 0.8)];
    // An operator with no requests that show anything: one quiet request each.
    let quiet: Vec<RequestRecord> =
        (0..2).map(|i| request(["a", "b"][i], i, START + i as i64 * HOUR, "hello".into())).collect();
    let merged = Merged::of(&quiet, None).unwrap();
    let reading = Reading { cluster_id: "c-1".into(), accounts: vec!["a".into(), "b".into()], members: 2 };
    score_operators(&mut verdicts, vec![(reading, merged)], &DetectConfig::default(), &Weights::default());
    for v in &verdicts {
        assert_eq!(v.score.risk, 0.8);
        assert!(v.score.top_signals.is_empty());
        let operator = v.operator.as_ref().unwrap();
        assert!(operator.risk < 0.8 && operator.requests == 2, "{operator:?}");
    }
}
