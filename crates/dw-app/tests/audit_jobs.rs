//! Audit jobs and flags against a real database: publish, update without
//! duplicates, dismissals that hold and reopen, dry runs, leases.

mod common;

use std::time::Duration;

use common::{batch, parse};
use dw_app::{Actor, App, AppConfig, AppError, AuditSpec, FlagChange, FlagStatus};
use dw_store::queue::{self, Queue};
use sqlx::PgPool;
use time::macros::datetime;

/// Thirty accounts scripted from one /24 with one client (25 requests a day
/// for five days, long answers), and one person chatting.
async fn seed(app: &App) {
    let mut lines = Vec::new();
    for a in 0..30 {
        for i in 0..125 {
            let (day, minute) = (2 + i / 25, (i % 25) * 10);
            lines.push(format!(
                r#"{{"event_id":"farm{a:02}-{i}","account_id":"farm{a:02}","timestamp":"2026-11-{day:02}T{:02}:{:02}:00Z","model":"m","request":{{"prompt":"Write task number {i} about something different each time please.","max_tokens":4096}},"client":{{"ip":"203.0.113.{}","user_agent":"OpenAI/Python 1.50.0"}}}}"#,
                minute / 60,
                minute % 60,
                a + 1
            ));
        }
    }
    for i in 0..6 {
        lines.push(format!(
            r#"{{"event_id":"p{i}","account_id":"person","timestamp":"2026-11-03T1{i}:00:00Z","model":"m","request":{{"messages":[{{"role":"user","content":"hi"}},{{"role":"assistant","content":"hello"}},{{"role":"user","content":"what should I cook tonight with leeks?"}}]}}}}"#
        ));
    }
    assert_eq!(app.ingest(batch(parse(&lines))).await.unwrap().accepted, 30 * 125 + 6);
}

fn spec(dry_run: bool) -> AuditSpec {
    AuditSpec {
        from: datetime!(2026-11-01 0:00 UTC),
        to: datetime!(2026-11-08 0:00 UTC),
        accounts: None,
        model: None,
        dry_run,
        requested_by: "test".into(),
    }
}

