//! The analyst console used as a person would, in a real headless Chromium
//! driven through WebDriver (Debian's `chromium` and `chromium-driver`,
//! installed by `scripts/bootstrap.sh`), against the real service: sign in
//! (an ingest key cannot), filter the queue, open a case, escalate it with a
//! note and find that in the audit log; a dismissed flag stays dismissed
//! after the next audit; a forged form without the CSRF token is refused;
//! prompts carrying `<script>`, `<img onerror>` and a `javascript:` link are
//! shown as text and run nothing; the case file printed through WebDriver
//! gives a PDF that holds its summary. Screenshots of the queue, a case, a
//! cluster and an account are saved under `target/browser-screenshots/`.

mod common;
#[path = "browser/webdriver.rs"]
mod webdriver;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Service, TestDb, command, create_key};
use serde_json::{Value, json};
use webdriver::Browser;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo().join("target"), PathBuf::from);
    let dir = target.join("browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What a prompt carries to try to run in an analyst's browser.
const SCRIPT: &str = "<script>document.title='pwned'</script>";
const IMG: &str = "<img src=x onerror=\"document.title='pwned'\">";
const LINK: &str = "<a href=\"javascript:document.title='pwned'\">open me</a>";

/// Thirty light accounts of one farm (one /24, one client), prompts and
/// answers carrying markup, five days.
fn farm() -> String {
    let mut out = String::new();
    for a in 0..30 {
        for i in 0..125 {
            let (day, minute) = (2 + i / 25, (i % 25) * 10);
            let event = json!({"event_id": format!("farm{a:02}-{i}"), "account_id": format!("farm{a:02}"),
                "timestamp": format!("2026-11-{day:02}T{:02}:{:02}:00Z", minute / 60, minute % 60),
                "model": "m",
                "request": {"prompt": format!("Write task number {i} about something different each time please. {SCRIPT} {IMG} {LINK}"),
                            "max_tokens": 4096},
                "response": {"content": format!("Answer {i}. {SCRIPT}"), "finish_reason": "stop"},
                "client": {"ip": format!("203.0.113.{}", a + 1), "user_agent": "OpenAI/Python 1.50.0"}});
            out.push_str(&event.to_string());
            out.push('\n');
        }
    }
    out
}

async fn audit(client: &reqwest::Client, service: &Service, analyst: &str) {
    let queued: Value = client
        .post(service.url("/v1/audits"))
        .bearer_auth(analyst)
        .json(&json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-08T00:00:00Z"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = queued["id"].as_i64().unwrap_or_else(|| panic!("an audit: {queued}"));
    common::wait_for_audit(client, service, analyst, id, Duration::from_secs(180)).await;
}

/// The page runs nothing the traffic wrote: no title changed, no alert,
/// no image or `javascript:` link made from it, the markup shown as text.
async fn ran_nothing(browser: &Browser) {
    assert_ne!(browser.title().await, "pwned");
    assert_eq!(browser.alert().await, None);
    let made = browser
        .script(
            "return [document.querySelectorAll('main img').length,
                     [...document.querySelectorAll('a')].filter(a => a.getAttribute('href').trim().toLowerCase().startsWith('javascript:')).length,
                     document.querySelectorAll('main script').length]",
        )
        .await;
    assert_eq!(made, json!([0, 0, 0]), "elements made from the traffic's markup");
}

async fn sign_in(browser: &Browser, service: &Service, key: &str) {
    browser.go(&service.url("/sign-in")).await;
    browser.find("#key").await.type_text(key).await;
    let button = browser.find("#sign-in").await;
    browser.navigating(button.click()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_an_analyst_works_the_queue_and_a_case_in_chromium() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let (ingest, analyst, admin) = (
        create_key(Some(&db.url), dir.path(), "ingest"),
        create_key(Some(&db.url), dir.path(), "analyst"),
        create_key(Some(&db.url), dir.path(), "admin"),
    );
    let mut cmd = command(Some(&db.url), dir.path());
    cmd.env("DISTILLWATCH__AUDIT__POLL_SECONDS", "1");
    let service = Service::start(cmd);
    let client = dw_app::http_client();
    let sent = client
        .post(service.url("/v1/events"))
        .bearer_auth(&ingest)
        .header("content-type", "application/x-ndjson")
        .body(farm())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200, "{}", sent.text().await.unwrap());
    audit(&client, &service, &analyst).await;

    let browser = Browser::start().await;
    let shots = screenshots();

    // An ingest key cannot sign in; an analyst's can.
    sign_in(&browser, &service, &ingest).await;
    assert!(browser.url().await.ends_with("/sign-in"));
    let refusal = browser.find("#error").await.text().await;
    assert!(refusal.contains("cannot sign in"), "{refusal}");
    sign_in(&browser, &service, &analyst).await;
    assert_eq!(browser.url().await, service.url("/"));

    // The queue, filtered to accounts.
    browser.find("#f-kind option[value=account]").await.click().await;
    let apply = browser.find("#apply").await;
    browser.navigating(apply.click()).await;
    assert!(browser.url().await.contains("kind=account"), "{}", browser.url().await);
    let rows = browser.find_all("#queue tr.flag").await;
    assert!(rows.len() >= 2, "account flags listed: {}", rows.len());
    for row in &rows {
        assert!(row.text().await.contains(" account "), "{}", row.text().await);
    }
    browser.screenshot(&shots.join("queue.png")).await;
    let links = browser.find_all("#queue a.case-link").await;
    let first = links[0].attribute("href").await.unwrap();
    let second = links[1].attribute("href").await.unwrap();

    // A case: read it, the traffic's markup shown as text; escalate it with a note.
    browser.navigating(links[0].click()).await;
    assert!(browser.url().await.ends_with(&first), "{}", browser.url().await);
    ran_nothing(&browser).await;
    let shown = browser.script("return document.querySelector('.case').innerText").await;
    assert!(shown.as_str().unwrap().contains("<script>document.title='pwned'</script>"), "shown as text");
    assert!(shown.as_str().unwrap().contains("Summary"));
    browser.screenshot(&shots.join("case.png")).await;
    browser.find("#note").await.type_text("One client, one /24, thirty light accounts: escalating to legal.").await;
    let escalate = browser.find("#to-escalated").await;
    browser.navigating(escalate.click()).await;
    assert_eq!(browser.find("#status").await.text().await, "escalated");
    assert!(browser.find(".case").await.text().await.contains("escalating to legal"));

    // A forged form, without the session's CSRF token, is refused and changes nothing.
    let forged = format!(
        "const f = document.createElement('form'); f.method = 'post'; f.action = '{first}';
         const s = document.createElement('input'); s.name = 'status'; s.value = 'confirmed'; f.appendChild(s);
         document.body.appendChild(f); f.submit(); return true;"
    );
    browser
        .navigating(async {
            browser.script(&forged).await;
        })
        .await;
    assert!(browser.find("#error").await.text().await.contains("CSRF"));
    browser.go(&service.url(&first)).await;
    assert_eq!(browser.find("#status").await.text().await, "escalated");

    // Another case dismissed with a note stays dismissed after the next audit.
    browser.go(&service.url(&second)).await;
    browser.find("#note").await.type_text("A known batch customer; reviewed.").await;
    let dismiss = browser.find("#to-dismissed").await;
    browser.navigating(dismiss.click()).await;
    assert_eq!(browser.find("#status").await.text().await, "dismissed");
    audit(&client, &service, &analyst).await;
    browser.go(&service.url(&second)).await;
    assert_eq!(browser.find("#status").await.text().await, "dismissed", "the next audit left it dismissed");

    // The cluster: its case, then its page.
    browser.go(&service.url("/?status=open&kind=cluster")).await;
    let case = browser.find("#queue a.case-link").await;
    browser.navigating(case.click()).await;
    ran_nothing(&browser).await;
    let subject = browser.find("h1 a").await;
    browser.navigating(subject.click()).await;
    assert!(browser.url().await.contains("/clusters/"), "{}", browser.url().await);
    assert_eq!(browser.find_all("svg circle").await.len(), 30);
    browser.screenshot(&shots.join("cluster.png")).await;

    // An account, its events shown as text.
    let member = browser.find("#members a").await;
    browser.navigating(member.click()).await;
    assert!(browser.url().await.contains("/accounts/farm"), "{}", browser.url().await);
    ran_nothing(&browser).await;
    browser.screenshot(&shots.join("account.png")).await;

    // The case file, printed to PDF by the browser, holds its summary.
    browser.go(&service.url(&format!("{first}/case-file"))).await;
    ran_nothing(&browser).await;
    let pdf = browser.print_pdf().await;
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    let pdf_path = shots.join("case-file.pdf");
    std::fs::write(&pdf_path, &pdf).unwrap();
    let text = std::process::Command::new("pdftotext")
        .arg(&pdf_path)
        .arg("-")
        .output()
        .expect("pdftotext (Debian's poppler-utils, installed by scripts/bootstrap.sh)");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Summary") && text.contains("The strongest evidence"), "{text}");

    // Signed out, then the admin finds the escalation in the audit log, by name.
    browser.go(&service.url("/")).await;
    let sign_out = browser.find("header form button").await;
    browser.navigating(sign_out.click()).await;
    assert!(browser.url().await.ends_with("/sign-in"));
    browser.go(&service.url("/")).await;
    assert!(browser.url().await.ends_with("/sign-in"), "signed out means signed out");
    sign_in(&browser, &service, &admin).await;
    browser.go(&service.url("/audit-log")).await;
    let log = browser.find("#audit-log").await.text().await;
    let escalation = log
        .lines()
        .find(|line| line.contains("flag.update") && line.contains("escalated"))
        .unwrap_or_else(|| panic!("the escalation is on record: {log}"));
    assert!(escalation.contains("test analyst") && escalation.contains("escalating to legal"), "{escalation}");

    drop(browser);
    let (status, _) = service.stop();
    assert!(status.success());
    db.drop_db().await;
}
