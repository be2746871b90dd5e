//! Attribution and distillation-test runs through the router over a real
//! database (`oneshot`, no socket): asked for, queued once, run by a worker,
//! answered from the kept report until the sets change.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use dw_api::{ApiConfig, ApiState};
use dw_app::{Actor, App, AppConfig};
use dw_domain::Role;
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;

struct Harness {
    app: App,
    router: Router,
    analyst: String,
    ingest: String,
}

async fn harness(pool: PgPool) -> Harness {
    let app = App::new(pool, AppConfig::default());
    let admin = Actor { name: "cli:test".into(), role: "admin".into() };
    let analyst = app.create_key("analyst key", Role::Analyst, &admin).await.unwrap().secret;
    let ingest = app.create_key("ingest key", Role::Ingest, &admin).await.unwrap().secret;
    let router = dw_api::router(ApiState::new(app.clone(), ApiConfig::default()));
    Harness { app, router, analyst: analyst.expose_secret().to_owned(), ingest: ingest.expose_secret().to_owned() }
}

impl Harness {
    async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: String,
    ) -> (StatusCode, Value, HeaderMap) {
        let key = if path == "/v1/events" { &self.ingest } else { &self.analyst };
        let mut req =
            Request::builder().method(method).uri(path).header(header::AUTHORIZATION, format!("Bearer {key}"));
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let response = self.router.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, value, headers)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value, HeaderMap) {
        self.send("GET", path, None, String::new()).await
    }

    async fn post_json(&self, path: &str, body: Value) -> (StatusCode, Value, HeaderMap) {
        self.send("POST", path, Some("application/json"), body.to_string()).await
    }

    async fn upload(&self, set: i64, items: &[Value]) {
        let body: String = items.iter().map(|i| format!("{i}\n")).collect();
        let (status, out, _) =
            self.send("POST", &format!("/v1/reference-sets/{set}/items"), Some("application/x-ndjson"), body).await;
        assert_eq!(status, StatusCode::OK, "{out}");
    }

    async fn create_set(&self, name: &str, control: bool) -> i64 {
        let (status, set, _) = self.post_json("/v1/reference-sets", json!({"name": name, "control": control})).await;
        assert_eq!(status, StatusCode::CREATED, "{set}");
        set["id"].as_i64().unwrap()
    }
}