async fn audit(app: &App, dry_run: bool) -> dw_app::AuditOutcome {
    let id = app.queue_audit(&spec(dry_run)).await.unwrap();
    let outcome = app.run_audit("test-worker", Some(id)).await.unwrap().expect("the queued audit is claimed");
    assert_eq!(outcome.audit_id, id);
    outcome
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn flags_are_opened_once_updated_by_later_audits_and_dismissals_hold_until_something_changes(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig::default());
    seed(&app).await;

    let first = audit(&app, false).await;
    let s = &first.summary;
    assert_eq!((s.accounts, s.flagged, s.clusters_flagged), (31, 30, 1), "{s:?}");
    assert_eq!((s.opened, s.updated, s.reopened), (31, 0, 0), "30 accounts and their cluster");
    let stored = app.get_audit(first.audit_id).await.unwrap().unwrap();
    assert_eq!(stored.state, dw_domain::JobState::Done);
    assert_eq!(stored.summary.as_ref().unwrap()["opened"], 31);
    let scored: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_scores WHERE audit_id = $1")
        .bind(first.audit_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(scored, 31);

    // The account flag carries its evidence: signals with percentiles, the link with the linked accounts.
    let open = app.list_flags(Some(FlagStatus::Open), 100).await.unwrap();
    assert_eq!(open.len(), 31);
    let farm = open.iter().find(|f| f.subject_id == "farm07").unwrap();
    assert_eq!(farm.subject_kind.as_str(), "account");
    assert!(farm.fired.contains(&"linked_cluster".to_owned()), "{:?}", farm.fired);
    assert!(farm.reason.contains("member of cluster c-"), "{}", farm.reason);
    let link = &farm.evidence["link"];
    assert_eq!(link["linked_accounts"].as_array().unwrap().len(), 29);
    assert!(link["reason"].as_str().unwrap().starts_with("30 accounts sending from 203.0.113.0/24"));
    assert!(farm.evidence["signals"].as_array().unwrap().iter().any(|s| s["percentile"].is_number()));
    assert!(farm.evidence["activity"]["hourly"].is_object());
    let cluster = open.iter().find(|f| f.subject_kind.as_str() == "cluster").unwrap();
    assert!(cluster.reason.starts_with("30 of 30 linked accounts flagged"), "{}", cluster.reason);
    assert_eq!(cluster.evidence["members"].as_array().unwrap().len(), 30);

    // A second audit updates the same flags: none is duplicated.
    let second = audit(&app, false).await;
    assert_eq!((second.summary.opened, second.summary.updated), (0, 31));
    assert_eq!(app.list_flags(None, 100).await.unwrap().len(), 31);
    let (flag, history) = app.flag(farm.id).await.unwrap().unwrap();
    assert_eq!((flag.first_audit_id, flag.last_audit_id), (first.audit_id, second.audit_id));
    assert_eq!(history.iter().map(|h| h.action.as_str()).collect::<Vec<_>>(), ["opened", "updated"]);

    // Dismissed flags stay dismissed while nothing changes...
    let (dismissed, _) =
        app.change_flag(farm.id, &to(FlagStatus::Dismissed, Some("load test")), &analyst()).await.unwrap();
    assert_eq!(dismissed.status.as_str(), "dismissed");
    assert_eq!(dismissed.dismissed_risk, Some(flag.risk));
    app.change_flag(cluster.id, &to(FlagStatus::Dismissed, None), &analyst()).await.unwrap();
    let third = audit(&app, false).await;
    assert_eq!((third.summary.kept_dismissed, third.summary.updated), (2, 29));
    assert_eq!(app.flag(farm.id).await.unwrap().unwrap().0.status, FlagStatus::Dismissed);

    // ...and open again when the risk has risen by the margin since the dismissal,
    sqlx::query("UPDATE flags SET dismissed_risk = 0.5 WHERE flag_id = $1").bind(farm.id).execute(&pool).await.unwrap();
    // or when a signal fires that had not.
    sqlx::query(
        "UPDATE flags SET dismissed_fired = array_remove(dismissed_fired, 'linked_cluster') WHERE flag_id = $1",
    )
    .bind(cluster.id)
    .execute(&pool)
    .await
    .unwrap();
    let fourth = audit(&app, false).await;
    assert_eq!((fourth.summary.reopened, fourth.summary.kept_dismissed), (2, 0));
    let (reopened, history) = app.flag(farm.id).await.unwrap().unwrap();
    assert_eq!(reopened.status.as_str(), "open");
    let because = reopened.reopened_because.unwrap();
    assert!(because.starts_with("risk rose from 0.50 at dismissal to"), "{because}");
    assert_eq!(history.last().unwrap().action.as_str(), "reopened");
    assert_eq!(history.last().unwrap().note.as_deref(), Some(because.as_str()));
    let cluster_because = app.flag(cluster.id).await.unwrap().unwrap().0.reopened_because.unwrap();
    assert_eq!(cluster_because, "new signal fired: linked_cluster");

    // A confirmed flag stays confirmed and keeps being updated.
    app.change_flag(farm.id, &to(FlagStatus::Confirmed, None), &analyst()).await.unwrap();
    audit(&app, false).await;
    assert_eq!(app.flag(farm.id).await.unwrap().unwrap().0.status, FlagStatus::Confirmed);
    let missing = app.change_flag(999_999, &to(FlagStatus::Confirmed, None), &analyst()).await;
    assert!(matches!(missing, Err(AppError::NotFound(_))), "{missing:?}");
}

fn analyst() -> Actor {
    Actor { name: "key:0000 analyst@example".into(), role: "analyst".into() }
}

fn to(status: FlagStatus, note: Option<&str>) -> FlagChange {
    FlagChange { status: Some(status), note: note.map(str::to_owned), ..FlagChange::default() }
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn a_dry_run_stores_scores_and_touches_no_flag(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig::default());
    seed(&app).await;
    let dry = audit(&app, true).await;
    assert!(dry.summary.dry_run);
    assert_eq!(dry.summary.flagged, 30);
    assert_eq!((dry.summary.opened, dry.summary.updated), (0, 0));
    assert!(app.list_flags(None, 10).await.unwrap().is_empty());
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(dw_store::audits::scores(&mut conn, dry.audit_id).await.unwrap().len(), 31);
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn a_dead_workers_audit_is_claimed_again_and_the_dead_worker_cannot_publish(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig::default());
    assert!(app.run_audit("w", None).await.unwrap().is_none(), "nothing queued");
    let id = app.queue_audit(&spec(false)).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    // Worker A claims with a lease that runs out at once (it "dies").
    let claim = |owner: &'static str, lease: Duration| {
        let pool = pool.clone();
        async move {
            let mut conn = pool.acquire().await.unwrap();
            let claimed = queue::claim(&mut conn, Queue::Audits, owner, lease, None, i32::MAX).await.unwrap()?;
            dw_store::audits::get(&mut conn, claimed).await.unwrap()
        }
    };
    let a = claim("A", Duration::ZERO).await.unwrap();
    assert_eq!((a.id, a.attempts, a.state.as_str()), (id, 1, "running"));
    tokio::time::sleep(Duration::from_millis(20)).await;
    // A live lease is not claimable; an expired one is.
    let b = claim("B", Duration::from_secs(60)).await.unwrap();
    assert_eq!((b.id, b.attempts), (id, 2));
    assert!(claim("C", Duration::from_secs(60)).await.is_none());
    // A's late heartbeat and publication are refused.
    let progress = serde_json::json!({"stage": "scoring"});
    let lease = Duration::from_secs(60);
    assert!(!queue::heartbeat(&mut conn, Queue::Audits, id, "A", lease, &progress).await.unwrap());
    assert!(!queue::finish(&mut conn, Queue::Audits, id, "A", &progress).await.unwrap());
    assert!(queue::finish(&mut conn, Queue::Audits, id, "B", &progress).await.unwrap());
    assert_eq!(app.get_audit(id).await.unwrap().unwrap().state, dw_domain::JobState::Done);
    // An audit of an empty window is refused before it is queued.
    let empty = AuditSpec { to: spec(false).from, ..spec(false) };
    assert!(matches!(app.queue_audit(&empty).await, Err(dw_app::AppError::Invalid(_))));
}

