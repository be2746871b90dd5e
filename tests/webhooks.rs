//! At-least-once webhook delivery through the real service: a `serve` killed
//! (SIGKILL) while a receiver holds its request, so the request was sent but
//! its answer never recorded, sends it again after restarting, with the same
//! `webhook-id` and a valid signature, and every flag event ends delivered.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{Service, TestDb, command, run};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// (webhook-id, webhook-timestamp, webhook-signature, body) of each request.
type Received = Arc<Mutex<Vec<(String, String, String, String)>>>;

/// A receiver that keeps its first request waiting for ever and accepts the rest.
async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let handler = |State(got): State<Received>, headers: HeaderMap, body: String| async move {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let first = {
            let mut got = got.lock().unwrap();
            got.push((header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"), body));
            got.len() == 1
        };
        if first {
            std::future::pending::<()>().await;
        }
        StatusCode::NO_CONTENT
    };
    let router = axum::Router::new().fallback(handler).with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, got)
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_killed_between_send_and_commit_sends_again_with_the_same_id() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let (url, got) = receiver().await;
    std::fs::write(
        dir.path().join("distillwatch.toml"),
        format!(
            "[webhooks]\nlease_seconds = 2\npoll_seconds = 0.2\ntimeout_seconds = 120\n\
             [[webhooks.endpoints]]\nurl = \"{url}\"\nsecret = \"{SECRET}\"\nmin_level = \"high\"\n"
        ),
    )
    .unwrap();
    // Thirty scripted accounts on one /24: an audit flags them and their cluster.
    let mut lines = String::new();
    for a in 0..30 {
        for i in 0..125 {
            let (day, minute) = (2 + i / 25, (i % 25) * 10);
            lines.push_str(&format!(
                "{{\"event_id\":\"farm{a:02}-{i}\",\"account_id\":\"farm{a:02}\",\"timestamp\":\"2026-11-{day:02}T{:02}:{:02}:00Z\",\"model\":\"m\",\"request\":{{\"prompt\":\"Write task number {i} about something different each time please.\",\"max_tokens\":4096}},\"client\":{{\"ip\":\"203.0.113.{}\",\"user_agent\":\"OpenAI/Python 1.50.0\"}}}}\n",
                minute / 60,
                minute % 60,
                a + 1
            ));
        }
    }
    std::fs::write(dir.path().join("events.jsonl"), lines).unwrap();
    for args in [vec!["ingest", "events.jsonl"], vec!["audit", "--from", "2026-11-01", "--to", "2026-11-08"]] {
        let mut cmd = command(Some(&db.url), dir.path());
        cmd.args(&args);
        let out = run(cmd, None);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let pool = db.pool().await;
    let count = |state: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM webhook_deliveries WHERE state = $1")
                .bind(state)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let queued = count("pending").await;
    assert_eq!(queued, 31, "thirty account flags and the cluster's, queued by the audit");

    // The first request is held; the service dies before it can record the answer.
    let first = Service::start(command(Some(&db.url), dir.path()));
    wait_for("the first request", Duration::from_secs(30), || !got.lock().unwrap().is_empty());
    let status = std::process::Command::new("kill").args(["-KILL", &first.pid().to_string()]).status().unwrap();
    assert!(status.success());
    drop(first);
    assert_eq!(count("delivered").await, 0);

    // Restarted, the service sends everything once the lease has passed.
    let second = Service::start(command(Some(&db.url), dir.path()));
    let start = Instant::now();
    while count("delivered").await < queued {
        assert!(start.elapsed() < Duration::from_secs(60), "not all delivered: {:?}", got.lock().unwrap().len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let received = got.lock().unwrap().clone();
    let held = &received[0].0;
    assert_eq!(received.iter().filter(|r| &r.0 == held).count(), 2, "the held message came again, same id");
    let mut ids: Vec<&String> = received.iter().map(|r| &r.0).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as i64, queued, "no other message repeated");
    let key = dw_app::webhook_secret_key(SECRET).unwrap();
    for (id, timestamp, signature, body) in &received {
        assert_eq!(signature, &dw_app::sign_webhook(&key, id, timestamp.parse().unwrap(), body));
    }
    let (status, _) = second.stop();
    assert!(status.success());
    pool.close().await;
    db.drop_db().await;
}