/// A long answer of its own: 60 words drawn from a small vocabulary by a
/// fixed generator, so that no two answers share eight words in a row.
fn answer(seed: u64) -> String {
    const WORDS: [&str; 24] = [
        "river", "stone", "copper", "lantern", "meadow", "harbor", "violet", "engine", "pepper", "candle", "orbit",
        "tunnel", "falcon", "marble", "velvet", "signal", "timber", "glacier", "saddle", "quartz", "ember", "willow",
        "anchor", "thistle",
    ];
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..60)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            WORDS[((state >> 33) % WORDS.len() as u64) as usize]
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn event(i: u64, account: &str) -> Value {
    json!({"event_id": format!("e{i}"), "account_id": account,
           "timestamp": format!("2026-11-01T{:02}:{:02}:00Z", 8 + i / 60, i % 60), "model": "atlas-2",
           "request": {"messages": [{"role": "user", "content": format!("Explain topic number {i} in full.")}]},
           "response": {"content": answer(i)}})
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn attribution_and_the_test_are_jobs_answered_once_done_and_rerun_when_the_sets_change(pool: PgPool) {
    let h = harness(pool.clone()).await;
    // The harvester was served events 0..8, a person events 8..16.
    let events: Vec<Value> = (0..16).map(|i| event(i, if i < 8 { "acct_harvester" } else { "acct_person" })).collect();
    let body: String = events.iter().map(|e| format!("{e}\n")).collect();
    let (status, out, _) = h.send("POST", "/v1/events", Some("application/x-ndjson"), body).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let suspect = h.create_set("student", false).await;
    let control = h.create_set("unrelated", true).await;
    let items: Vec<Value> = (0..6)
        .map(|i| json!({"prompt": format!("Explain topic number {i} in full."), "output": format!("Sure. {}", answer(i))}))
        .collect();
    h.upload(suspect, &items).await;
    let controls: Vec<Value> = (0..6)
        .map(|i| json!({"prompt": format!("Explain topic number {i} in full."), "output": answer(1000 + i)}))
        .collect();
    h.upload(control, &controls).await;

    // Asked for: queued, 202 with where to follow it; asked again: the same run.
    let path = format!("/v1/reference-sets/{suspect}/attribution");
    let (status, first, headers) = h.get(&path).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["state"], "queued");
    assert_eq!(first["kind"], "attribution");
    assert_eq!(first["set_id"], suspect);
    assert!(first["result"].is_null(), "{first}");
    let job = first["id"].as_i64().unwrap();
    assert_eq!(headers[header::LOCATION], format!("/v1/reference-jobs/{job}").as_str());
    assert!(headers.contains_key(header::RETRY_AFTER));
    assert_eq!(h.get(&path).await.1["id"], job, "a second asker shares the run");
    let (status, followed, _) = h.get(&format!("/v1/reference-jobs/{job}")).await;
    assert_eq!((status, followed["state"].as_str()), (StatusCode::OK, Some("queued")));

    // A worker runs it; the report is then the answer, without running again.
    let ran = h.app.run_reference_job("test-worker", None).await.unwrap().expect("the queued run is claimed");
    assert_eq!((ran.id, ran.state.as_str()), (job, "done"));
    let (status, done, headers) = h.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert!(!headers.contains_key(header::LOCATION));
    assert_eq!(
        (done["id"].as_i64(), done["state"].as_str(), done["attempts"].as_i64()),
        (Some(job), Some("done"), Some(1))
    );
    let report = &done["result"];
    assert_eq!(report["accounts"][0]["account_id"], "acct_harvester", "{report}");
    assert_eq!(report["accounts"][0]["matched_items"], 6, "{report}");
    assert!(report["accounts"].as_array().unwrap().iter().all(|a| a["account_id"] != "acct_person"), "{report}");
    assert!(h.app.run_reference_job("test-worker", None).await.unwrap().is_none(), "nothing left to run");

    // A window is another question; so is a set that gained items since.
    let windowed = format!("{path}?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z");
    let (status, other, _) = h.get(&windowed).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_ne!(other["id"], job);
    assert_eq!(other["from"], "2026-11-01T00:00:00Z");
    h.app.run_reference_job("test-worker", None).await.unwrap().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    h.upload(suspect, &[json!({"output": format!("Sure. {}", answer(6))})]).await;
    let (status, stale, _) = h.get(&path).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{stale}");
    assert_ne!(stale["id"], job);
    let rerun = h.app.run_reference_job("test-worker", None).await.unwrap().unwrap();
    assert_eq!(rerun.result.unwrap()["accounts"][0]["matched_items"], 7);

    // POST always queues a fresh run.
    let (status, fresh, headers) = h.post_json(&path, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{fresh}");
    assert!(fresh["id"].as_i64().unwrap() > rerun.id);
    assert!(headers.contains_key(header::LOCATION));
    h.app.run_reference_job("test-worker", None).await.unwrap().unwrap();

    // The test: too few prompts align for a conclusion, and the report says so.
    let test_path = format!("/v1/reference-sets/{suspect}/distillation-test?control={control}");
    let (status, queued, _) = h.get(&test_path).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!((queued["kind"].as_str(), queued["control_id"].as_i64()), (Some("distillation_test"), Some(control)));
    h.app.run_reference_job("test-worker", None).await.unwrap().unwrap();
    let (status, tested, _) = h.get(&test_path).await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    assert_eq!(tested["result"]["test"]["aligned_items"], 6, "{tested}");
    assert_eq!(tested["result"]["test"]["conclusion"]["outcome"], "inconclusive", "{tested}");
    let (status, posted, _) =
        h.post_json(&format!("/v1/reference-sets/{suspect}/distillation-test"), json!({"control": control})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{posted}");
    assert_ne!(posted["id"], tested["id"]);

    // Every run queued is on record, with who asked.
    let queued: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'reference_job.queue' AND actor LIKE 'key:%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(queued, 6);
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn bad_runs_are_refused_when_asked_for_and_name_what_is_wrong(pool: PgPool) {
    let h = harness(pool).await;
    let suspect = h.create_set("student", false).await;
    let control = h.create_set("unrelated", true).await;
    let cases: Vec<(&str, String, Option<Value>, StatusCode, &str)> = vec![
        ("GET", "/v1/reference-sets/999/attribution".into(), None, StatusCode::NOT_FOUND, "reference set 999"),
        ("GET", format!("/v1/reference-sets/{control}/attribution"), None, StatusCode::BAD_REQUEST, "is a control set"),
        (
            "GET",
            format!("/v1/reference-sets/{suspect}/attribution?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z"),
            None,
            StatusCode::BAD_REQUEST,
            "to: must be after from",
        ),
        (
            "GET",
            format!("/v1/reference-sets/{suspect}/attribution?from=yesterday"),
            None,
            StatusCode::BAD_REQUEST,
            "from: ",
        ),
        ("GET", format!("/v1/reference-sets/{suspect}/distillation-test"), None, StatusCode::BAD_REQUEST, "control"),
        (
            "GET",
            format!("/v1/reference-sets/{suspect}/distillation-test?control={suspect}"),
            None,
            StatusCode::BAD_REQUEST,
            "is not a control set",
        ),
        (
            "GET",
            format!("/v1/reference-sets/{suspect}/distillation-test?control=999"),
            None,
            StatusCode::NOT_FOUND,
            "reference set 999",
        ),
        (
            "POST",
            format!("/v1/reference-sets/{suspect}/attribution"),
            Some(json!({"since": "2026-11-01T00:00:00Z"})),
            StatusCode::BAD_REQUEST,
            "unknown field `since`",
        ),
        (
            "POST",
            format!("/v1/reference-sets/{suspect}/distillation-test"),
            Some(json!({})),
            StatusCode::BAD_REQUEST,
            "missing field `control`",
        ),
        (
            "GET",
            format!("/v1/reference-sets/{suspect}/panel-test?controls={control}"),
            None,
            StatusCode::BAD_REQUEST,
            "at least 3 control sets (1 given)",
        ),
        (
            "GET",
            format!("/v1/reference-sets/{suspect}/panel-test?controls={control},x7"),
            None,
            StatusCode::BAD_REQUEST,
            "controls: \"x7\" is not a set id",
        ),
        (
            "GET",
            format!("/v1/reference-sets/{suspect}/fingerprint-test?controls={control},{control}"),
            None,
            StatusCode::BAD_REQUEST,
            "named twice",
        ),
        (
            "GET",
            format!("/v1/reference-sets/{suspect}/fingerprint-test?controls={suspect}"),
            None,
            StatusCode::BAD_REQUEST,
            "is not a control set",
        ),
        (
            "GET",
            format!("/v1/reference-sets/{suspect}/fingerprint-test?controls={control}&sample=0"),
            None,
            StatusCode::BAD_REQUEST,
            "sample: must be between 1 and 100000 (0 given)",
        ),
        (
            "GET",
            format!("/v1/reference-sets/{suspect}/panel-test?controls={control}&sample=10"),
            None,
            StatusCode::BAD_REQUEST,
            "sample: panel_test reads no sample",
        ),
        (
            "POST",
            format!("/v1/reference-sets/{suspect}/fingerprint-test"),
            Some(json!({"controls": []})),
            StatusCode::BAD_REQUEST,
            "at least 1 control set (0 given)",
        ),
        (
            "POST",
            format!("/v1/reference-sets/{suspect}/fingerprint-test"),
            Some(json!({"controls": "1,2"})),
            StatusCode::BAD_REQUEST,
            "controls",
        ),
        ("GET", "/v1/reference-jobs/999".into(), None, StatusCode::NOT_FOUND, "reference job 999"),
        ("GET", "/v1/reference-jobs/abc".into(), None, StatusCode::NOT_FOUND, "reference job"),
    ];
    for (method, path, body, expected, says) in cases {
        let (status, out, _) = match body {
            Some(b) => h.post_json(&path, b).await,
            None => h.send(method, &path, None, String::new()).await,
        };
        assert_eq!(status, expected, "{method} {path}: {out}");
        let message = out["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{method} {path}: {message:?} should say {says:?}");
    }
    assert!(h.app.run_reference_job("w", None).await.unwrap().is_none(), "nothing was queued");
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn the_panel_and_fingerprint_tests_are_jobs_with_their_controls_in_order(pool: PgPool) {
    let h = harness(pool.clone()).await;
    // Our answers open with a habit of ours.
    let events: Vec<Value> = (0..70)
        .map(|i| {
            let mut e = event(i, "acct_a");
            e["response"]["content"] = json!(format!("Certainly, here goes. {}", answer(i)));
            e
        })
        .collect();
    let body: String = events.iter().map(|e| format!("{e}\n")).collect();
    let (status, out, _) = h.send("POST", "/v1/events", Some("application/x-ndjson"), body).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let suspect = h.create_set("student", false).await;
    // The suspect answered other prompts than ours, in our words; the controls in words of their own.
    let items: Vec<Value> =
        (100..140).map(|i| json!({"output": format!("Certainly, here goes. {}", answer(i))})).collect();
    h.upload(suspect, &items).await;
    let mut controls = Vec::new();
    for c in 0..3u64 {
        let id = h.create_set(&format!("control-{c}"), true).await;
        let items: Vec<Value> = (0..40).map(|i| json!({"output": answer(10_000 * (c + 1) + i)})).collect();
        h.upload(id, &items).await;
        controls.push(id);
    }
    let list = |ids: &[i64]| ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");

    // The fingerprint test: queued with its controls and sample, run, answered from the report.
    let path = format!("/v1/reference-sets/{suspect}/fingerprint-test?controls={}&sample=500", list(&controls));
    let (status, queued, headers) = h.get(&path).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["kind"], "fingerprint_test");
    assert_eq!(queued["control_ids"], json!(controls), "in the order given");
    assert_eq!(queued["sample"], 500);
    assert!(headers.contains_key(header::LOCATION));
    let ran = h.app.run_reference_job("test-worker", None).await.unwrap().unwrap();
    assert_eq!(ran.state.as_str(), "done", "{:?}", ran.error);
    let (status, done, _) = h.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let report = &done["result"];
    assert_eq!(report["served_read"], 70, "{report}");
    assert_eq!(report["test"]["suspect"]["items"], 40, "{report}");
    assert_eq!(report["test"]["controls"].as_array().unwrap().len(), 3, "{report}");
    assert_eq!(report["controls"][2]["name"], "control-2", "{report}");
    assert_eq!(report["test"]["conclusion"]["outcome"], "rejected", "{report}");
    assert!(report["test"]["evidence"][0]["feature"].as_str().unwrap().starts_with("certainly"), "{report}");
    // Another order of the same controls is another question.
    let reversed: Vec<i64> = controls.iter().rev().copied().collect();
    let other = format!("/v1/reference-sets/{suspect}/fingerprint-test?controls={}&sample=500", list(&reversed));
    let (status, again, _) = h.get(&other).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_ne!(again["id"], done["id"]);
    h.app.run_reference_job("test-worker", None).await.unwrap().unwrap();

    // The panel test, queued by POST: no prompt aligns, and the report says so.
    let (status, posted, _) =
        h.post_json(&format!("/v1/reference-sets/{suspect}/panel-test"), json!({"controls": controls})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{posted}");
    assert_eq!((posted["kind"].as_str(), posted["sample"].is_null()), (Some("panel_test"), true));
    h.app.run_reference_job("test-worker", None).await.unwrap().unwrap();
    let (status, panel, _) = h.get(&format!("/v1/reference-jobs/{}", posted["id"])).await;
    assert_eq!(status, StatusCode::OK, "{panel}");
    assert_eq!(panel["result"]["test"]["conclusion"]["outcome"], "inconclusive", "{panel}");
    assert_eq!(panel["result"]["test"]["items"], 0, "{panel}");

    let recorded: Vec<Value> =
        sqlx::query_scalar("SELECT after FROM audit_log WHERE action = 'reference_job.queue' ORDER BY entry_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(recorded[0]["control_ids"], json!(controls), "{:?}", recorded);
    assert_eq!(recorded[0]["sample"], 500);
}