/// An audit whose worker dies holding it (a poison job that kills the process, say) is claimed again only
/// `jobs.max_attempts` times; then it fails for good, saying why, and the queue moves on.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn an_audit_whose_workers_keep_dying_is_given_up_after_the_attempts_allowed(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig { max_job_attempts: Some(2), ..AppConfig::default() });
    let poison = app.queue_audit(&spec(false)).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    for attempt in 1..=2 {
        // A worker claims it and dies: its lease runs out at once.
        let held = queue::claim(&mut conn, Queue::Audits, &format!("w{attempt}"), Duration::ZERO, None, 2)
            .await
            .unwrap()
            .unwrap();
        let held = dw_store::audits::get(&mut conn, held).await.unwrap().unwrap();
        assert_eq!((held.id, held.attempts), (poison, attempt));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let next = app.queue_audit(&spec(false)).await.unwrap();
    // The next worker gives the poison audit up and runs the next one.
    let outcome = app.run_audit("w3", None).await.unwrap().expect("the next audit is run");
    assert_eq!(outcome.audit_id, next);
    let given_up = app.get_audit(poison).await.unwrap().unwrap();
    assert_eq!((given_up.state.as_str(), given_up.attempts), ("failed", 2));
    let error = given_up.error.unwrap();
    assert!(error.starts_with("gave up after 2 attempts: the lease of each ran out"), "{error}");
    assert!(error.contains("w2"), "the last holder is named: {error}");
    assert!(app.run_audit("w3", None).await.unwrap().is_none(), "nothing left to claim");
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn the_schedule_queues_one_audit_a_period(pool: PgPool) {
    let app = App::new(pool, AppConfig::default());
    let now = time::OffsetDateTime::now_utc();
    let every = time::Duration::hours(6);
    let days = time::Duration::days(7);
    let id = app.schedule_audit(now, every, days).await.unwrap().expect("the first period queues one");
    assert_eq!(app.schedule_audit(now, every, days).await.unwrap(), None, "not twice in one period");
    let queued = app.get_audit(id).await.unwrap().unwrap();
    assert_eq!((queued.spec.to - queued.spec.from, queued.spec.requested_by.as_str()), (days, "schedule"));
    assert!(app.schedule_audit(now + every, every, days).await.unwrap().is_some(), "the next period queues again");
}

/// The case workflow: escalate, assign, annotate, confirm, reopen; a move the
/// workflow does not allow is a conflict that says which moves there are;
/// every change is in the flag's history and in the append-only audit log.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn analysts_work_a_flag_along_the_workflow_and_every_change_is_on_record(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig::default());
    seed(&app).await;
    audit(&app, false).await;
    let farm = app.list_flags(None, 100).await.unwrap().into_iter().find(|f| f.subject_id == "farm03").unwrap();
    let lead = Actor { name: "key:0001 lead@example".into(), role: "admin".into() };

    let change = FlagChange {
        status: Some(FlagStatus::Escalated),
        assignee: Some(Some("lead@example".into())),
        note: Some("same /24 as last month's campaign".into()),
    };
    let (flag, history) = app.change_flag(farm.id, &change, &analyst()).await.unwrap();
    assert_eq!((flag.status.as_str(), flag.assignee.as_deref()), ("escalated", Some("lead@example")));
    let actions: Vec<(&str, Option<&str>)> = history.iter().map(|h| (h.action.as_str(), h.note.as_deref())).collect();
    assert_eq!(
        actions,
        [
            ("opened", None),
            ("escalated", Some("same /24 as last month's campaign")),
            ("assigned", Some("assigned to lead@example"))
        ]
    );

    // An escalated flag is confirmed or dismissed, not sent back to open.
    let wrong = app.change_flag(farm.id, &to(FlagStatus::Open, None), &lead).await.unwrap_err();
    assert_eq!(
        wrong.to_string(),
        format!("flag {}: a flag that is escalated cannot become open: it can become confirmed or dismissed", farm.id)
    );
    // A note alone, then the decision; an audit keeps updating the escalated or confirmed flag.
    let note = FlagChange { note: Some("payment trail requested".into()), ..FlagChange::default() };
    app.change_flag(farm.id, &note, &lead).await.unwrap();
    audit(&app, false).await;
    assert_eq!(app.flag(farm.id).await.unwrap().unwrap().0.status, FlagStatus::Escalated);
    let (confirmed, _) =
        app.change_flag(farm.id, &to(FlagStatus::Confirmed, Some("legal agrees")), &lead).await.unwrap();
    assert_eq!(
        (confirmed.decided_by.as_deref(), confirmed.decision_note.as_deref()),
        (Some(lead.name.as_str()), Some("legal agrees"))
    );
    // Reopened by an analyst: the decision is cleared and the history says who.
    let (reopened, history) = app.change_flag(farm.id, &to(FlagStatus::Open, None), &analyst()).await.unwrap();
    assert_eq!((reopened.status.as_str(), reopened.decided_by.as_deref()), ("open", None));
    assert_eq!(reopened.reopened_because.as_deref(), Some("reopened by key:0000 analyst@example"));
    let tail: Vec<&str> = history.iter().rev().take(4).map(|h| h.action.as_str()).collect();
    assert_eq!(tail, ["reopened", "confirmed", "updated", "noted"]);

    // Nothing to change, an empty note, a blank assignee: refused before anything is written.
    for bad in [
        FlagChange::default(),
        FlagChange { note: Some("  ".into()), ..FlagChange::default() },
        FlagChange { assignee: Some(Some(" ".into())), ..FlagChange::default() },
    ] {
        assert!(matches!(app.change_flag(farm.id, &bad, &lead).await, Err(AppError::Invalid(_))), "{bad:?}");
    }

    // The audit log: four changes (the refused ones are not there), before and after each.
    let target = format!("flag:{}", farm.id);
    let log = app.audit_log(None, Some(&target), 100).await.unwrap();
    assert_eq!(log.len(), 4, "{log:?}");
    assert_eq!(log[0].actor, "key:0000 analyst@example");
    assert_eq!(log[0].before.as_ref().unwrap()["status"], "open");
    assert_eq!(log[0].after.as_ref().unwrap()["status"], "escalated");
    assert_eq!(log[0].after.as_ref().unwrap()["assignee"], "lead@example");
    assert_eq!(log[2].after.as_ref().unwrap()["note"], "legal agrees");
    assert_eq!(app.audit_log(Some(log[1].id), None, 100).await.unwrap().len(), 2, "paged after an entry");
    // It is append-only.
    for statement in ["UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log", "TRUNCATE audit_log"] {
        let refused = sqlx::query(statement).execute(&pool).await.unwrap_err();
        assert!(refused.to_string().contains("audit_log is append-only"), "{statement}: {refused}");
    }
}

