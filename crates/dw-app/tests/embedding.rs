//! The embedding job over a real database and the real model.

use std::path::PathBuf;

mod common;

use dw_app::{App, AppConfig, EmbedJob};
use dw_embed::{EmbedHandle, Encoder, EncoderOptions};
use dw_store::embeddings::{self, Budget, Field, VectorDtype};
use sqlx::PgPool;
use time::macros::datetime;

fn model_dir() -> PathBuf {
    let dir = match std::env::var("DW_MODEL_DIR") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2"),
    };
    dw_embed::fetch::verify(&dir).unwrap_or_else(|e| panic!("the real model is needed: {e}"));
    dir
}

fn encoder() -> Encoder {
    Encoder::load(&model_dir(), &EncoderOptions { batch_size: 16, ..EncoderOptions::default() }).unwrap()
}

/// Three accounts, ten events each, one a day from 2026-11-01.
async fn seed(app: &App) {
    let mut lines = Vec::new();
    for account in 0..3 {
        for day in 0..10 {
            lines.push(format!(
                r#"{{"event_id":"a{account}-d{day}","account_id":"acct_{account}","timestamp":"2026-11-{:02}T12:00:00Z","model":"m","request":{{"prompt":"Question {day} from account {account}: how do rivers form?"}},"response":{{"content":"Answer {day}: erosion and rainfall."}}}}"#,
                day + 1
            ));
        }
    }
    let batch = common::batch(common::parse(&lines));
    assert_eq!(app.ingest(batch).await.unwrap().accepted, 30);
}

fn job(budget: Budget, fields: Vec<Field>) -> EmbedJob {
    EmbedJob {
        from: datetime!(2026-11-01 00:00 UTC),
        to: datetime!(2026-12-01 00:00 UTC),
        budget,
        fields,
        dtype: VectorDtype::F16,
        chunk: 7,
    }
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn a_stratified_sample_first_then_the_rest_each_once(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig::default());
    seed(&app).await;
    let handle = EmbedHandle::spawn(encoder(), 4).unwrap();

    let report = app.embed_window(&handle, &job(Budget::PerAccount(2), vec![Field::Prompt]), |_, _| {}).await.unwrap();
    assert_eq!((report.selected, report.written), (6, 6));
    let mut conn = pool.acquire().await.unwrap();
    for account in 0..3 {
        let stored = embeddings::for_account(
            &mut conn,
            &format!("acct_{account}"),
            datetime!(2026-11-01 00:00 UTC),
            datetime!(2026-12-01 00:00 UTC),
            Field::Prompt,
            handle.model_id(),
        )
        .await
        .unwrap();
        // Two strata over ten days: one pick from days 1-5, one from days 6-10.
        assert_eq!(stored.len(), 2);
        assert!(
            stored[0].key.ts.day() <= 5 && stored[1].key.ts.day() >= 6,
            "{:?}",
            stored.iter().map(|s| s.key.ts).collect::<Vec<_>>()
        );
    }

    // The same job again finds nothing left to do: the sample is deterministic.
    let again = app.embed_window(&handle, &job(Budget::PerAccount(2), vec![Field::Prompt]), |_, _| {}).await.unwrap();
    assert_eq!((again.selected, again.written), (0, 0));

    // Everything, prompts and completions: the remaining 24 prompts and all 30 completions.
    let mut calls = 0;
    let all = app
        .embed_window(&handle, &job(Budget::All, vec![Field::Prompt, Field::Completion]), |_, _| calls += 1)
        .await
        .unwrap();
    assert_eq!((all.selected, all.written), (54, 54));
    assert!(calls >= 54 / 7, "progress is reported per chunk");

    // Stored float16 vectors agree with the encoder's float32 ones.
    let stored = embeddings::for_account(
        &mut conn,
        "acct_1",
        datetime!(2026-11-03 00:00 UTC),
        datetime!(2026-11-04 00:00 UTC),
        Field::Prompt,
        handle.model_id(),
    )
    .await
    .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].vector.len(), 384);
    let direct = encoder().embed(&["Question 2 from account 1: how do rivers form?"]).unwrap().remove(0);
    let cosine: f32 = direct.iter().zip(&stored[0].vector).map(|(a, b)| a * b).sum();
    assert!(cosine > 0.9999, "{cosine}");
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn a_daily_budget_samples_each_day_and_keeps_finished_days_fixed(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig::default());
    // One account, six events on each of two days.
    let mut lines = Vec::new();
    for day in 1..=2 {
        for hour in 0..6 {
            lines.push(format!(
                r#"{{"event_id":"d{day}h{hour}","account_id":"acct","timestamp":"2026-11-0{day}T{:02}:00:00Z","model":"m","request":{{"prompt":"Day {day}, hour {hour}: what makes bread rise?"}}}}"#,
                hour * 4
            ));
        }
    }
    assert_eq!(app.ingest(common::batch(common::parse(&lines))).await.unwrap().accepted, 12);
    let handle = EmbedHandle::spawn(encoder(), 4).unwrap();
    let daily = |to| EmbedJob { to, ..job(Budget::PerAccountDay(2), vec![Field::Prompt]) };

    // Day 1 alone: two strata of its six events.
    let first = app.embed_window(&handle, &daily(datetime!(2026-11-02 00:00 UTC)), |_, _| {}).await.unwrap();
    assert_eq!(first.written, 2);
    // Both days: day 1's sample is already there, day 2 adds its own two.
    let both = app.embed_window(&handle, &daily(datetime!(2026-11-03 00:00 UTC)), |_, _| {}).await.unwrap();
    assert_eq!((both.selected, both.written), (2, 2));
    let mut conn = pool.acquire().await.unwrap();
    let stored = embeddings::for_account(
        &mut conn,
        "acct",
        datetime!(2026-11-01 00:00 UTC),
        datetime!(2026-11-03 00:00 UTC),
        Field::Prompt,
        handle.model_id(),
    )
    .await
    .unwrap();
    let hours: Vec<(u8, u8)> = stored.iter().map(|s| (s.key.ts.day(), s.key.ts.hour())).collect();
    assert_eq!(hours.len(), 4);
    for day in 1..=2 {
        let of_day: Vec<u8> = hours.iter().filter(|(d, _)| *d == day).map(|(_, h)| *h).collect();
        assert!(of_day.len() == 2 && of_day[0] < 12 && of_day[1] >= 12, "one per half day: {hours:?}");
    }
}

