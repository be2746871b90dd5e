//! Use cases over a real database.

mod common;

use common::batch;
use dw_app::{App, AppConfig};
use dw_domain::Event;
use sqlx::PgPool;
use time::macros::datetime;

fn events(stamps: &[&str]) -> Vec<Event> {
    let lines: Vec<String> = stamps
        .iter()
        .enumerate()
        .map(|(i, ts)| {
            format!(
                r#"{{"event_id":"e{i}","account_id":"a","timestamp":"{ts}","model":"m","request":{{"prompt":"p"}}}}"#
            )
        })
        .collect();
    common::parse(&lines)
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn retention_is_off_by_default_and_drops_whole_old_months_when_on(pool: PgPool) {
    let stamps = ["2026-01-15T00:00:00Z", "2026-09-30T23:59:59Z", "2026-10-01T00:00:00Z", "2026-11-20T00:00:00Z"];
    let app = App::new(pool.clone(), AppConfig::default());
    let outcome = app.ingest(batch(events(&stamps))).await.unwrap();
    assert_eq!(outcome.accepted, 4);
    let now = datetime!(2026-11-28 12:00 UTC);
    assert_eq!(app.apply_retention(now).await.unwrap(), dw_app::RetentionRun::default(), "off by default");

    // 50 days before 2026-11-28 is 2026-10-09: September and older go, October stays.
    let app = App::new(pool.clone(), AppConfig { retention_days: Some(50), ..AppConfig::default() });
    let dropped = app.apply_retention(now).await.unwrap().dropped;
    assert_eq!(dropped.len(), 2);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();
    assert_eq!(left, 2);
    // Ingest still works afterwards (the partition cache was reset). The keys of
    // dropped events went with them (e0, e1 load again); e2's month was kept.
    let again = events(&["2026-11-21T00:00:00Z", "2026-11-22T00:00:00Z", "2026-10-05T00:00:00Z"]);
    let outcome = app.ingest(batch(again)).await.unwrap();
    assert_eq!((outcome.accepted, outcome.duplicates), (2, 1));
}

/// Retention takes out what was copied from old events too: the prompts quoted in evidence that no audit
/// refreshed within the window, and the reports of reference runs that finished before it.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn retention_expires_quoted_prompts_and_old_job_reports(pool: PgPool) {
    let audit: i64 = sqlx::query_scalar(
        "INSERT INTO audits (window_from, window_to, requested_by, state) \
         VALUES ('2026-08-01', '2026-08-08', 'test', 'done') RETURNING audit_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let evidence = serde_json::json!({"evidence": {"networks": [["203.0.113.0/24", 9]],
        "sample_prompts": [{"event_id": "e1", "text": "I am Jane Roe, summarise my file"}]}});
    for (subject, updated) in [("old", "2026-08-09T00:00:00Z"), ("fresh", "2026-11-27T00:00:00Z")] {
        sqlx::query(
            "INSERT INTO flags (subject_kind, subject_id, status, risk, level, fired, reason, evidence, \
             first_audit_id, last_audit_id, updated_at) \
             VALUES ('account', $1, 'open', 0.9, 'critical', '{}', 'r', $2, $3, $3, $4::timestamptz)",
        )
        .bind(subject)
        .bind(&evidence)
        .bind(audit)
        .bind(updated)
        .execute(&pool)
        .await
        .unwrap();
    }
    let set: i64 = sqlx::query_scalar("INSERT INTO reference_sets (name, created_by) VALUES ('s', 't') RETURNING id")
        .fetch_one(&pool)
        .await
        .unwrap();
    for finished in ["2026-08-10T00:00:00Z", "2026-11-27T00:00:00Z"] {
        sqlx::query(
            "INSERT INTO reference_jobs (kind, set_id, requested_by, state, result, finished_at) \
             VALUES ('attribution', $1, 't', 'done', '{\"matched\": [\"a served completion\"]}', $2::timestamptz)",
        )
        .bind(set)
        .bind(finished)
        .execute(&pool)
        .await
        .unwrap();
    }

    let app = App::new(pool.clone(), AppConfig { retention_days: Some(50), ..AppConfig::default() });
    let run = app.apply_retention(datetime!(2026-11-28 12:00 UTC)).await.unwrap();
    assert_eq!((run.flags_expired, run.jobs_deleted), (1, 1));
    let kept: Vec<(String, String)> =
        sqlx::query_as("SELECT subject_id, evidence::text FROM flags ORDER BY subject_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(kept[0].0 == "fresh" && kept[0].1.contains("Jane Roe"), "refreshed within the window: {kept:?}");
    assert!(kept[1].0 == "old" && !kept[1].1.contains("Jane Roe"), "{kept:?}");
    assert!(kept[1].1.contains("203.0.113.0/24") && kept[1].1.contains("excerpts_expired"), "{kept:?}");
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM reference_jobs").fetch_one(&pool).await.unwrap();
    assert_eq!(jobs, 1, "the run that finished within the window stays");
    // A second pass has nothing left to do.
    let again = app.apply_retention(datetime!(2026-11-28 12:00 UTC)).await.unwrap();
    assert_eq!((again.flags_expired, again.jobs_deleted), (0, 0));
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn repeats_inside_one_batch_count_as_duplicates(pool: PgPool) {
    let app = App::new(pool, AppConfig::default());
    let mut batch_events = events(&["2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"]);
    batch_events.push(batch_events[0].clone());
    let outcome = app.ingest(batch(batch_events)).await.unwrap();
    assert_eq!((outcome.accepted, outcome.duplicates), (2, 1));
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn a_source_that_logs_the_last_message_only_marks_the_events_that_do_not_say(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig::default());
    let mut sent = events(&["2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"]);
    // The second event says its source logs the whole conversation: it is taken at its word.
    sent[1].request.history_logged = Some(true);
    let mut last_only = batch(sent);
    last_only.history_logged = Some(false);
    assert_eq!(app.ingest(last_only).await.unwrap().accepted, 2);
    let stored: Vec<(String, Option<bool>)> =
        sqlx::query_as("SELECT event_id, history_logged FROM events ORDER BY event_id").fetch_all(&pool).await.unwrap();
    assert_eq!(stored, vec![("e0".to_string(), Some(false)), ("e1".to_string(), Some(true))]);
    // A batch whose source says nothing leaves its events as they are.
    let outcome = app.ingest(batch(events(&["2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z"]))).await.unwrap();
    assert_eq!(outcome.accepted, 0, "e0 and e1 again: duplicates");
    let unsaid = common::parse(&[
        r#"{"event_id":"e9","account_id":"b","timestamp":"2026-11-03T00:00:00Z","model":"m","request":{"prompt":"p"}}"#
            .to_string(),
    ]);
    app.ingest(batch(unsaid)).await.unwrap();
    let e9: Option<bool> =
        sqlx::query_scalar("SELECT history_logged FROM events WHERE event_id = 'e9'").fetch_one(&pool).await.unwrap();
    assert_eq!(e9, None);
}
