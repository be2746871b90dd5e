//! Crash safety: `serve` is killed with SIGKILL at random moments while
//! senders keep sending and retry what was not answered. At the end every
//! event that was acknowledged is stored exactly once, and no batch is half
//! stored: each batch's events and its ingest-log entry are there together or
//! not at all.

mod common;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use common::{Service, TestDb, command, create_key, events, ndjson};

const SENDERS: usize = 4;
const BATCHES: usize = 80;
const EVENTS_PER_BATCH: usize = 50;
const KILLS: usize = 5;

/// A small deterministic generator (the seed is printed, to replay a run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_events_survive_kills_exactly_once_and_no_batch_is_half_stored() {
    let seed = std::env::var("DW_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0 | 1);
    eprintln!("crash test seed: {seed} (DW_CRASH_SEED={seed} replays the kill times)");
    dw_app::install_tls_provider();
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let key = create_key(Some(&db.url), dir.path(), "ingest");
    let start = || Service::start(command(Some(&db.url), dir.path()));
    let service = start();
    let base = Arc::new(RwLock::new(service.url("")));
    let service = Arc::new(Mutex::new(Some(service)));

    // Senders: each sends its batches in turn, each until it is answered 200.
    let acknowledged = Arc::new(Mutex::new(0_usize));
    let unanswered = Arc::new(Mutex::new(0_usize));
    let mut senders = Vec::new();
    for sender in 0..SENDERS {
        let (base, key, acknowledged, unanswered) =
            (base.clone(), key.clone(), acknowledged.clone(), unanswered.clone());
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
            for batch in 0..BATCHES {
                let body = ndjson(&events(&format!("s{sender}b{batch}"), EVENTS_PER_BATCH, 7));
                let started = Instant::now();
                loop {
                    assert!(started.elapsed() < Duration::from_secs(120), "batch {sender}/{batch} never went in");
                    let url = format!("{}/v1/events", base.read().unwrap());
                    let sent = client
                        .post(&url)
                        .bearer_auth(&key)
                        .header("content-type", "application/x-ndjson")
                        .body(body.clone())
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status() == 200 => {
                            let out: serde_json::Value = response.json().await.unwrap();
                            let answered = out["accepted"].as_u64().unwrap() + out["duplicates"].as_u64().unwrap();
                            assert_eq!(answered, EVENTS_PER_BATCH as u64, "{out}");
                            *acknowledged.lock().unwrap() += EVENTS_PER_BATCH;
                            break;
                        }
                        Ok(response) => {
                            let status = response.status();
                            assert!(
                                status == 429 || status == 503,
                                "only 'retry later' may refuse a valid batch: {status} {}",
                                response.text().await.unwrap_or_default()
                            );
                        }
                        // The service was killed under the request, or is not back yet.
                        Err(_) => *unanswered.lock().unwrap() += 1,
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }

    // The killer: SIGKILL at random moments, then a restart (on a new port).
    let killer = {
        let (base, service) = (base.clone(), service.clone());
        let db_url = db.url.clone();
        let cwd = dir.path().to_owned();
        tokio::task::spawn_blocking(move || {
            let mut rng = Rng(seed);
            let mut kills = 0;
            for _ in 0..KILLS {
                std::thread::sleep(Duration::from_millis(rng.between(150, 900)));
                let running = service.lock().unwrap().take().unwrap();
                running.kill();
                kills += 1;
                std::thread::sleep(Duration::from_millis(rng.between(0, 300)));
                let restarted = Service::start(command(Some(&db_url), &cwd));
                *base.write().unwrap() = restarted.url("");
                *service.lock().unwrap() = Some(restarted);
            }
            kills
        })
    };
    for sender in senders {
        sender.await.unwrap();
    }
    let kills = killer.await.unwrap();
    assert_eq!(kills, KILLS);
    let unanswered = *unanswered.lock().unwrap();
    eprintln!("{kills} kills; {unanswered} requests unanswered and sent again");
    assert!(unanswered > 0, "no request was cut by a kill: the test tried nothing");
    let running = service.lock().unwrap().take().unwrap();
    let (status, logs) = running.stop();
    assert!(status.success(), "{logs}");

    let pool = db.pool().await;
    let sent = SENDERS * BATCHES * EVENTS_PER_BATCH;
    assert_eq!(*acknowledged.lock().unwrap(), sent);
    // Every acknowledged event, exactly once.
    let (rows, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT (account_id, event_id)) FROM events")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((rows, distinct), (sent as i64, sent as i64), "seed {seed}");
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM event_keys").fetch_one(&pool).await.unwrap();
    assert_eq!(keys, sent as i64, "every stored event's key, and no key without its event (seed {seed})");
    // No batch half stored: each logged batch's events are all there, and
    // no event is stored without its batch's log entry.
    let mismatched: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ingest_log l FULL JOIN (SELECT ingest_id, count(*) AS n FROM events GROUP BY ingest_id) e \
         USING (ingest_id) WHERE coalesce(l.accepted, -1) <> coalesce(e.n, 0)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(mismatched, 0, "batches whose log and events disagree (seed {seed})");
    pool.close().await;
    db.drop_db().await;
}

/// An audit killed mid-run (while scoring or while publishing), several
/// times: after each kill nothing of it is published (no score, no flag, not
/// done); a restarted `serve` claims it again once the dead worker's lease
/// runs out, and the run that completes publishes every account's score
/// once. The kills fall within the time an uninterrupted run of the same
/// audit took on this machine, measured first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_audit_killed_mid_run_publishes_nothing_half_and_the_next_run_completes() {
    let seed = std::env::var("DW_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0 | 1);
    eprintln!("audit crash test seed: {seed} (DW_CRASH_SEED={seed} replays the kill times)");
    let mut rng = Rng(seed);
    dw_app::install_tls_provider();
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let (ingest, analyst) =
        (create_key(Some(&db.url), dir.path(), "ingest"), create_key(Some(&db.url), dir.path(), "analyst"));
    let start = || {
        let mut cmd = command(Some(&db.url), dir.path());
        cmd.env("DISTILLWATCH__JOBS__LEASE_SECONDS", "3")
            .env("DISTILLWATCH__JOBS__MAX_ATTEMPTS", "20")
            .env("DISTILLWATCH__AUDIT__POLL_SECONDS", "1");
        Service::start(cmd)
    };
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let mut service = start();
    const ACCOUNTS: usize = 600;
    for part in 0..10 {
        let sent = client
            .post(service.url("/v1/events"))
            .bearer_auth(&ingest)
            .header("content-type", "application/x-ndjson")
            .body(ndjson(&events(&format!("audit{part}"), 3_000, ACCOUNTS)))
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 200);
    }
    let queue = |url: String, dry_run: bool| {
        let (client, analyst) = (client.clone(), analyst.clone());
        async move {
            let queued: serde_json::Value = client
                .post(url)
                .bearer_auth(&analyst)
                .json(&serde_json::json!({
                    "from": "2026-11-01T00:00:00Z", "to": "2026-11-29T00:00:00Z", "dry_run": dry_run
                }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            queued["id"].as_i64().expect("an audit id")
        }
    };
    let pool = db.pool().await;
    let published = |audit: i64| {
        let pool = &pool;
        async move {
            let scores: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_scores WHERE audit_id = $1")
                .bind(audit)
                .fetch_one(pool)
                .await
                .unwrap();
            let flags: i64 = sqlx::query_scalar("SELECT count(*) FROM flags WHERE last_audit_id = $1")
                .bind(audit)
                .fetch_one(pool)
                .await
                .unwrap();
            let state: String = sqlx::query_scalar("SELECT state FROM audits WHERE audit_id = $1")
                .bind(audit)
                .fetch_one(pool)
                .await
                .unwrap();
            (state, scores, flags)
        }
    };
    let attempts = |audit: i64| {
        let pool = &pool;
        async move {
            sqlx::query_scalar::<_, i32>("SELECT attempts FROM audits WHERE audit_id = $1")
                .bind(audit)
                .fetch_one(pool)
                .await
                .unwrap()
        }
    };
    // Waits until a worker claims `audit` (a killed worker's lease runs out first); false when it is
    // done before (then nothing was claimed to kill).
    let claimed = |audit: i64, before: i32| async move {
        let waiting = Instant::now();
        loop {
            if attempts(audit).await != before {
                return true;
            }
            if published(audit).await.0 == "done" {
                return false;
            }
            assert!(waiting.elapsed() < Duration::from_secs(60), "the audit was not claimed again (seed {seed})");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };

    // How long one run of this audit takes here, uninterrupted (a dry run scores every account and opens
    // no flag), so that the kills fall while the audit runs whatever this machine's speed: a fixed range
    // of moments missed a run shorter than the moment drawn.
    let probe = queue(service.url("/v1/audits"), true).await;
    claimed(probe, 0).await;
    let started = Instant::now();
    while published(probe).await.0 != "done" {
        assert!(started.elapsed() < Duration::from_secs(240), "the uninterrupted audit did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let run_ms = started.elapsed().as_millis() as u64;
    eprintln!("an uninterrupted run took {run_ms} ms; kills fall 50 ms to {} ms after a claim", run_ms.max(100));

    let mut audit = queue(service.url("/v1/audits"), false).await;
    // A fresh audit counts its first claim from 0: a worker may claim it before the count is read. A
    // killed run's lease holds off the restarted service, so after a kill the count is read in time.
    let mut fresh = true;
    let mut hits = 0;
    let mut missed = 0;
    for _ in 0..KILLS {
        let before = if fresh { 0 } else { attempts(audit).await };
        fresh = false;
        if !claimed(audit, before).await {
            break;
        }
        // Kill the service a moment after the claim, within the time one run takes.
        tokio::time::sleep(Duration::from_millis(rng.between(50, run_ms.max(100)))).await;
        let (state, ..) = published(audit).await;
        service.kill();
        if state == "done" {
            service = start();
            if hits > 0 {
                break;
            }
            // This run was quicker than the probe's: nothing was tried on it, so try a fresh one.
            missed += 1;
            assert!(missed < 3, "three runs finished before their kill: the test tried nothing (seed {seed})");
            audit = queue(service.url("/v1/audits"), false).await;
            fresh = true;
            continue;
        }
        // Killed before it published: nothing of it is there.
        let (state, scores, flags) = published(audit).await;
        if state != "done" {
            hits += 1;
            assert_eq!((scores, flags), (0, 0), "a killed audit left {scores} scores and {flags} flags (seed {seed})");
        }
        service = start();
    }
    eprintln!("{hits} kills while the audit ran ({missed} runs finished first)");
    assert!(hits > 0, "no kill hit the audit while it ran: the test tried nothing (seed {seed})");
    let done = common::wait_for_audit(&client, &service, &analyst, audit, Duration::from_secs(240)).await;
    let (_, scores, _) = published(audit).await;
    assert_eq!(scores, ACCOUNTS as i64, "every account's score, once (seed {seed})");
    assert_eq!(done["summary"]["accounts"], ACCOUNTS, "{done}");
    let attempts = attempts(audit).await;
    assert!(attempts as usize > hits, "each killed run was a claim of its own: {attempts} attempts, {hits} kills");
    let (status, logs) = service.stop();
    assert!(status.success(), "{logs}");
    pool.close().await;
    db.drop_db().await;
}
