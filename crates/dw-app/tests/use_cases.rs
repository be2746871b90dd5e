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
    assert!(app.apply_retention(now).await.unwrap().is_empty(), "off by default");

    // 50 days before 2026-11-28 is 2026-10-09: September and older go, October stays.
    let app = App::new(pool.clone(), AppConfig { retention_days: Some(50), ..AppConfig::default() });
    let dropped = app.apply_retention(now).await.unwrap();
    assert_eq!(dropped.len(), 2);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();
    assert_eq!(left, 2);
    // Ingest still works afterwards (the partition cache was reset). The keys of
    // dropped events went with them (e0, e1 load again); e2's month was kept.
    let again = events(&["2026-11-21T00:00:00Z", "2026-11-22T00:00:00Z", "2026-10-05T00:00:00Z"]);
    let outcome = app.ingest(batch(again)).await.unwrap();
    assert_eq!((outcome.accepted, outcome.duplicates), (2, 1));
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
