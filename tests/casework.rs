//! A case worked end to end through the real service: simulated traffic sent
//! over HTTP, an audit queued through the API and run by the service's
//! worker, a flag found, escalated and confirmed, its case file exported, and
//! every one of those actions found in the audit log.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Service, TestDb, command, create_key, run};
use serde_json::{Value, json};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_works_a_case_from_ingest_to_case_file() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let mut simulate = command(None, repo());
    simulate.args(["simulate", "--seed", "3", "--days", "3", "--scale", "0.05", "--out"]).arg(&events);
    simulate.arg("--labels").arg(dir.path().join("labels.csv"));
    let out = run(simulate, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (ingest, analyst, admin) = (
        create_key(Some(&db.url), dir.path(), "ingest"),
        create_key(Some(&db.url), dir.path(), "analyst"),
        create_key(Some(&db.url), dir.path(), "admin"),
    );

    let mut cmd = command(Some(&db.url), dir.path());
    cmd.env("DISTILLWATCH__AUDIT__POLL_SECONDS", "1");
    let service = Service::start(cmd);
    let client = dw_app::http_client();
    let body = std::fs::read(&events).unwrap();
    let sent = client
        .post(service.url("/v1/events"))
        .bearer_auth(&ingest)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let sent: Value = sent.json().await.unwrap();
    assert!(sent["accepted"].as_u64().unwrap() > 1000, "{sent}");

    // An audit queued through the API, run by the service's worker.
    let queued: Value = client
        .post(service.url("/v1/audits"))
        .bearer_auth(&analyst)
        .json(&json!({"from": "2026-11-02T00:00:00Z", "to": "2026-11-05T00:00:00Z"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let audit = queued["id"].as_i64().unwrap();
    common::wait_for_audit(&client, &service, &analyst, audit, Duration::from_secs(180)).await;

    // The riskiest open account flag, escalated with a note, then confirmed.
    let flags: Value = client
        .get(service.url("/v1/flags?status=open&kind=account&limit=1"))
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = flags["flags"][0]["id"].as_i64().unwrap_or_else(|| panic!("an open flag: {flags}"));
    let flag_url = service.url(&format!("/v1/flags/{id}"));
    for change in [
        json!({"status": "escalated", "note": "harvests instructions round the clock", "assignee": "lead@example"}),
        json!({"status": "confirmed", "note": "confirmed with the payments team"}),
    ] {
        let response = client.patch(&flag_url).bearer_auth(&analyst).json(&change).send().await.unwrap();
        assert_eq!(response.status(), 200, "{change}");
    }
    let wrong =
        client.patch(&flag_url).bearer_auth(&analyst).json(&json!({"status": "escalated"})).send().await.unwrap();
    assert_eq!(wrong.status(), 409);

    // The case file for legal.
    let case = client.get(format!("{flag_url}/export?format=html")).bearer_auth(&analyst).send().await.unwrap();
    assert_eq!(case.status(), 200);
    let policy = case.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.starts_with("default-src 'none'; style-src 'sha256-") && policy.contains("frame-ancestors 'none'"));
    let html = case.text().await.unwrap();
    assert!(html.contains("confirmed with the payments team") && html.contains("<h2>Findings</h2>"), "{html}");
    let summary = &html[html.find("<h2>Summary</h2>").unwrap()..html.find("<h2>Findings</h2>").unwrap()];
    assert!(summary.contains("The strongest evidence:"), "{summary}");

    // Every action on record, with who did it.
    let log: Value = client
        .get(service.url(&format!("/v1/audit-log?target=flag:{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = log["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["flag.update", "flag.update", "flag.export"], "{log}");
    assert!(log["entries"].as_array().unwrap().iter().all(|e| e["role"] == "analyst"));
    assert_eq!(log["entries"][1]["after"]["status"], "confirmed");

    let (status, _) = service.stop();
    assert!(status.success());
    db.drop_db().await;
}

/// `distillwatch demo`: a demo database with simulated traffic, audited,
/// served, with a guide whose analyst key lists the flags it announces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_builds_a_database_audits_it_and_serves_it() {
    let db = TestDb::create().await;
    let service = Service::start_with(command(Some(&db.url), repo()), "demo");
    // The guide is printed before the service listens; its reader may lag a moment.
    let started = Instant::now();
    while !service.stderr().contains("Ctrl-C stops") && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let guide = service.stderr();
    assert!(guide.contains("distillwatch demo:") && guide.contains("flags opened"), "{guide}");
    let key = guide
        .lines()
        .find_map(|l| l.strip_prefix("Analyst key: "))
        .unwrap_or_else(|| panic!("no analyst key in {guide}"))
        .trim()
        .to_owned();
    let flags: Value = dw_app::http_client()
        .get(service.url("/v1/flags?status=open"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = flags["flags"][0]["id"].as_i64().unwrap_or_else(|| panic!("open flags: {flags}"));
    assert!(guide.contains(&format!("/v1/flags/{first}")), "the guide shows the riskiest flag: {guide}");
    // The guide starts with the console's address, and the console answers there.
    let demo_guide = &guide[guide.find("\nThe console: ").unwrap_or_else(|| panic!("no console in {guide}"))..];
    let first_line = demo_guide.trim_start().lines().next().unwrap();
    assert!(first_line.starts_with(&format!("The console: {}/", service.base)), "{first_line}");
    assert!(demo_guide.find("The console:") < demo_guide.find("distillwatch demo:"), "the console first: {guide}");
    let sign_in = dw_app::http_client().get(service.url("/sign-in")).send().await.unwrap();
    assert_eq!(sign_in.status(), 200);
    let (status, _) = service.stop();
    assert!(status.success());
    let server = sqlx::PgPool::connect(&common::server_url()).await.unwrap();
    let demo_db = format!("{}_demo", db.url.rsplit('/').next().unwrap());
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {demo_db} WITH (FORCE)")))
        .execute(&server)
        .await
        .unwrap();
    db.drop_db().await;
}
