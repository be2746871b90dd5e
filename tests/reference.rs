//! Reference sets through the real binary: `distillwatch reference add` and
//! `reference list`.

mod common;

use std::io::Write;
use std::path::Path;

use common::{TestDb, command, run};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn reference_add_creates_a_set_loads_compressed_files_and_names_bad_lines() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let lines: String = (0..12)
        .map(|i| {
            format!(
                "{}\n",
                serde_json::json!({"prompt": format!("Explain topic {i}."), "output": format!("Topic {i} is ...")})
            )
        })
        .collect();
    let gz = dir.path().join("suspect.jsonl.gz");
    let mut encoder = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    encoder.write_all(lines.as_bytes()).unwrap();
    encoder.finish().unwrap();

    let add = |name: &str, file: &Path, extra: &[&str]| {
        let mut cmd = command(Some(&db.url), repo());
        cmd.args(["reference", "add", name]).arg(file).args(extra);
        run(cmd, None)
    };
    let out = add("suspect-x", &gz, &["--description", "model X, public API"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "created suspect set \"suspect-x\" (id 1): 12 lines, 12 items stored, 0 already held, 0 lines rejected"
        ),
        "{}",
        stderr(&out)
    );
    // The outputs are embedded with the engine (the repository's model) as they are stored.
    assert!(stderr(&out).contains("embedded 12 outputs with all-MiniLM-L6-v2 in"), "{}", stderr(&out));
    // Again: every item is already held, and already embedded.
    let out = add("suspect-x", &gz, &[]);
    assert!(
        stderr(&out).contains("added to suspect set \"suspect-x\" (id 1): 12 lines, 0 items stored, 12 already held"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("embedded 0 outputs"), "{}", stderr(&out));
    // The kind of an existing set is not changed by a flag.
    let out = add("suspect-x", &gz, &["--control"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("exists as a suspect set; leave out --control"), "{}", stderr(&out));

    // A control set from plain text with two bad lines: the good ones stored, the bad ones named, exit 2.
    let plain = dir.path().join("control.jsonl");
    std::fs::write(
        &plain,
        "{\"output\":\"fine\"}\n\n{\"output\":\"\"}\n{\"prompt\":\"p\",\"output\":\"ok\",\"extra\":1}\n",
    )
    .unwrap();
    let out = add("control-y", &plain, &["--control", "--lexical-only"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!stderr(&out).contains("embedded"), "--lexical-only embeds nothing: {}", stderr(&out));
    let text = stderr(&out);
    assert!(text.contains("line 3: output: must not be empty"), "{text}");
    assert!(text.contains("line 4: extra: unknown field"), "{text}");
    assert!(
        text.contains(
            "created control set \"control-y\" (id 2): 3 lines, 1 items stored, 0 already held, 2 lines rejected"
        ),
        "{text}"
    );
    let out = add("control-y", &dir.path().join("missing.jsonl"), &["--control", "--lexical-only"]);
    assert!(!out.status.success() && stderr(&out).contains("no such file"), "{}", stderr(&out));

    let mut list = command(Some(&db.url), repo());
    list.args(["reference", "list"]);
    let out = run(list, None);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = stdout.lines().skip(1).map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert_eq!(&rows[0][..5], ["2", "control-y", "control", "1", "0"]);
    assert_eq!(&rows[1][..5], ["1", "suspect-x", "suspect", "12", "12"]);
    assert_eq!(rows[1][6], "model X, public API");
    db.drop_db().await;
}

/// The sample's Arena-Hard prompts with gpt-4-0314's answer (ours) and
/// another model's (independent).
fn arena() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(repo().join("data/sample/paired_outputs/pairs.jsonl")).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["source"] == "arena_hard_v0.1" && r["model_a"] == "gpt-4-0314")
        .filter(|r| seen.insert(r["prompt"].as_str().unwrap().to_owned()))
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap().to_owned();
            (text("prompt"), text("output_a"), text("output_b"))
        })
        .collect()
}

