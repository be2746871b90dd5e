//! Store functions against a real PostgreSQL (a fresh migrated database per test).

use std::collections::BTreeSet;

use dw_domain::{Event, Role};
use dw_store::partitions::{self, PartitionCache};
use dw_store::{accounts, api_keys, events};
use sqlx::PgPool;
use time::macros::{date, datetime};
use uuid::Uuid;

fn event(json: &str) -> Event {
    dw_ingest::parse_event(json.as_bytes(), 1, &dw_ingest::Limits::default()).expect("valid test event")
}

fn simple(account: &str, id: &str, ts: &str) -> Event {
    event(&format!(
        r#"{{"event_id":"{id}","account_id":"{account}","timestamp":"{ts}","model":"m","request":{{"prompt":"p {id}"}}}}"#
    ))
}

async fn store(pool: &PgPool, cache: &PartitionCache, batch: &[Event]) -> (u64, u64) {
    let months: BTreeSet<_> = batch.iter().map(Event::month).collect();
    cache.ensure(pool, &months).await.unwrap();
    let refs: Vec<&Event> = batch.iter().collect();
    let mut tx = pool.begin().await.unwrap();
    let new = events::claim_keys(&mut tx, &refs).await.unwrap();
    let fresh: Vec<&Event> = refs.iter().zip(&new).filter(|(_, n)| **n).map(|(e, _)| *e).collect();
    let written = events::copy_events(&mut tx, &fresh, Uuid::now_v7()).await.unwrap();
    accounts::record_activity(&mut tx, &fresh).await.unwrap();
    tx.commit().await.unwrap();
    (written, (refs.len() - fresh.len()) as u64)
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn every_field_survives_binary_copy(pool: PgPool) {
    let original = event(
        r#"{"event_id":"req_7f3a","account_id":"acct_42","api_key_id":"key_1","org_id":"org_9",
            "timestamp":"2026-11-01T12:00:00.123456Z","model":"gpt-x","endpoint":"chat.completions",
            "request":{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"why? ünïcödé 中文 🙂"}],
                       "temperature":0.7,"top_p":0.9,"max_tokens":1024,"n":2,"logprobs":true,"top_logprobs":5,"seed":-42},
            "response":{"content":"because","finish_reason":"length"},
            "usage":{"prompt_tokens":12,"completion_tokens":300},
            "client":{"ip":"2001:db8::7","user_agent":"python-requests/2.31"},
            "conversation_id":"thread_3","metadata":{"tier":"pro","nested":{"a":[1,2]}},"vendor_x":true}"#,
    );
    let minimal = event(
        r#"{"account_id":"acct_1","timestamp":"2026-11-02T00:00:00Z","model":"m","request":{"prompt":"hi"},"client":{"ip":"203.0.113.5"}}"#,
    );
    let cache = PartitionCache::default();
    assert_eq!(store(&pool, &cache, &[original.clone(), minimal.clone()]).await, (2, 0));

    let mut conn = pool.acquire().await.unwrap();
    let from = datetime!(2026-11-01 00:00 UTC);
    let to = datetime!(2026-12-01 00:00 UTC);
    let read = events::list_for_account(&mut conn, "acct_42", from, to, 10).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].event, original);
    let read = events::list_for_account(&mut conn, "acct_1", from, to, 10).await.unwrap();
    assert_eq!(read[0].event, minimal);
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn the_same_event_id_is_stored_once_whatever_its_timestamp(pool: PgPool) {
    let cache = PartitionCache::default();
    assert_eq!(store(&pool, &cache, &[simple("a", "e1", "2026-11-01T00:00:00Z")]).await, (1, 0));
    // Same key, another month: still a duplicate, although it would land in another partition.
    let again = [simple("a", "e1", "2026-08-15T00:00:00Z"), simple("a", "e2", "2026-08-15T00:00:00Z")];
    assert_eq!(store(&pool, &cache, &again).await, (1, 1));
    // The same event id under another account is another event.
    assert_eq!(store(&pool, &cache, &[simple("b", "e1", "2026-11-01T00:00:00Z")]).await, (1, 0));
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(events::count(&mut conn).await.unwrap(), 3);
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn concurrent_batches_with_the_same_keys_store_each_event_once(pool: PgPool) {
    let cache = std::sync::Arc::new(PartitionCache::default());
    let batch: Vec<Event> = (0..500).map(|i| simple("a", &format!("e{i}"), "2026-11-01T00:00:00Z")).collect();
    let mut reversed = batch.clone();
    reversed.reverse();
    let (p1, p2, c1, c2) = (pool.clone(), pool.clone(), cache.clone(), cache.clone());
    let (r1, r2) =
        tokio::join!(async move { store(&p1, &c1, &batch).await }, async move { store(&p2, &c2, &reversed).await });
    assert_eq!(r1.0 + r2.0, 500, "{r1:?} {r2:?}");
    assert_eq!(r1.1 + r2.1, 500, "{r1:?} {r2:?}");
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn partitions_are_made_on_demand_and_dropped_by_retention(pool: PgPool) {
    let cache = PartitionCache::default();
    let batch = [
        simple("a", "old", "2024-01-31T23:59:59Z"),
        simple("a", "mid", "2026-05-10T00:00:00Z"),
        simple("a", "new", "2026-11-28T00:00:00Z"),
    ];
    store(&pool, &cache, &batch).await;
    assert_eq!(
        partitions::list(&pool).await.unwrap(),
        vec![date!(2024 - 01 - 01), date!(2026 - 05 - 01), date!(2026 - 11 - 01)]
    );
    // A cutoff inside May keeps May: only whole months before the cutoff go.
    let dropped = partitions::drop_before(&pool, &cache, date!(2026 - 05 - 20)).await.unwrap();
    assert_eq!(dropped, vec![date!(2024 - 01 - 01)]);
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(events::count(&mut conn).await.unwrap(), 2);
    // The dropped event's key went with it, so it can be loaded again (a re-import).
    assert_eq!(store(&pool, &cache, &[simple("a", "old", "2024-01-31T23:59:59Z")]).await, (1, 0));
    // Keys of kept months still de-duplicate.
    assert_eq!(store(&pool, &cache, &[simple("a", "mid", "2026-05-10T00:00:00Z")]).await, (0, 1));
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn accounts_widen_their_window(pool: PgPool) {
    let cache = PartitionCache::default();
    store(&pool, &cache, &[simple("a", "1", "2026-11-10T00:00:00Z")]).await;
    store(&pool, &cache, &[simple("a", "2", "2026-11-01T00:00:00Z"), simple("a", "3", "2026-11-20T00:00:00Z")]).await;
    let mut conn = pool.acquire().await.unwrap();
    let account = accounts::get(&mut conn, "a").await.unwrap().unwrap();
    assert_eq!(account.first_seen, datetime!(2026-11-01 00:00 UTC));
    assert_eq!(account.last_seen, datetime!(2026-11-20 00:00 UTC));
    assert!(accounts::get(&mut conn, "nobody").await.unwrap().is_none());
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn keys_are_found_by_hash_until_revoked(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    let id = Uuid::now_v7();
    let key =
        api_keys::insert(&mut conn, id, "ci", Role::Analyst, dw_domain::HistoryLogging::Full, b"hash-1", "dw_abcdefgh")
            .await
            .unwrap();
    assert_eq!(key.role, Role::Analyst);
    assert_eq!(api_keys::find_active(&mut conn, b"hash-1").await.unwrap().map(|k| k.key_id), Some(id));
    assert!(api_keys::find_active(&mut conn, b"hash-2").await.unwrap().is_none());
    api_keys::touch(&mut conn, id).await.unwrap();
    assert!(api_keys::list(&mut conn).await.unwrap()[0].last_used_at.is_some());
    // Revoke by prefix; a second revoke finds nothing active.
    assert_eq!(api_keys::revoke(&mut conn, "dw_abcdefgh").await.unwrap().map(|k| k.key_id), Some(id));
    assert!(api_keys::revoke(&mut conn, &id.to_string()).await.unwrap().is_none());
    assert!(api_keys::find_active(&mut conn, b"hash-1").await.unwrap().is_none());
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn a_window_streams_account_by_account_with_turns_counted(pool: PgPool) {
    use futures_util::TryStreamExt;
    let cache = PartitionCache::default();
    let chat = event(
        r#"{"event_id":"c2","account_id":"b","timestamp":"2026-11-02T10:00:00Z","model":"m",
            "request":{"messages":[{"role":"system","content":"s"},{"role":"developer","content":"d"},
                {"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"more"}]},
            "client":{"ip":"203.0.113.5:443","user_agent":"ua"}}"#,
    );
    let platform = event(
        r#"{"event_id":"p1","account_id":"c","timestamp":"2026-11-02T11:00:00Z","model":"m",
            "request":{"prompt":"x","user":"u_7"}}"#,
    );
    let passed_along = event(
        r#"{"event_id":"p2","account_id":"c","timestamp":"2026-11-02T12:00:00Z","model":"m",
            "request":{"prompt":"y"},"metadata":{"user":"u_8"}}"#,
    );
    // A source that logs the last message only: its history is unknown, not empty.
    let last_only = event(
        r#"{"event_id":"d1","account_id":"d","timestamp":"2026-11-02T13:00:00Z","model":"m",
            "request":{"messages":[{"role":"user","content":"q"}],"history_logged":false}}"#,
    );
    let batch = vec![
        simple("b", "b1", "2026-11-02T09:00:00Z"),
        last_only,
        platform,
        passed_along,
        chat,
        simple("a", "a1", "2026-11-03T00:00:00Z"),
        simple("a", "late", "2026-11-09T00:00:00Z"),
    ];
    store(&pool, &cache, &batch).await;
    let mut conn = pool.acquire().await.unwrap();
    let records: Vec<_> = dw_store::activity::stream_requests(
        &mut conn,
        dw_store::activity::Selection::window(datetime!(2026-11-01 0:00 UTC), datetime!(2026-11-09 0:00 UTC)),
    )
    .try_collect()
    .await
    .unwrap();
    let keys: Vec<(&str, &str, Option<u32>)> =
        records.iter().map(|r| (r.account_id.as_str(), r.event_id.as_str(), r.prior_turns)).collect();
    assert_eq!(
        keys,
        [
            ("a", "a1", Some(0)),
            ("b", "b1", Some(0)),
            ("b", "c2", Some(2)),
            ("c", "p1", Some(0)),
            ("c", "p2", Some(0)),
            ("d", "d1", None)
        ],
        "`to` exclusive; system and developer messages are not turns; an unlogged history is unknown"
    );
    let end_users: Vec<Option<&str>> = records[3..5].iter().map(|r| r.end_user.as_deref()).collect();
    assert_eq!(end_users, [Some("u_7"), Some("u_8")], "the request's `user`, or the metadata's");
    assert_eq!(records[2].client_ip, Some("203.0.113.5".parse().unwrap()));
    assert_eq!(records[2].system_prompt.as_deref(), Some("s\n\nd"));
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn a_reference_job_whose_worker_died_is_claimed_again_and_only_its_new_holder_finishes_it(pool: PgPool) {
    use dw_store::queue::{self, Queue};
    use dw_store::reference_jobs::{self, JobKind, JobSpec};
    use std::time::Duration;
    let mut conn = pool.acquire().await.unwrap();
    let set: i64 = sqlx::query_scalar("INSERT INTO reference_sets (name, created_by) VALUES ('s', 't') RETURNING id")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let spec = JobSpec {
        kind: JobKind::Attribution,
        set_id: set,
        control_id: None,
        control_ids: Vec::new(),
        sample: None,
        from: None,
        to: None,
        requested_by: "cli".into(),
    };
    let id = reference_jobs::enqueue(&mut conn, &spec).await.unwrap();
    let lease = Duration::from_secs(60);
    let jobs = Queue::ReferenceJobs;
    let first = queue::claim(&mut conn, jobs, "a", lease, None, i32::MAX).await.unwrap().unwrap();
    let first = reference_jobs::get(&mut conn, first).await.unwrap().unwrap();
    assert_eq!((first.id, first.attempts, first.state.as_str()), (id, 1, "running"));
    assert!(queue::claim(&mut conn, jobs, "b", lease, None, i32::MAX).await.unwrap().is_none(), "held");
    // Worker a's lease runs out (it stopped sending heartbeats).
    sqlx::query("UPDATE reference_jobs SET lease_until = now() - interval '1 second' WHERE job_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .unwrap();
    let again = queue::claim(&mut conn, jobs, "b", lease, None, i32::MAX).await.unwrap().unwrap();
    let again = reference_jobs::get(&mut conn, again).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (id, 2));
    let report = serde_json::json!({"accounts": []});
    assert!(!queue::heartbeat(&mut conn, jobs, id, "a", lease, &report).await.unwrap());
    assert!(!queue::finish(&mut conn, jobs, id, "a", &report).await.unwrap(), "a lost its lease");
    assert!(queue::finish(&mut conn, jobs, id, "b", &report).await.unwrap());
    let done = reference_jobs::get(&mut conn, id).await.unwrap().unwrap();
    assert_eq!((done.state.as_str(), done.result), ("done", Some(report)));
    assert_eq!(reference_jobs::current(&mut conn, &spec).await.unwrap().map(|j| j.id), Some(id));
    // A failed run is never the answer: the next ask queues another.
    let other = JobSpec { to: Some(datetime!(2026-11-02 0:00 UTC)), ..spec };
    let failing = reference_jobs::enqueue(&mut conn, &other).await.unwrap();
    queue::claim(&mut conn, jobs, "c", lease, Some(failing), i32::MAX).await.unwrap().unwrap();
    queue::fail(&mut conn, jobs, failing, "c", "the database went away").await.unwrap();
    assert_eq!(
        reference_jobs::get(&mut conn, failing).await.unwrap().unwrap().error.as_deref(),
        Some("the database went away")
    );
    assert!(reference_jobs::current(&mut conn, &other).await.unwrap().is_none());
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn a_panel_run_answers_for_its_controls_in_their_order_until_one_of_them_changes(pool: PgPool) {
    use dw_store::reference_jobs::{self, JobKind, JobSpec};
    let mut conn = pool.acquire().await.unwrap();
    let mut sets = Vec::new();
    for name in ["suspect", "c1", "c2", "c3"] {
        let id: i64 = sqlx::query_scalar("INSERT INTO reference_sets (name, created_by) VALUES ($1, 't') RETURNING id")
            .bind(name)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        sets.push(id);
    }
    let spec = JobSpec {
        kind: JobKind::FingerprintTest,
        set_id: sets[0],
        control_id: None,
        control_ids: sets[1..].to_vec(),
        sample: Some(2_000),
        from: None,
        to: None,
        requested_by: "cli".into(),
    };
    let id = reference_jobs::enqueue(&mut conn, &spec).await.unwrap();
    let stored = reference_jobs::get(&mut conn, id).await.unwrap().unwrap();
    assert_eq!(stored.spec, spec, "kind, controls in order and sample read back as written");
    assert_eq!(reference_jobs::current(&mut conn, &spec).await.unwrap().map(|j| j.id), Some(id));
    let reordered = JobSpec { control_ids: vec![sets[3], sets[2], sets[1]], ..spec.clone() };
    assert!(reference_jobs::current(&mut conn, &reordered).await.unwrap().is_none(), "another panel order");
    let other_sample = JobSpec { sample: None, ..spec.clone() };
    assert!(reference_jobs::current(&mut conn, &other_sample).await.unwrap().is_none());
    // An item added to one of its controls later makes the report stale.
    sqlx::query(
        "INSERT INTO reference_items (set_id, output, content_hash, created_at)
         VALUES ($1, 'x', sha256('x'), now() + interval '1 second')",
    )
    .bind(sets[2])
    .execute(&mut *conn)
    .await
    .unwrap();
    assert!(reference_jobs::current(&mut conn, &spec).await.unwrap().is_none(), "stale");
    // The database refuses a panel kind without controls, and a sample on another kind.
    let bare = sqlx::query("INSERT INTO reference_jobs (kind, set_id, requested_by) VALUES ('panel_test', $1, 't')")
        .bind(sets[0])
        .execute(&mut *conn)
        .await;
    assert!(bare.is_err());
    let sampled = sqlx::query(
        "INSERT INTO reference_jobs (kind, set_id, sample, requested_by) VALUES ('attribution', $1, 10, 't')",
    )
    .bind(sets[0])
    .execute(&mut *conn)
    .await;
    assert!(sampled.is_err());
}
