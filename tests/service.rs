//! The whole service against a PostgreSQL server (DATABASE_URL): events sent
//! over HTTP and loaded with the CLI land in the database, exactly once.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Service, TestDb, command, create_key, events, ndjson, run};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_cli_ingest_land_in_the_database_once() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let key = create_key(Some(&db.url), dir.path(), "ingest");

    let mut cmd = command(Some(&db.url), dir.path());
    cmd.env("DISTILLWATCH__LOG__FORMAT", "json");
    let service = Service::start(cmd);
    let client = dw_app::http_client();

    // HTTP: 300 events, gzip-compressed NDJSON.
    let body = gzip(ndjson(&events("http", 300, 7)).as_bytes());
    let response = client
        .post(service.url("/v1/events"))
        .bearer_auth(&key)
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "gzip")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let out: serde_json::Value = response.json().await.unwrap();
    assert_eq!(out, serde_json::json!({"accepted": 300, "duplicates": 0, "rejected": []}));

    // CLI: 200 events with three bad lines among them.
    let mut lines: Vec<String> = ndjson(&events("cli", 200, 5)).lines().map(str::to_owned).collect();
    lines.insert(10, r#"{"account_id":"a","model":"m","request":{"prompt":"no timestamp"}}"#.into());
    lines.insert(50, "{broken".into());
    lines.insert(
        100,
        r#"{"account_id":"a","timestamp":"2026-11-01T00:00:00Z","model":"m","request":{"prompt":"x","n":0}}"#.into(),
    );
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let mut cmd = command(Some(&db.url), dir.path());
    cmd.args(["ingest", "events.jsonl"]);
    let out = run(cmd, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "rejected lines make the exit code non-zero: {stderr}");
    assert!(stderr.contains("line 11: timestamp: is required"), "{stderr}");
    assert!(stderr.contains("line 51: invalid JSON"), "{stderr}");
    assert!(stderr.contains("line 101: request.n: 0 is out of range"), "{stderr}");
    assert!(stderr.contains("200 accepted, 0 duplicates, 3 rejected"), "{stderr}");

    // Loading it again: all duplicates; --allow-rejects makes it exit 0.
    let mut cmd = command(Some(&db.url), dir.path());
    cmd.args(["ingest", "--allow-rejects", "events.jsonl"]);
    let out = run(cmd, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("0 accepted, 200 duplicates, 3 rejected"), "{stderr}");

    // Several files (one gzip), and stdin: rejects carry the file name.
    std::fs::write(dir.path().join("more.jsonl.gz"), gzip(ndjson(&events("gz", 50, 3)).as_bytes())).unwrap();
    std::fs::write(dir.path().join("bad.jsonl"), "{\"account_id\": 1}\n").unwrap();
    let mut cmd = command(Some(&db.url), dir.path());
    cmd.args(["ingest", "more.jsonl.gz", "bad.jsonl"]);
    let out = run(cmd, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.jsonl: line 1: account_id: expected a string, found a number"), "{stderr}");
    let mut cmd = command(Some(&db.url), dir.path());
    cmd.args(["ingest", "-"]);
    let out = run(cmd, Some(ndjson(&events("stdin", 25, 2)).as_bytes()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The HTTP batch re-sent: duplicates, 200.
    let response = client
        .post(service.url("/v1/events"))
        .bearer_auth(&key)
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "gzip")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let out: serde_json::Value = response.json().await.unwrap();
    assert_eq!(out["duplicates"], 300);

    let pool = db.pool().await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();
    assert_eq!(count, 300 + 200 + 50 + 25);
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts").fetch_one(&pool).await.unwrap();
    assert_eq!(accounts, 7);
    let sources: Vec<(String, i64)> =
        sqlx::query_as("SELECT source, sum(accepted)::bigint FROM ingest_log GROUP BY source ORDER BY source")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(sources, vec![("cli".to_owned(), 275), ("http".to_owned(), 300)]);
    let sample: (String, Option<String>, Option<i32>) =
        sqlx::query_as("SELECT prompt, completion, max_tokens FROM events WHERE event_id = 'http-7'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(sample.0, "Explain topic 7 step by step.");
    assert_eq!(sample.2, Some(512));
    pool.close().await;

    let (status, logs) = service.stop();
    assert!(status.success(), "{logs}");
    // JSON logs: the request line carries the request id.
    let request_line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["span"]["path"] == "/v1/events")
        .unwrap_or_else(|| panic!("no request log line in: {logs}"));
    assert!(request_line["span"]["request_id"].as_str().is_some_and(|id| id.len() >= 32), "{request_line}");
    db.drop_db().await;
}

/// A batch still arriving when SIGTERM comes is finished and stored before the
/// process exits; new connections are no longer accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_batch_in_flight() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let key = create_key(Some(&db.url), dir.path(), "ingest");
    let service = Service::start(command(Some(&db.url), dir.path()));

    let body = ndjson(&events("late", 2000, 10));
    let (first, second) = body.as_bytes().split_at(body.len() / 2);
    let mut stream = TcpStream::connect(("127.0.0.1", service.port)).unwrap();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {key}\r\n\
         content-type: application/x-ndjson\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(first).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    service.terminate();
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(second).unwrap();
    let mut response = String::new();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"accepted\":2000"), "{response}");

    let (status, logs) = service.stop_after_signal();
    assert!(status.success(), "{logs}");
    let pool = db.pool().await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();
    assert_eq!(count, 2000);
    pool.close().await;
    db.drop_db().await;
}