#[tokio::test]
async fn reference_test_reports_a_student_against_a_control_as_text_and_json() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let answered = arena();
    // We served every prompt; the suspect's answers are ours with every other sentence dropped.
    let events: String = answered
        .iter()
        .enumerate()
        .map(|(i, (prompt, ours, _))| {
            let event = serde_json::json!({"event_id": format!("e{i}"), "account_id": format!("acct_{}", i % 4),
                "timestamp": "2026-11-03T10:00:00Z", "model": "atlas-2",
                "request": {"prompt": prompt}, "response": {"content": ours}});
            format!("{event}\n")
        })
        .collect();
    let item = |prompt: &str, output: &str| format!("{}\n", serde_json::json!({"prompt": prompt, "output": output}));
    let student: String = answered
        .iter()
        .map(|(p, ours, _)| {
            let kept: String = ours.split_inclusive('.').step_by(2).collect();
            item(p, &kept)
        })
        .collect();
    let control: String = answered.iter().map(|(p, _, other)| item(p, other)).collect();
    // Two more unrelated models for a panel: the other model's answers halved, and turned around.
    let halved: String = answered
        .iter()
        .map(|(p, _, other)| item(p, &other.split_inclusive('.').step_by(2).collect::<String>()))
        .collect();
    let turned: String =
        answered.iter().map(|(p, _, other)| item(p, &other.split_inclusive('.').rev().collect::<String>())).collect();
    for (name, text) in [
        ("events.jsonl", &events),
        ("student.jsonl", &student),
        ("control.jsonl", &control),
        ("halved.jsonl", &halved),
        ("turned.jsonl", &turned),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let cli = |args: &[&str]| {
        let mut cmd = command(Some(&db.url), dir.path());
        cmd.args(args);
        run(cmd, None)
    };
    assert!(cli(&["ingest", "events.jsonl"]).status.success());
    assert!(cli(&["reference", "add", "student", "student.jsonl", "--lexical-only"]).status.success());
    assert!(cli(&["reference", "add", "other-model", "control.jsonl", "--control", "--lexical-only"]).status.success());

    let out = cli(&["reference", "test", "student", "--control", "other-model", "--lexical-only"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "Aligned prompts (answered by us, the suspect and the control): {} ({} served exactly, 0 near-identically)",
            answered.len(),
            answered.len()
        )),
        "{text}"
    );
    assert!(text.contains("Result: REJECTED at p = 1.0e-4"), "{text}");
    assert!(text.contains("| ngram_overlap |") && text.contains("| combined |"), "{text}");
    assert!(text.contains("does not say why"), "{text}");

    // Three controls or more: the panel test, the suspect's and every control's standing.
    assert!(cli(&["reference", "add", "halved", "halved.jsonl", "--control", "--lexical-only"]).status.success());
    assert!(cli(&["reference", "add", "turned", "turned.jsonl", "--control", "--lexical-only"]).status.success());
    let panel =
        ["reference", "test", "student", "--control", "other-model", "--control", "halved", "--control", "turned"];
    let out = cli(&[&panel[..], &["--lexical-only"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Distillation test against a panel: suspect \"student\""), "{text}");
    assert!(
        text.contains(&format!("Prompts answered by us, the suspect and every control: {}", answered.len())),
        "{text}"
    );
    for row in
        ["| student | suspect, against the controls |", "| other-model | control, against the others |", "| turned |"]
    {
        assert!(text.contains(row), "{row}: {text}");
    }
    let out = cli(&[&panel[..], &["--lexical-only", "--json"]].concat());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["test"]["controls"].as_array().unwrap().len(), 3, "{report}");
    assert_eq!(report["controls"][1]["name"], "halved", "{report}");
    let out =
        cli(&["reference", "test", "student", "--control", "other-model", "--control", "halved", "--lexical-only"]);
    assert!(!out.status.success(), "two controls are not a panel");
    assert!(stderr(&out).contains("at least 3 control sets (2 given)"), "{}", stderr(&out));

    // The fingerprint test reads the suspect's answers whatever prompts they answer.
    let fingerprint = [
        "reference",
        "fingerprint",
        "student",
        "--control",
        "other-model",
        "--control",
        "halved",
        "--control",
        "turned",
    ];
    let out = cli(&fingerprint);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Fingerprint test: suspect \"student\""), "{text}");
    assert!(text.contains(&format!("Our habits learned from {} served completions", answered.len())), "{text}");
    assert!(text.contains("| student (suspect) |") && text.contains("| halved |"), "{text}");
    // The verdict is the data's (these controls are other snapshots of our provider, close in manner).
    assert!(text.contains("Result: REJECTED at p = ") || text.contains("Result: not rejected (p = "), "{text}");
    assert!(text.contains("Habits of ours the suspect carries most beyond the controls"), "{text}");
    let out = cli(&[&fingerprint[..], &["--json", "--sample", "40"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["served_read"], 40, "{report}");
    assert_eq!(report["test"]["conclusion"]["outcome"], "inconclusive", "40 of ours cannot be halved into 30s");
    let out = cli(&[&fingerprint[..], &["--sample", "0"]].concat());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("sample: must be between 1 and 100000 (0 given)"), "{}", stderr(&out));

    let out = cli(&["reference", "test", "other-model", "--control", "student", "--lexical-only", "--json"]);
    assert!(!out.status.success(), "a control set cannot be the suspect");
    assert!(stderr(&out).contains("is a control set"), "{}", stderr(&out));
    let out = cli(&[
        "reference",
        "test",
        "student",
        "--control",
        "other-model",
        "--lexical-only",
        "--json",
        "--to",
        "2026-11-01",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["test"]["conclusion"]["outcome"], "inconclusive", "nothing served before the window's end");
    assert_eq!(report["test"]["aligned_items"], 0);
    db.drop_db().await;
}

#[tokio::test]
async fn harvesters_of_simulated_traffic_are_attributed_tested_and_flagged_by_their_reference_match() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let mut cmd = command(Some(&db.url), dir.path());
        cmd.args(args);
        run(cmd, None)
    };
    let data = repo().join("data/sample");
    let out = cli(&[
        "simulate",
        "--seed",
        "5",
        "--days",
        "3",
        "--scale",
        "0.05",
        "--out",
        "events.jsonl",
        "--labels",
        "labels.csv",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(cli(&["ingest", "events.jsonl"]).status.success());

    // Two harvesters; a suspect model whose outputs are their completions (to the same prompts).
    let labels = std::fs::read_to_string(dir.path().join("labels.csv")).unwrap();
    let harvesters: Vec<String> = labels
        .lines()
        .filter(|l| l.contains(",bulk_instructions,") || l.contains(",reasoning_harvest,"))
        .map(|l| l.split(',').next().unwrap().to_owned())
        .take(2)
        .collect();
    assert_eq!(harvesters.len(), 2, "{labels}");
    // And one member of a hosting farm, which the audit links to its campaign.
    let farm_member =
        labels.lines().find(|l| l.contains(",farm_hosting,")).unwrap().split(',').next().unwrap().to_owned();
    let sources: Vec<String> = harvesters.iter().cloned().chain([farm_member.clone()]).collect();
    let people: Vec<String> =
        labels.lines().filter(|l| l.contains(",casual,")).map(|l| l.split(',').next().unwrap().to_owned()).collect();
    let events: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let text_of = |e: &serde_json::Value| {
        let request = &e["request"];
        let prompt = request["messages"].as_array().and_then(|m| m.last()).map_or_else(
            || request["prompt"].as_str().unwrap_or_default().to_owned(),
            |m| m["content"].as_str().unwrap_or_default().to_owned(),
        );
        (prompt, e["response"]["content"].as_str().unwrap_or_default().to_owned())
    };
    let mut suspect = String::new();
    let mut control = String::new();
    let mut unrelated = events.iter().filter(|e| people.iter().any(|p| e["account_id"] == p.as_str())).map(text_of);
    let mut taken = std::collections::BTreeMap::<String, usize>::new();
    for e in events.iter().filter(|e| sources.iter().any(|h| e["account_id"] == h.as_str())) {
        let (prompt, completion) = text_of(e);
        let count = taken.entry(e["account_id"].as_str().unwrap().to_owned()).or_default();
        if completion.split_whitespace().count() < 40 || *count >= 30 {
            continue;
        }
        *count += 1;
        suspect
            .push_str(&format!("{}\n", serde_json::json!({"prompt": prompt, "output": format!("Sure. {completion}")})));
        let (_, other) = unrelated.next().expect("enough people's answers");
        control.push_str(&format!("{}\n", serde_json::json!({"prompt": prompt, "output": other})));
    }
    assert!(taken.len() == 3 && taken.values().all(|n| *n >= 5), "{taken:?}");
    std::fs::write(dir.path().join("suspect.jsonl"), suspect).unwrap();
    std::fs::write(dir.path().join("control.jsonl"), control).unwrap();
    assert!(cli(&["reference", "add", "student", "suspect.jsonl", "--lexical-only"]).status.success());
    assert!(cli(&["reference", "add", "unrelated", "control.jsonl", "--control", "--lexical-only"]).status.success());

    let out = cli(&["reference", "attribute", "student", "--json", "--lexical-only"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ranked: Vec<&str> =
        report["accounts"].as_array().unwrap().iter().map(|a| a["account_id"].as_str().unwrap()).collect();
    let mut top: Vec<&str> = ranked.iter().take(3).copied().collect();
    top.sort_unstable();
    let mut expected: Vec<&str> = sources.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(top, expected, "the accounts that were served the outputs rank first: {ranked:?}");
    assert!(report["share_explained"].as_f64().unwrap() > 0.99, "{}", report["share_explained"]);
    let triple = &report["accounts"][0]["matches"][0];
    assert!(triple["suspect_output"].as_str().unwrap().contains(triple["completion"].as_str().unwrap()), "{triple}");
    let text = String::from_utf8(cli(&["reference", "attribute", "student", "--lexical-only"]).stdout).unwrap();
    assert!(text.contains("| account | cluster |") && text.contains(&harvesters[0]), "{text}");

    let out = cli(&["reference", "test", "student", "--control", "unrelated", "--lexical-only"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("Result: REJECTED"), "{text}{}", stderr(&out));

    // The audit reads every completion against the suspect's outputs: the harvesters' reference_match is
    // decisive; people's is computed (zero), not left out.
    let out = cli(&[
        "audit",
        "--from",
        "2026-11-02",
        "--to",
        "2026-11-05",
        "--output",
        "scores.csv",
        "--evidence",
        "evidence.jsonl",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bundles: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("evidence.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for harvester in &harvesters {
        let bundle = bundles.iter().find(|b| b["score"]["account_id"] == harvester.as_str()).expect("flagged");
        let signal = bundle["signals"].as_array().unwrap().iter().find(|s| s["name"] == "reference_match").unwrap();
        // The account's completions the suspect reproduces (a re-asked problem's answers as well), of all it was served.
        let detail = signal["detail"].as_str().unwrap();
        let matched: usize = detail.split(' ').next().unwrap().parse().unwrap();
        assert!(matched >= taken[harvester], "{signal}");
        assert!(detail.contains("completions reproduced in student"), "{signal}");
        assert!(signal["value"].as_f64().unwrap() > 0.0, "{signal}");
    }
    let scores = std::fs::read_to_string(dir.path().join("scores.csv")).unwrap();
    // After the audit, attribution names the farm member's cluster.
    let farm_row = scores.lines().find(|l| l.starts_with(farm_member.as_str())).unwrap();
    let farm_cluster = farm_row.split(',').nth(4).unwrap();
    assert!(!farm_cluster.is_empty(), "{farm_row}");
    let report: serde_json::Value =
        serde_json::from_slice(&cli(&["reference", "attribute", "student", "--json", "--lexical-only"]).stdout)
            .unwrap();
    // Farm members were served overlapping slices of one job: the cluster explains more than its member.
    let clusters = report["clusters"].as_array().unwrap();
    let farm = clusters.iter().find(|c| c["cluster_id"] == farm_cluster).expect("the farm's cluster");
    let members: Vec<&str> = farm["accounts"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert!(members.contains(&farm_member.as_str()), "{farm}");
    assert!(members.iter().all(|m| labels.contains(&format!("{m},1,farm_hosting,"))), "{farm}");
    let member_items = report["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account_id"] == farm_member.as_str())
        .unwrap()["matched_items"]
        .as_u64()
        .unwrap();
    assert!(farm["matched_items"].as_u64().unwrap() >= member_items, "{farm}");
    let person = scores.lines().find(|l| people.iter().any(|p| l.starts_with(p.as_str()))).unwrap();
    assert!(person.contains(",false,"), "{person}");

    // The same through the service: sets uploaded over HTTP, attribution and the test asked for, run by
    // `serve`'s worker as jobs, followed, and answered with their reports.
    let analyst = common::create_key(Some(&db.url), dir.path(), "analyst");
    let mut serve = command(Some(&db.url), dir.path());
    serve.env("DISTILLWATCH__AUDIT__POLL_SECONDS", "1");
    let service = common::Service::start(serve);
    let client = dw_app::http_client();
    let call = |method: reqwest::Method, path: &str| {
        client.request(method, service.url(path)).header("Authorization", format!("Bearer {analyst}"))
    };
    let mut ids = Vec::new();
    for (name, file, is_control) in [("student-api", "suspect.jsonl", false), ("unrelated-api", "control.jsonl", true)]
    {
        let created = call(reqwest::Method::POST, "/v1/reference-sets")
            .json(&serde_json::json!({"name": name, "control": is_control}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let id = created.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();
        let items = std::fs::read(dir.path().join(file)).unwrap();
        let uploaded = call(reqwest::Method::POST, &format!("/v1/reference-sets/{id}/items"))
            .header("Content-Type", "application/x-ndjson")
            .body(items)
            .send()
            .await
            .unwrap();
        assert_eq!(uploaded.status(), 200, "{}", uploaded.text().await.unwrap());
        ids.push(id);
    }
    let (suspect_id, control_id) = (ids[0], ids[1]);
    let answered = |path: String| {
        let call = &call;
        async move {
            let asked = call(reqwest::Method::GET, &path).send().await.unwrap();
            assert_eq!(asked.status(), 202, "the first ask queues a run");
            let run = asked.headers()["location"].to_str().unwrap().to_owned();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
            loop {
                let job: serde_json::Value =
                    call(reqwest::Method::GET, &run).send().await.unwrap().json().await.unwrap();
                match job["state"].as_str().unwrap() {
                    "done" => break,
                    "queued" | "running" => {}
                    other => panic!("{other}: {job}"),
                }
                assert!(std::time::Instant::now() < deadline, "{job}");
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
            let answer = call(reqwest::Method::GET, &path).send().await.unwrap();
            assert_eq!(answer.status(), 200, "asked again once done: the kept report");
            let job: serde_json::Value = answer.json().await.unwrap();
            assert_eq!(run, format!("/v1/reference-jobs/{}", job["id"]));
            job["result"].clone()
        }
    };
    let report = answered(format!("/v1/reference-sets/{suspect_id}/attribution")).await;
    let mut top: Vec<&str> =
        report["accounts"].as_array().unwrap().iter().take(3).map(|a| a["account_id"].as_str().unwrap()).collect();
    top.sort_unstable();
    assert_eq!(top, expected, "{report}");
    assert!(report["clusters"].as_array().unwrap().iter().any(|c| c["cluster_id"] == farm_cluster), "{report}");
    let test = answered(format!("/v1/reference-sets/{suspect_id}/distillation-test?control={control_id}")).await;
    assert_eq!(test["test"]["conclusion"]["outcome"], "rejected", "{test}");
    let (status, logs) = service.stop();
    assert!(status.success(), "{logs}");
    db.drop_db().await;
}