/// An audit that embeds its sample fits the window's topics and reads each
/// account's spread over them: a sweep of unrelated tasks spreads, a fan
/// asking about one subject does not, and asking the same question again in
/// other words is a re-ask.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn an_audit_with_content_sampling_reads_topic_coverage(pool: PgPool) {
    let fan = [
        "Who won the football World Cup in 2014?",
        "Explain how the offside rule works in football.",
        "What is a good formation for a youth football team?",
        "How many players are on a football pitch per side?",
        "Which team won the World Cup in 2014?",
        "Who is the top scorer in the history of the Champions League?",
        "How long is a professional football match?",
        "What does a sweeper do in a football defence?",
        "Why was the golden goal rule abolished in football?",
        "How are penalty shootouts decided in football tournaments?",
    ];
    let sweep = [
        "Summarize the causes of the French Revolution.",
        "Write a Python function that reverses a linked list.",
        "Explain the photoelectric effect to a high-school student.",
        "Compose a haiku about autumn rain.",
        "What are the tax implications of selling a rental property?",
        "Give a recipe for vegan lasagna.",
        "Describe the life cycle of a star.",
        "Translate 'good morning, how are you' into Japanese.",
        "List the symptoms of vitamin D deficiency.",
        "Explain how a blockchain reaches consensus.",
    ];
    let cook = [
        "How do I bake sourdough bread at home?",
        "What temperature should I roast a chicken at?",
        "How do I make a creamy risotto without cream?",
        "What spices go into a good curry?",
        "How long should pasta boil to be al dente?",
        "How do I keep pancakes fluffy?",
        "What is the secret to crispy roast potatoes?",
        "How do I make a French omelette?",
        "Can I freeze homemade soup?",
        "How do I caramelize onions properly?",
    ];
    let mut lines = Vec::new();
    for (account, prompts) in [("fan", &fan[..]), ("sweep", &sweep[..]), ("cook", &cook[..]), ("brief", &cook[..5])] {
        for (i, prompt) in prompts.iter().enumerate() {
            lines.push(format!(
                r#"{{"event_id":"{account}-{i}","account_id":"{account}","timestamp":"2026-11-02T{:02}:00:00Z","model":"m","request":{{"prompt":"{prompt}"}},"response":{{"content":"An answer."}}}}"#,
                i + 1
            ));
        }
    }
    let batch = common::batch(common::parse(&lines));
    let app = App::new(pool.clone(), AppConfig::default());
    assert_eq!(app.ingest(batch).await.unwrap().accepted, 35);
    let app = app.with_content(dw_app::ContentSampling {
        handle: EmbedHandle::spawn(encoder(), 4).unwrap(),
        budget: Some(Budget::All),
        dtype: VectorDtype::F16,
    });
    let window = dw_app::AuditWindow::new(datetime!(2026-11-01 00:00 UTC), datetime!(2026-11-03 00:00 UTC)).unwrap();
    let verdicts = app.audit_verdicts(&window).await.unwrap();
    let signal = |account: &str, name: &str| {
        let verdict = verdicts.iter().find(|v| v.score.account_id == account).unwrap();
        verdict.signals.iter().find(|s| s.signal.name == name).unwrap().signal.clone()
    };
    // 35 prompts: three topics (at least ten prompts each).
    let fan_entropy = signal("fan", "topic_entropy");
    let sweep_entropy = signal("sweep", "topic_entropy");
    assert!(fan_entropy.detail.contains("of the window's 3 topics"), "{}", fan_entropy.detail);
    assert!(sweep_entropy.value.unwrap() > fan_entropy.value.unwrap() + 0.5, "{sweep_entropy:?}\n{fan_entropy:?}");
    // The fan asked who won in 2014 twice, in other words.
    let fan_reask = signal("fan", "reask_share");
    assert_eq!(fan_reask.value, Some(0.1), "{fan_reask:?}");
    assert_eq!(fan_reask.examples, vec!["fan-4".to_string()]);
    assert_eq!(signal("sweep", "reask_share").value, Some(0.0));
    // Five prompts are too few to spread over anything.
    let brief = signal("brief", "topic_evenness");
    assert_eq!(brief.detail, "not computed: 5 of 5 prompts embedded, fewer than 8");
}