/// `distillwatch embed` writes one float32 row per input line, in order, and
/// `embed-events` stores vectors for a window's events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embed_writes_npy_and_embed_events_fills_the_window() {
    let model = std::env::var("DW_MODEL_DIR").expect("DW_MODEL_DIR: run the tests with scripts/test.sh");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("texts.jsonl"),
        "\"How do rivers form?\"\n{\"text\": \"Explain photosynthesis step by step.\"}\n\n\"How do rivers form?\"\n",
    )
    .unwrap();
    let mut cmd = command(None, dir.path());
    cmd.env("DISTILLWATCH__EMBED__MODEL", &model).args(["embed", "--input", "texts.jsonl", "--output", "v.npy"]);
    let out = run(cmd, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (rows, dim, values) = dw_embed::npy::read_f32(&std::fs::read(dir.path().join("v.npy")).unwrap()).unwrap();
    assert_eq!((rows, dim), (3, 384));
    assert_eq!(values[..384], values[2 * 384..], "the same text gives the same vector");
    let norm: f32 = values[384..768].iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4);

    std::fs::write(dir.path().join("bad.jsonl"), "\"ok\"\n{\"txt\": 1}\n").unwrap();
    let mut cmd = command(None, dir.path());
    cmd.env("DISTILLWATCH__EMBED__MODEL", &model).args(["embed", "--input", "bad.jsonl", "--output", "b.npy"]);
    let out = run(cmd, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("bad.jsonl: line 2: text"), "{stderr}");

    let db = TestDb::create().await;
    std::fs::write(dir.path().join("events.jsonl"), ndjson(&events("emb", 60, 3))).unwrap();
    let mut cmd = command(Some(&db.url), dir.path());
    cmd.args(["ingest", "events.jsonl"]);
    assert!(run(cmd, None).status.success());
    let mut cmd = command(Some(&db.url), dir.path());
    cmd.env("DISTILLWATCH__EMBED__MODEL", &model).args([
        "embed-events",
        "--from",
        "2026-11-01T00:00:00Z",
        "--to",
        "2026-12-01T00:00:00Z",
        "--per-account",
        "4",
    ]);
    let out = run(cmd, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pool = db.pool().await;
    let per_account: Vec<i64> =
        sqlx::query_scalar("SELECT count(*) FROM embeddings GROUP BY account_id ORDER BY account_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(per_account, vec![4, 4, 4]);

    // An audit with a daily sample embeds the rest of it, fits the window's
    // topics and reports every account's coverage (evidence of every account:
    // a flag level of `none` flags all, and --dry-run keeps them out of the store).
    let mut cmd = command(Some(&db.url), dir.path());
    cmd.env("DISTILLWATCH__EMBED__MODEL", &model)
        .env("DISTILLWATCH__EMBED__AUDIT_PER_ACCOUNT_DAY", "2")
        .env("DISTILLWATCH__DETECT__FLAGS__FLAG_LEVEL", "none")
        .args(["audit", "--from", "2026-11-01", "--to", "2026-12-01", "--dry-run", "--evidence", "evidence.jsonl"]);
    let out = run(cmd, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let per_account: Vec<i64> =
        sqlx::query_scalar("SELECT count(*) FROM embeddings GROUP BY account_id ORDER BY account_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    // Each account's 20 events fall on 18 days, two of them with three events: a daily sample of 2 takes 18.
    assert_eq!(per_account, vec![18, 18, 18]);
    let evidence = std::fs::read_to_string(dir.path().join("evidence.jsonl")).unwrap();
    let bundles: Vec<serde_json::Value> = evidence.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(bundles.len(), 3);
    for bundle in &bundles {
        let signal =
            |name: &str| bundle["signals"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap().clone();
        let evenness = signal("topic_evenness");
        assert!(evenness["value"].is_number(), "{evenness}");
        assert!(evenness["detail"].as_str().unwrap().starts_with("18 embedded prompts over "), "{evenness}");
        assert!(evenness["detail"].as_str().unwrap().contains("of the window's 5 topics"), "54 vectors: {evenness}");
        assert!(signal("reask_share")["value"].is_number());
    }
    pool.close().await;
    db.drop_db().await;
}

/// `distillwatch ingest --format openai-batch --account A INPUT OUTPUT` joins a Batch API run's two files by
/// custom_id; `--format openai` loads request/response pairs, one per line. Bad lines are named, the rest stored.
#[tokio::test]
async fn the_cli_ingests_openai_batch_files_and_request_response_pairs() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let request = |id: &str, text: &str| {
        serde_json::json!({"custom_id": id, "method": "POST", "url": "/v1/chat/completions",
               "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}})
    };
    let answer = |id: &str, created: i64| {
        serde_json::json!({"id": format!("batch_req_{id}"), "custom_id": id,
               "response": {"status_code": 200, "body": {"id": format!("chatcmpl-{id}"), "object": "chat.completion",
                   "created": created, "model": "gpt-4o-mini",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}},
               "error": null})
    };
    let jsonl = |values: &[serde_json::Value]| values.iter().map(|v| format!("{v}\n")).collect::<String>();
    std::fs::write(
        dir.path().join("input.jsonl"),
        jsonl(&[request("a", "one"), request("b", "two"), request("c", "three")]),
    )
    .unwrap();
    std::fs::write(dir.path().join("output.jsonl"), jsonl(&[answer("b", 1_764_900_060), answer("a", 1_764_900_000)]))
        .unwrap();
    let pairs = jsonl(&[
        serde_json::json!({"request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi there"}], "user": "end-7"},
        "response": {"id": "chatcmpl-p1", "object": "chat.completion", "created": 1_764_900_100, "model": "gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}]}}),
    ]);
    std::fs::write(dir.path().join("pairs.jsonl"), pairs).unwrap();

    let ingest = |args: &[&str]| {
        let mut cmd = command(Some(&db.url), dir.path());
        cmd.arg("ingest").args(args);
        run(cmd, None)
    };
    let out = ingest(&["--format", "openai-batch", "--account", "acct_batch", "input.jsonl"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("takes two files"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ingest(&["--format", "litellm", "--account", "x", "pairs.jsonl"]);
    assert!(!out.status.success());
    let out = ingest(&["--format", "openai-batch", "--account", "acct_batch", "input.jsonl", "output.jsonl"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "one line rejected: {stderr}");
    assert!(stderr.contains("line 3: custom_id: \"c\" has no line in the output file"), "{stderr}");
    assert!(stderr.contains("2 accepted"), "{stderr}");
    let out = ingest(&["--format", "openai", "pairs.jsonl"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let pool = db.pool().await;
    let stored: Vec<(String, String, String)> =
        sqlx::query_as("SELECT event_id, account_id, prompt FROM events ORDER BY ts, event_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let expected = [
        ("chatcmpl-a", "acct_batch", "one"),
        ("chatcmpl-b", "acct_batch", "two"),
        ("chatcmpl-p1", "end-7", "hi there"),
    ];
    assert_eq!(stored.len(), 3, "{stored:?}");
    for (row, (id, account, prompt)) in stored.iter().zip(expected) {
        assert_eq!((row.0.as_str(), row.1.as_str(), row.2.as_str()), (id, account, prompt));
    }
    pool.close().await;
    db.drop_db().await;
}

/// `distillwatch ingest --format litellm` loads a LiteLLM logger's payloads, saved as the array it posted or
/// one per line, exactly once; an unknown format is refused before anything is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_ingests_a_litellm_loggers_payloads() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let capture = include_str!("../crates/dw-ingest/tests/fixtures/litellm-1.108.14-generic_api.json_array.json");
    std::fs::write(dir.path().join("litellm.json"), capture).unwrap();
    let calls: Vec<serde_json::Value> = serde_json::from_str(capture).unwrap();
    let lines: String = calls.iter().map(|c| format!("{c}\n")).collect();
    std::fs::write(dir.path().join("litellm.jsonl"), lines).unwrap();

    let mut cmd = command(Some(&db.url), dir.path());
    cmd.args(["ingest", "--format", "langfuse", "litellm.json"]);
    let out = run(cmd, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("unknown format \"langfuse\" (known: canonical, litellm, openai), or openai-batch"),
        "{stderr}"
    );

    for file in ["litellm.json", "litellm.jsonl"] {
        let mut cmd = command(Some(&db.url), dir.path());
        cmd.args(["ingest", "--format", "litellm", file]);
        let out = run(cmd, None);
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let pool = db.pool().await;
    let stored: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT event_id, account_id, metadata->>'user' FROM events ORDER BY ts, event_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(stored.len(), 6, "the second file's calls are the first's: duplicates, not new events");
    assert_eq!(
        stored[0],
        (
            "51ca2635-c6ff-4b67-9d76-3d7944293edf".to_owned(),
            "litellm_proxy_master_key".to_owned(),
            Some("end-user-9".to_owned())
        )
    );
    pool.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn the_cli_refuses_events_far_from_now_unless_told_it_is_a_backfill() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut lines = events("window", 3, 1);
    lines[1]["timestamp"] = serde_json::json!("2019-03-01T00:00:00Z");
    std::fs::write(dir.path().join("history.jsonl"), ndjson(&lines)).unwrap();

    let mut cmd = command(Some(&db.url), dir.path());
    cmd.args(["ingest", "history.jsonl"]);
    let out = run(cmd, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("line 2: timestamp:"), "{stderr}");
    assert!(stderr.contains("--backfill"), "{stderr}");
    let pool = db.pool().await;
    let count =
        || async { sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap() };
    assert_eq!(count().await, 2, "the lines inside the window are stored");

    let mut cmd = command(Some(&db.url), dir.path());
    cmd.args(["ingest", "--backfill", "history.jsonl"]);
    let out = run(cmd, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(count().await, 3, "the backfill adds the old line once; the others are duplicates");
    pool.close().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_the_timeout_is_a_503_and_the_service_goes_on() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let analyst = create_key(Some(&db.url), dir.path(), "analyst");
    let mut cmd = command(Some(&db.url), dir.path());
    cmd.env("DISTILLWATCH__DATABASE__STATEMENT_TIMEOUT_SECONDS", "1");
    let service = Service::start(cmd);
    let client = dw_app::http_client();

    // Another session holds the flags table: the request's statement waits on
    // the lock until PostgreSQL cancels it, a second later.
    let pool = db.pool().await;
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE flags IN ACCESS EXCLUSIVE MODE").execute(&mut *blocker).await.unwrap();
    let started = std::time::Instant::now();
    let response = client.get(service.url("/v1/flags")).bearer_auth(&analyst).send().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "deadline_exceeded", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("database.statement_timeout_seconds"), "{body}");
    assert!(elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(20), "{elapsed:?}");
    blocker.rollback().await.unwrap();

    let response = client.get(service.url("/v1/flags")).bearer_auth(&analyst).send().await.unwrap();
    assert_eq!(response.status(), 200, "the connection went back to the pool usable");
    let (status, logs) = service.stop();
    assert!(status.success(), "{logs}");
    pool.close().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_have_an_address_of_their_own() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(Some(&db.url), dir.path());
    cmd.env("DISTILLWATCH__SERVER__METRICS_BIND", "127.0.0.1:0");
    let service = Service::start(cmd);
    let metrics = service.stdout_after("distillwatch metrics on ").expect("the metrics address is printed");
    assert!(metrics.starts_with("http://127.0.0.1:") && metrics.ends_with("/metrics"), "{metrics}");
    let client = dw_app::http_client();
    let scraped = client.get(&metrics).send().await.unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    assert!(text.contains("distillwatch_ingest_slots_available"), "{text}");
    // The API's port no longer shows them; the rest of the API is there.
    assert_eq!(client.get(service.url("/metrics")).send().await.unwrap().status(), 404);
    assert_eq!(client.get(service.url("/healthz")).send().await.unwrap().status(), 200);
    let (status, logs) = service.stop();
    assert!(status.success(), "{logs}");

    // An address that cannot be taken stops serve, naming the setting.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cmd = command(Some(&db.url), dir.path());
    cmd.env("DISTILLWATCH__SERVER__METRICS_BIND", taken.local_addr().unwrap().to_string());
    cmd.args(["serve", "--bind", "127.0.0.1:0"]);
    let out = run(cmd, None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("server.metrics_bind"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_loads_the_embedding_engine_and_api_audits_embed_their_sample() {
    let model = std::env::var("DW_MODEL_DIR").expect("DW_MODEL_DIR: run the tests with scripts/test.sh");
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let ingest = create_key(Some(&db.url), dir.path(), "ingest");
    let analyst = create_key(Some(&db.url), dir.path(), "analyst");

    // Without embedding settings the engine is off.
    let service = Service::start(command(Some(&db.url), dir.path()));
    let client = dw_app::http_client();
    let ready: serde_json::Value = client.get(service.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["embedding"], serde_json::json!({"state": "off"}), "{ready}");
    service.stop();

    let mut cmd = command(Some(&db.url), dir.path());
    cmd.env("DISTILLWATCH__EMBED__MODEL", &model)
        .env("DISTILLWATCH__EMBED__AUDIT_PER_ACCOUNT_DAY", "2")
        .env("DISTILLWATCH__AUDIT__POLL_SECONDS", "1");
    let service = Service::start(cmd);
    let ready: serde_json::Value = client.get(service.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["embedding"]["state"], "ready", "{ready}");
    assert!(ready["embedding"]["model"].as_str().unwrap().contains("MiniLM"), "{ready}");

    // 60 events of 3 accounts over November; an audit of the month through the API.
    let sent = client
        .post(service.url("/v1/events"))
        .bearer_auth(&ingest)
        .header("content-type", "application/x-ndjson")
        .body(ndjson(&events("emb", 60, 3)))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let queued: serde_json::Value = client
        .post(service.url("/v1/audits"))
        .bearer_auth(&analyst)
        .json(&serde_json::json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-29T00:00:00Z", "dry_run": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let audit = queued["id"].as_i64().expect("an audit id");
    common::wait_for_audit(&client, &service, &analyst, audit, Duration::from_secs(120)).await;
    // Each account's prompts, at most two a day, were embedded by the audit.
    let pool = db.pool().await;
    let vectors: i64 =
        sqlx::query_scalar("SELECT count(*) FROM embeddings WHERE field = 'prompt'").fetch_one(&pool).await.unwrap();
    let per_account_day: i64 = sqlx::query_scalar(
        "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM embeddings WHERE field = 'prompt' \
         GROUP BY account_id, date_trunc('day', ts)) d",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(vectors > 0, "the API's audit embedded nothing");
    assert!(vectors < 60, "the sample is bounded by the budget, not every prompt: {vectors}");
    assert!(per_account_day <= 2, "{per_account_day} prompts of one account and day embedded");
    let (status, logs) = service.stop();
    assert!(status.success(), "{logs}");
    pool.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn the_cli_ingests_otlp_export_files_joining_spans_with_their_logs() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/dw-ingest/tests/fixtures");
    for name in ["otel-openai-v2-default.traces.pb", "otel-openai-v2-default.logs.json", "langfuse-v5.traces.json"] {
        std::fs::copy(fixtures.join(name), dir.path().join(name)).unwrap();
    }
    let ingest = |args: &[&str]| {
        let mut cmd = command(Some(&db.url), dir.path());
        cmd.args(["ingest", "--format", "otlp"]).args(args);
        run(cmd, None)
    };
    let pool = db.pool().await;
    // The span first, alone: it waits for its log records.
    let out = ingest(&["otel-openai-v2-default.traces.pb"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("wait for what they lack"), "{stderr}");
    let count =
        || async { sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap() };
    assert_eq!(count().await, 0);
    // Its logs in a later run, and a Langfuse export beside them.
    let out = ingest(&["otel-openai-v2-default.logs.json", "langfuse-v5.traces.json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let joined: (String, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT prompt, system_prompt, metadata->'otlp'->>'content_from' FROM events \
         WHERE metadata->'otlp'->>'span_id' = '05ebf7e121e2be45'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(joined, ("Explain step by step: 17*23".into(), Some("be terse".into()), Some("log records".into())));
    let langfuse: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE metadata->'otlp'->>'scope' = 'langfuse-sdk'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(langfuse, 1);
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM otlp_halves").fetch_one(&pool).await.unwrap();
    assert_eq!(waiting, 0);

    // A call whose account is named only on its parent span, which a later file carries: the call waits in
    // the store, and the later file's reading keeps its spans' lineage to settle it.
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("otel-openai-v2-latest.traces.json")).unwrap()).unwrap();
    let part = |call: bool| {
        let mut request = latest.clone();
        for resource in request["resourceSpans"].as_array_mut().unwrap() {
            for scope in resource["scopeSpans"].as_array_mut().unwrap() {
                let spans = scope["spans"].as_array_mut().unwrap();
                spans.retain(|s| (s["name"] == "chat gpt-4o-mini") == call);
                // Its own event id, not the older capture's response id (stored above).
                for span in spans.iter_mut() {
                    span["attributes"].as_array_mut().unwrap().retain(|a| a["key"] != "gen_ai.response.id");
                }
            }
        }
        request.to_string() + "\n"
    };
    std::fs::write(dir.path().join("child.jsonl"), part(true)).unwrap();
    std::fs::write(dir.path().join("parent.jsonl"), part(false)).unwrap();
    let before = count().await;
    let out = ingest(&["child.jsonl"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.contains("wait for what they lack"), "{stderr}");
    assert_eq!(count().await, before);
    let out = ingest(&["parent.jsonl"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let settled: (String, String) = sqlx::query_as(
        "SELECT account_id, prompt FROM events WHERE metadata->'otlp'->>'trace_id' = $1 AND prompt LIKE 'Explain%'",
    )
    .bind(latest["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"].as_str().unwrap().to_lowercase())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(settled, ("acct_42".into(), "Explain step by step: 17*23".into()), "the parent's user.id");
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM otlp_halves").fetch_one(&pool).await.unwrap();
    assert_eq!(waiting, 0);

    // A file that is not export requests is named, with its line.
    std::fs::write(dir.path().join("bad.jsonl"), "{\"resourceSpans\": []}\n{\"hello\": 1}\n").unwrap();
    let out = ingest(&["bad.jsonl"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("bad.jsonl") && stderr.contains("line 2"), "{stderr}");
    pool.close().await;
    db.drop_db().await;
}
