//! Load with backpressure: many more senders than `serve` has ingest slots,
//! several keys, each sender retrying what was refused after the
//! `Retry-After` it was given. Every refusal is a 429 or a 503 with
//! `Retry-After` (never another 5xx, never a hang), the refusals happen (the
//! load is over capacity), and every acknowledged event is stored exactly
//! once. The server's memory is sampled and printed; it is measured, not
//! asserted here (`docs/benchmarks.md`, "Ingest under load": the same test at
//! a larger scale, `DW_LOAD_SCALE` batches and `DW_LOAD_BATCH` events a batch).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Service, TestDb, command, create_key, events, ndjson};

/// Slots `serve` is given: the load is many times this.
const SLOTS: usize = 2;
const KEYS: usize = 3;
const SENDERS_PER_KEY: usize = 4;

/// Resident memory of a process, in KiB (Linux `/proc`), current and peak.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_capacity_senders_are_refused_with_retry_after_and_no_acknowledged_event_is_lost() {
    let scale: usize = std::env::var("DW_LOAD_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let batches = 8 * scale;
    // Events per batch (`DW_LOAD_BATCH`): larger batches hold a slot longer, so more senders meet it full.
    let events_per_batch: usize = std::env::var("DW_LOAD_BATCH").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
    dw_app::install_tls_provider();
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<String> = (0..KEYS).map(|_| create_key(Some(&db.url), dir.path(), "ingest")).collect();
    let mut cmd = command(Some(&db.url), dir.path());
    cmd.env("DISTILLWATCH__INGEST__MAX_CONCURRENT_REQUESTS", SLOTS.to_string())
        .env("DISTILLWATCH__INGEST__MAX_CONCURRENT_PER_KEY", SLOTS.to_string());
    let service = Service::start(cmd);
    let (base, pid) = (service.url("/v1/events"), service.pid());

    // Memory, sampled while the load runs.
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        tokio::task::spawn_blocking(move || {
            let mut samples = Vec::new();
            while !done.load(Ordering::Relaxed) {
                samples.push(memory_kib(pid).0);
                std::thread::sleep(Duration::from_millis(100));
            }
            samples
        })
    };

    let (acknowledged, refused, retry_after_total) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let mut senders = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        for s in 0..SENDERS_PER_KEY {
            let (base, key) = (base.clone(), key.clone());
            let (acknowledged, refused, retry_after_total) =
                (acknowledged.clone(), refused.clone(), retry_after_total.clone());
            senders.push(tokio::spawn(async move {
                let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
                for batch in 0..batches {
                    let body = ndjson(&events(&format!("k{k}s{s}b{batch}"), events_per_batch, 11));
                    let sent = Instant::now();
                    loop {
                        assert!(sent.elapsed() < Duration::from_secs(300), "batch k{k}s{s}b{batch} never went in");
                        let response = client
                            .post(&base)
                            .bearer_auth(&key)
                            .header("content-type", "application/x-ndjson")
                            .body(body.clone())
                            .send()
                            .await
                            .expect("serve answers every request under load");
                        let status = response.status().as_u16();
                        if status == 200 {
                            let out: serde_json::Value = response.json().await.unwrap();
                            let answered = out["accepted"].as_u64().unwrap() + out["duplicates"].as_u64().unwrap();
                            assert_eq!(answered, events_per_batch as u64, "{out}");
                            acknowledged.fetch_add(events_per_batch as u64, Ordering::Relaxed);
                            break;
                        }
                        let retry_after = response
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<u64>().ok());
                        let text = response.text().await.unwrap_or_default();
                        assert!(
                            (status == 429 || status == 503) && retry_after.is_some_and(|s| s >= 1),
                            "a refusal under load must be 429 or 503 with Retry-After: {status} {retry_after:?} {text}"
                        );
                        refused.fetch_add(1, Ordering::Relaxed);
                        let wait = retry_after.unwrap_or(1);
                        retry_after_total.fetch_add(wait, Ordering::Relaxed);
                        // As an SDK does: wait what it was told, with jitter so that senders spread out.
                        let jitter = (k * 7 + s * 13 + batch) as u64 % 250;
                        tokio::time::sleep(Duration::from_millis(wait * 1000 + jitter)).await;
                    }
                }
            }));
        }
    }
    for sender in senders {
        sender.await.unwrap();
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let samples = sampler.await.unwrap();
    let (_, peak) = memory_kib(pid);
    let (status, logs) = service.stop();
    assert!(status.success(), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");

    let sent = (KEYS * SENDERS_PER_KEY * batches * events_per_batch) as u64;
    let refused = refused.load(Ordering::Relaxed);
    let senders = KEYS * SENDERS_PER_KEY;
    eprintln!(
        "load: {senders} senders on {KEYS} keys against {SLOTS} ingest slots; {sent} events in {} batches in {:.1} s \
         ({:.0} events/s); {refused} refusals (429/503 with Retry-After, {} s asked in all); server memory: \
         first sample {} KiB, last {} KiB, peak {} KiB ({} samples)",
        sent / events_per_batch as u64,
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64(),
        retry_after_total.load(Ordering::Relaxed),
        samples.first().copied().unwrap_or(0),
        samples.last().copied().unwrap_or(0),
        peak,
        samples.len()
    );
    assert!(refused > 0, "{senders} senders never found the {SLOTS} slots full: the test put no load on them");
    assert_eq!(acknowledged.load(Ordering::Relaxed), sent);
    let pool = db.pool().await;
    let (rows, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT (account_id, event_id)) FROM events")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((rows, distinct), (sent as i64, sent as i64), "every acknowledged event, exactly once");
    pool.close().await;
    db.drop_db().await;
}