/// An allowlisted account keeps its score and cluster but is never flagged,
/// while its entry is in force; adding and removing entries is on record.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn allowlisted_accounts_are_scored_but_not_flagged_while_their_entry_is_in_force(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig::default());
    seed(&app).await;
    let admin = Actor { name: "key:0001 lead@example".into(), role: "admin".into() };
    let expiry = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let entry =
        app.allow_account(" farm03 ", "licensed distillation, contract 2026-114", Some(expiry), &admin).await.unwrap();
    assert_eq!((entry.account_id.as_str(), entry.added_by.as_str()), ("farm03", "key:0001 lead@example"));
    app.allow_account("farm04", "evaluation partner", None, &admin).await.unwrap();
    // An entry past its expiry is not in force.
    app.allow_account("farm05", "expired licence", None, &admin).await.unwrap();
    sqlx::query("UPDATE allowlist SET expires_at = now() - interval '1 day' WHERE account_id = 'farm05'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(app.allowlist(false).await.unwrap().len(), 2);
    assert_eq!(app.allowlist(true).await.unwrap().len(), 3);

    let outcome = audit(&app, false).await;
    assert_eq!((outcome.summary.flagged, outcome.summary.opened), (28, 29), "{:?}", outcome.summary);
    let flagged: Vec<(String, bool, Option<String>)> = sqlx::query_as(
        "SELECT account_id, flagged, cluster_id FROM audit_scores WHERE audit_id = $1 AND account_id IN ('farm03', 'farm04', 'farm05') ORDER BY account_id",
    )
    .bind(outcome.audit_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(flagged.iter().map(|f| f.1).collect::<Vec<_>>(), [false, false, true]);
    assert!(flagged.iter().all(|f| f.2.is_some()), "allowlisted members stay in their cluster");

    // Bad entries are refused with the field; removing an entry is on record too.
    for (account, reason, expires) in [
        ("", "x", None),
        ("farm06", "  ", None),
        ("farm06", "late", Some(time::OffsetDateTime::now_utc() - time::Duration::hours(1))),
    ] {
        assert!(matches!(app.allow_account(account, reason, expires, &admin).await, Err(AppError::Invalid(_))));
    }
    app.disallow_account("farm04", &admin).await.unwrap();
    assert!(matches!(app.disallow_account("farm04", &admin).await, Err(AppError::NotFound(_))));
    let log = app.audit_log(None, Some("account:farm04"), 10).await.unwrap();
    assert_eq!(log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["allowlist.add", "allowlist.remove"]);
    assert_eq!(log[1].before.as_ref().unwrap()["reason"], "evaluation partner");
    assert!(log[1].after.is_none());
}

/// Analysts' decisions come back as labels: an account's own decision wins
/// over its cluster's, and a cluster's decision labels every member.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn decisions_become_labels_for_refitting(pool: PgPool) {
    let app = App::new(pool.clone(), AppConfig::default());
    seed(&app).await;
    audit(&app, false).await;
    let flags = app.list_flags(None, 100).await.unwrap();
    let of = |subject: &str| flags.iter().find(|f| f.subject_id == subject).unwrap().id;
    let cluster = flags.iter().find(|f| f.subject_kind.as_str() == "cluster").unwrap();
    app.change_flag(of("farm03"), &to(FlagStatus::Confirmed, None), &analyst()).await.unwrap();
    app.change_flag(of("farm05"), &to(FlagStatus::Dismissed, Some("test account")), &analyst()).await.unwrap();
    app.change_flag(cluster.id, &to(FlagStatus::Dismissed, None), &analyst()).await.unwrap();
    // Dashboards count flags by status and level.
    let counts = app.flag_counts().await.unwrap();
    let of_status = |status: &str| counts.iter().filter(|c| c.0.as_str() == status).map(|c| c.2).sum::<i64>();
    assert_eq!((of_status("confirmed"), of_status("dismissed"), of_status("open")), (1, 2, 28));
    let labels = app.decision_labels().await.unwrap();
    assert_eq!(labels.len(), 30, "the cluster's thirty members, two of them by their own decision");
    let find = |account: &str| labels.iter().find(|l| l.account_id == account).unwrap();
    assert_eq!((find("farm03").extraction, find("farm03").kind.as_str()), (true, "analyst_confirmed"));
    assert_eq!((find("farm05").extraction, find("farm05").campaign.as_deref()), (false, None));
    let member = find("farm07");
    assert_eq!(
        (member.kind.as_str(), member.campaign.as_deref()),
        ("analyst_dismissed_cluster", Some(cluster.subject_id.as_str()))
    );
    assert!(labels.iter().all(|l| l.account_id != "person"));
}
