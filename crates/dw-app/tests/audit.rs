//! The audit use case against a real database.

mod common;

use common::{batch, parse};
use dw_app::{App, AppConfig, AuditWindow, Detector};
use dw_domain::RiskLevel;
use sqlx::PgPool;
use time::macros::datetime;

fn requests(account: &str, count: usize, day: u32) -> Vec<String> {
    (0..count)
        .map(|i| {
            format!(
                r#"{{"event_id":"{account}-{day}-{i}","account_id":"{account}","timestamp":"2026-11-{day:02}T{:02}:{:02}:00Z","model":"m","request":{{"prompt":"p{i}"}}}}"#,
                i / 60 % 24,
                i % 60
            )
        })
        .collect()
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn the_audit_scores_every_account_active_in_the_window_and_no_other(pool: PgPool) {
    let app = App::new(pool, AppConfig::default());
    let mut lines = requests("loud", 700, 2);
    lines.extend(requests("quiet", 3, 2));
    lines.extend(requests("middle", 200, 3));
    lines.extend(requests("outside", 50, 9));
    app.ingest(batch(parse(&lines))).await.unwrap();

    let window = AuditWindow::new(datetime!(2026-11-02 0:00 UTC), datetime!(2026-11-09 0:00 UTC)).unwrap();
    let scores = app.audit(&window, Detector::Baseline).await.unwrap();
    let ids: Vec<&str> = scores.iter().map(|s| s.account_id.as_str()).collect();
    assert_eq!(ids, ["loud", "middle", "quiet"], "`to` is exclusive: the account active only on the 9th is out");
    let loud = &scores[0];
    assert_eq!(loud.risk, 700.0 / 900.0);
    assert_eq!((loud.level, loud.flagged), (RiskLevel::High, true));
    assert_eq!((scores[1].risk, scores[1].level, scores[1].flagged), (0.5, RiskLevel::Medium, false));
    assert!(scores.iter().all(|s| s.cluster_id.is_none() && s.top_signals[0].signal == "request_count"));

    // `from` is inclusive: a window starting on the 3rd sees only the middle account.
    let window = AuditWindow::new(datetime!(2026-11-03 0:00 UTC), datetime!(2026-11-04 0:00 UTC)).unwrap();
    let scores = app.audit(&window, Detector::Baseline).await.unwrap();
    assert_eq!(scores.iter().map(|s| s.account_id.as_str()).collect::<Vec<_>>(), ["middle"]);
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn the_flag_level_comes_from_the_configuration(pool: PgPool) {
    let mut config = AppConfig::default();
    config.detect.flags.flag_level = RiskLevel::Medium;
    let app = App::new(pool, config);
    app.ingest(batch(parse(&requests("middle", 200, 3)))).await.unwrap();
    let window = AuditWindow::new(datetime!(2026-11-01 0:00 UTC), datetime!(2026-12-01 0:00 UTC)).unwrap();
    let scores = app.audit(&window, Detector::Baseline).await.unwrap();
    assert!(scores[0].flagged, "medium is flagged when the flag level is medium");
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn the_signal_detector_streams_accounts_and_explains_its_scores(pool: PgPool) {
    let app = App::new(pool, AppConfig::default());
    let mut lines = requests("script", 300, 2);
    lines.extend(requests("person", 4, 2));
    // A two-turn chat: the second request carries the first turn.
    lines.push(r#"{"event_id":"chat-2","account_id":"person","timestamp":"2026-11-02T20:00:00Z","model":"m","request":{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"explain it step by step"}]}}"#.into());
    app.ingest(batch(parse(&lines))).await.unwrap();
    let window = AuditWindow::new(datetime!(2026-11-01 0:00 UTC), datetime!(2026-11-08 0:00 UTC)).unwrap();
    let scores = app.audit(&window, Detector::Signals).await.unwrap();
    assert_eq!(scores.iter().map(|s| s.account_id.as_str()).collect::<Vec<_>>(), ["person", "script"]);
    let (person, script) = (&scores[0], &scores[1]);
    assert!(script.risk > person.risk, "{script:?} vs {person:?}");
    assert!(script.top_signals.iter().any(|c| c.signal == "single_turn_share"), "{script:?}");
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(&s.risk)));

    // Narrowed to a tip-off list, or to a model nobody used.
    let narrowed = window.clone().with_accounts(vec!["person".into(), "nobody".into()]);
    let scores = app.audit(&narrowed, Detector::Signals).await.unwrap();
    assert_eq!(scores.iter().map(|s| s.account_id.as_str()).collect::<Vec<_>>(), ["person"]);
    assert!(app.audit(&window.clone().with_model("other".into()), Detector::Baseline).await.unwrap().is_empty());
    assert_eq!(app.audit(&window.with_model("m".into()), Detector::Baseline).await.unwrap().len(), 2);
}

#[test]
fn an_empty_window_is_refused() {
    let err = AuditWindow::new(datetime!(2026-11-02 0:00 UTC), datetime!(2026-11-02 0:00 UTC)).unwrap_err();
    assert!(err.to_string().contains("not before"), "{err}");
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn imported_attributes_link_accounts_on_one_card_and_give_their_age(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig::default());
    // Five accounts on five different networks; four pay with one card.
    let mut lines = Vec::new();
    for a in 0..5 {
        for i in 0..30 {
            lines.push(format!(
                r#"{{"event_id":"r{a}-{i}","account_id":"r{a}","timestamp":"2026-11-03T{:02}:{:02}:00Z","model":"m","request":{{"prompt":"task {i}"}},"client":{{"ip":"198.51.{a}.{i}","user_agent":"ua"}}}}"#,
                i / 2,
                i % 2 * 30
            ));
        }
    }
    app.ingest(batch(parse(&lines))).await.unwrap();
    let csv = "account_id,created_at,org,payment_fingerprint\n\
               r0,2026-11-01,,card-0123456789ab\n\
               r1,2026-11-01,,card-0123456789ab\n\
               r2,2026-10-01,,card-0123456789ab\n\
               r3,,,card-0123456789ab\n\
               r4,2020-01-01,acme,card-ffffffffffff\n";
    let parsed = dw_ingest::parse_attributes_csv(csv).unwrap();
    let imported = app.import_account_attributes(&parsed).await.unwrap();
    assert_eq!((imported.inserted, imported.updated), (5, 0));
    // A later file with only some columns sets those and keeps the rest.
    let later = dw_ingest::parse_attributes_csv("account_id,country\nr4,fr\n").unwrap();
    let imported = app.import_account_attributes(&later).await.unwrap();
    assert_eq!((imported.inserted, imported.updated), (0, 1));
    let (org, country): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT org, country FROM account_attributes WHERE account_id = 'r4'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((org.as_deref(), country.as_deref()), (Some("acme"), Some("FR")));

    let window = AuditWindow::new(datetime!(2026-11-01 0:00 UTC), datetime!(2026-11-08 0:00 UTC)).unwrap();
    let verdicts = app.audit_verdicts(&window).await.unwrap();
    let cluster = verdicts[0].score.cluster_id.clone().expect("r0 is linked");
    let members: Vec<&str> = verdicts
        .iter()
        .filter(|v| v.score.cluster_id.as_ref() == Some(&cluster))
        .map(|v| v.score.account_id.as_str())
        .collect();
    assert_eq!(members, ["r0", "r1", "r2", "r3"]);
    assert_eq!(
        verdicts[0].link_reason.as_deref(),
        Some("4 accounts paying with one payment instrument (card-0123456…)")
    );
    assert!(verdicts[4].score.cluster_id.is_none());
    let age =
        |v: &dw_app::Verdict| v.signals.iter().find(|s| s.signal.name == "account_age_days").unwrap().signal.value;
    assert_eq!(age(&verdicts[0]), Some(2.0));
    assert_eq!(age(&verdicts[2]), Some(33.0));
    assert_eq!(age(&verdicts[3]), None, "no opening time imported");
    assert_eq!(verdicts[2].attributes.as_ref().unwrap().payment_fingerprint.as_deref(), Some("card-0123456789ab"));
}
