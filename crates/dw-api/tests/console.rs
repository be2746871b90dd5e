//! The analyst console over a real database, one request at a time: sign-in
//! and its refusals, the session cookie and its ends, CSRF and cross-site
//! refusals, the queue, a case worked through the workflow (the API's
//! transitions and 409s), escaping of what the traffic wrote, and the audit log.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use dw_api::{ApiConfig, ApiState, ConsoleConfig};
use dw_app::{App, AppConfig, SessionPolicy};
use dw_domain::Role;
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;

struct Console {
    router: Router,
    app: App,
    ingest: String,
    analyst: String,
    admin: String,
}

async fn console_with(pool: PgPool, console: ConsoleConfig) -> Console {
    let app = App::new(pool, AppConfig::default());
    let actor = dw_app::Actor { name: "cli:test".into(), role: "admin".into() };
    let mut keys = Vec::new();
    for (role, name) in [(Role::Ingest, "collector"), (Role::Analyst, "alice"), (Role::Admin, "root")] {
        keys.push(app.create_key(name, role, &actor).await.unwrap().secret.expose_secret().to_owned());
    }
    let config = ApiConfig { timestamps: None, console, ..ApiConfig::default() };
    let router = dw_api::router(ApiState::new(app.clone(), config));
    let admin = keys.pop().unwrap();
    let analyst = keys.pop().unwrap();
    let ingest = keys.pop().unwrap();
    Console { router, app, ingest, analyst, admin }
}

async fn console(pool: PgPool) -> Console {
    console_with(pool, ConsoleConfig::default()).await
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, String::from_utf8_lossy(&body).into_owned())
}

fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc: String = v
                .bytes()
                .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
                .collect();
            format!("{k}={enc}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn page(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut r = Request::builder().uri(path);
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, format!("dw_session={c}"));
    }
    r.body(Body::empty()).unwrap()
}

fn post_form(path: &str, cookie: Option<&str>, pairs: &[(&str, &str)]) -> Request<Body> {
    let mut r = Request::builder()
        .method("POST")
        .uri(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, "console.test")
        .header(header::ORIGIN, "http://console.test")
        .header("sec-fetch-site", "same-origin");
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, format!("dw_session={c}"));
    }
    r.body(Body::from(form_body(pairs))).unwrap()
}

/// Signs in with `key`: the session token from the cookie set.
async fn sign_in(router: &Router, key: &str) -> String {
    let (status, headers, body) = send(router, post_form("/sign-in", None, &[("key", key)])).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let cookie = headers.get(header::SET_COOKIE).expect("a session cookie").to_str().unwrap().to_owned();
    let token = cookie.split(';').next().unwrap().strip_prefix("dw_session=").unwrap().to_owned();
    assert!(token.starts_with("dws_"));
    token
}

/// The CSRF token a page's forms carry.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

const SCRIPT: &str = "<script>alert('xss')</script>";
const IMG: &str = "<img src=x onerror=alert(2)>";
const LINK: &str = "<a href=\"javascript:alert(3)\">click</a>";

/// Thirty accounts scripted from one /24 with one client, whose prompts
/// carry markup, audited: their flags and their cluster's.
async fn farm_flags(c: &Console) {
    let lines: Vec<String> = (0..30)
        .flat_map(|a| {
            (0..125).map(move |i| {
                let (day, minute) = (2 + i / 25, (i % 25) * 10);
                json!({"event_id": format!("farm{a:02}-{i}"), "account_id": format!("farm{a:02}"),
                       "timestamp": format!("2026-11-{day:02}T{:02}:{:02}:00Z", minute / 60, minute % 60),
                       "model": "m",
                       "request": {"prompt": format!("Write task number {i} about something different each time please. {SCRIPT} {IMG} {LINK}"),
                                   "max_tokens": 4096},
                       "response": {"content": format!("Answer {i} {SCRIPT}"), "finish_reason": "stop"},
                       "client": {"ip": format!("203.0.113.{}", a + 1), "user_agent": "OpenAI/Python 1.50.0"}})
                .to_string()
            })
        })
        .collect();
    for chunk in lines.chunks(500) {
        let request = Request::builder()
            .method("POST")
            .uri("/v1/events")
            .header(header::AUTHORIZATION, format!("Bearer {}", c.ingest))
            .header(header::CONTENT_TYPE, "application/x-ndjson")
            .body(Body::from(chunk.join("\n")))
            .unwrap();
        let (status, _, body) = send(&c.router, request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let spec = dw_app::AuditSpec {
        from: time::macros::datetime!(2026-11-01 0:00 UTC),
        to: time::macros::datetime!(2026-11-08 0:00 UTC),
        accounts: None,
        model: None,
        dry_run: false,
        requested_by: "test".into(),
    };
    let id = c.app.queue_audit(&spec).await.unwrap();
    assert!(c.app.run_audit("test", Some(id)).await.unwrap().unwrap().summary.opened > 1);
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn only_analyst_and_admin_keys_sign_in_and_the_cookie_is_locked_down(pool: PgPool) {
    let c = console(pool).await;
    let (status, headers, body) = send(&c.router, post_form("/sign-in", None, &[("key", &c.ingest)])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(headers.get(header::SET_COOKIE).is_none());
    assert!(body.contains("cannot sign in"), "{body}");
    let (status, headers, _) = send(&c.router, post_form("/sign-in", None, &[("key", "dw_0123")])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.get(header::SET_COOKIE).is_none());
    let (status, _, body) = send(&c.router, post_form("/sign-in", None, &[("nothing", "")])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("key"), "the missing field is named: {body}");

    let (status, headers, _) = send(&c.router, post_form("/sign-in", None, &[("key", &c.analyst)])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert!(!cookie.contains(&c.analyst), "the key never travels back");

    // Under HTTPS the cookie is Secure.
    let secure = ConsoleConfig { secure_cookies: true, ..ConsoleConfig::default() };
    let router = dw_api::router(ApiState::new(c.app.clone(), ApiConfig { console: secure, ..ApiConfig::default() }));
    let (_, headers, _) = send(&router, post_form("/sign-in", None, &[("key", &c.admin)])).await;
    assert!(headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().contains("; Secure"));

    // A sign-in posted from another site is refused before the key is looked at.
    let mut forged = post_form("/sign-in", None, &[("key", &c.analyst)]);
    forged.headers_mut().insert("sec-fetch-site", "cross-site".parse().unwrap());
    assert_eq!(send(&c.router, forged).await.0, StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn sessions_end_at_sign_out_revocation_and_idle_expiry(pool: PgPool) {
    let c = console(pool.clone()).await;
    let (status, headers, _) = send(&c.router, page("/", None)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers.get(header::LOCATION).unwrap(), "/sign-in");
    assert_eq!(send(&c.router, page("/", Some("dws_forged"))).await.0, StatusCode::SEE_OTHER);

    let token = sign_in(&c.router, &c.analyst).await;
    let (status, headers, html) = send(&c.router, page("/", Some(&token))).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let csp = headers.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "no script source at all: {csp}");
    assert!(!html.contains("<script"), "no script on any page");

    // Sign-out needs the CSRF token, then ends the session.
    let (status, _, _) = send(&c.router, post_form("/sign-out", Some(&token), &[("csrf", "nope")])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(send(&c.router, page("/", Some(&token))).await.0, StatusCode::OK);
    let (status, headers, _) =
        send(&c.router, post_form("/sign-out", Some(&token), &[("csrf", &csrf_of(&html))])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(send(&c.router, page("/", Some(&token))).await.0, StatusCode::SEE_OTHER);

    // Revoking the key ends its sessions.
    let token = sign_in(&c.router, &c.analyst).await;
    assert_eq!(send(&c.router, page("/", Some(&token))).await.0, StatusCode::OK);
    let prefix = &c.analyst[..11];
    c.app.revoke_key(prefix, &dw_app::Actor { name: "cli:test".into(), role: "admin".into() }).await.unwrap();
    assert_eq!(send(&c.router, page("/", Some(&token))).await.0, StatusCode::SEE_OTHER);

    // An idle session ends; one in use does not.
    let short = ConsoleConfig {
        sessions: SessionPolicy { idle: Duration::from_secs(1), lifetime: Duration::from_secs(3600) },
        ..ConsoleConfig::default()
    };
    let c = console_with(pool, short).await;
    let token = sign_in(&c.router, &c.admin).await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(send(&c.router, page("/", Some(&token))).await.0, StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(send(&c.router, page("/", Some(&token))).await.0, StatusCode::SEE_OTHER);
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn sign_in_attempts_are_limited(pool: PgPool) {
    let limited = ConsoleConfig { sign_in_per_minute: 3, ..ConsoleConfig::default() };
    let c = console_with(pool, limited).await;
    for _ in 0..3 {
        assert_eq!(
            send(&c.router, post_form("/sign-in", None, &[("key", "dw_guess")])).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, headers, _) = send(&c.router, post_form("/sign-in", None, &[("key", &c.analyst)])).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "even the right key waits");
    assert!(headers.get(header::RETRY_AFTER).is_some());
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn a_case_is_worked_through_the_console_as_through_the_api(pool: PgPool) {
    let c = console(pool).await;
    farm_flags(&c).await;
    let token = sign_in(&c.router, &c.analyst).await;

    // The queue: open flags, riskiest first; filters narrow it.
    let (status, _, queue) = send(&c.router, page("/", Some(&token))).await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    assert!(queue.contains("class=\"flag\""), "{queue}");
    let (_, _, clusters) = send(&c.router, page("/?status=open&kind=cluster", Some(&token))).await;
    assert_eq!(clusters.matches("class=\"flag\"").count(), 1, "{clusters}");
    let (status, _, bad) = send(&c.router, page("/?status=sideways", Some(&token))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("status"), "{bad}");
    let (_, _, first) = send(&c.router, page("/?kind=account", Some(&token))).await;
    let at = first.find("href=\"/flags/").unwrap() + 13;
    let id: i64 = first[at..].split('"').next().unwrap().parse().unwrap();

    // The case: summary first, escaped traffic, the workflow's buttons.
    let (status, headers, case) = send(&c.router, page(&format!("/flags/{id}"), Some(&token))).await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert!(headers.get(header::CONTENT_SECURITY_POLICY).is_some());
    assert!(case.find("<h2>Summary</h2>").unwrap() < case.find("<h2>Findings").unwrap_or(usize::MAX));
    for raw in [SCRIPT, IMG, LINK, "javascript:alert(3)\""] {
        assert!(!case.contains(raw), "{raw} reached the page as markup");
    }
    assert!(case.contains("&lt;script&gt;") || case.contains("&#60;script&#62;"), "the prompts are shown, as text");
    for button in ["to-escalated", "to-confirmed", "to-dismissed"] {
        assert!(case.contains(button), "{button}");
    }
    let csrf = csrf_of(&case);

    // A forged change: no token, a wrong token, or posted from another site.
    let path = format!("/flags/{id}");
    let escalate = [("status", "escalated"), ("note", "forged")];
    assert_eq!(send(&c.router, post_form(&path, Some(&token), &escalate)).await.0, StatusCode::FORBIDDEN);
    let zeros = "0".repeat(64);
    let wrong = [("csrf", zeros.as_str()), ("status", "escalated")];
    assert_eq!(send(&c.router, post_form(&path, Some(&token), &wrong)).await.0, StatusCode::FORBIDDEN);
    let mut cross = post_form(&path, Some(&token), &[("csrf", &csrf), ("status", "escalated")]);
    cross.headers_mut().insert("sec-fetch-site", "cross-site".parse().unwrap());
    assert_eq!(send(&c.router, cross).await.0, StatusCode::FORBIDDEN);
    let mut elsewhere = post_form(&path, Some(&token), &[("csrf", &csrf), ("status", "escalated")]);
    elsewhere.headers_mut().remove("sec-fetch-site");
    elsewhere.headers_mut().insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    assert_eq!(send(&c.router, elsewhere).await.0, StatusCode::FORBIDDEN);
    let flag = c.app.read_flag(id, &dw_app::Actor { name: "t".into(), role: "admin".into() }).await.unwrap().unwrap().0;
    assert_eq!(flag.status, dw_app::FlagStatus::Open, "nothing forged took effect");

    // Escalate with a note, take it, then a move the workflow forbids: 409.
    let note = "Escalating: one client, one /24, thirty accounts <b>bold</b>";
    let (status, headers, body) =
        send(&c.router, post_form(&path, Some(&token), &[("csrf", &csrf), ("status", "escalated"), ("note", note)]))
            .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers.get(header::LOCATION).unwrap(), path.as_str());
    let (status, _, _) = send(&c.router, post_form(&path, Some(&token), &[("csrf", &csrf), ("assign", "me")])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, body) =
        send(&c.router, post_form(&path, Some(&token), &[("csrf", &csrf), ("status", "escalated")])).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("confirmed") && body.contains("dismissed"), "the allowed moves are named: {body}");
    let (status, _, body) = send(&c.router, post_form(&path, Some(&token), &[("csrf", &csrf)])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, _, case) = send(&c.router, page(&path, Some(&token))).await;
    assert!(case.contains("id=\"status\">escalated<"), "{case}");
    assert!(case.contains("&lt;b&gt;bold&lt;/b&gt;") || case.contains("&#60;b&#62;bold"), "the note is text");
    assert!(!case.contains("<b>bold</b>"));
    let (_, _, mine) = send(&c.router, page("/?status=escalated&assignee=me", Some(&token))).await;
    assert_eq!(mine.matches("class=\"flag\"").count(), 1, "{mine}");

    // The API sees the same flag; its audit log the analyst's change, by name.
    let api = Request::builder()
        .uri("/v1/audit-log?limit=500")
        .header(header::AUTHORIZATION, format!("Bearer {}", c.admin))
        .body(Body::empty())
        .unwrap();
    let (_, _, log) = send(&c.router, api).await;
    let log: Value = serde_json::from_str(&log).unwrap();
    let entries = log["entries"].as_array().unwrap();
    let change = entries
        .iter()
        .find(|e| e["action"] == "flag.update" && e["target"] == format!("flag:{id}"))
        .expect("the escalation is on record");
    assert!(change["actor"].as_str().unwrap().ends_with(" alice"), "{change}");
    assert!(entries.iter().any(|e| e["action"] == "session.sign_in"));

    // The audit log page is for admins; analysts are refused.
    assert_eq!(send(&c.router, page("/audit-log", Some(&token))).await.0, StatusCode::FORBIDDEN);
    let admin = sign_in(&c.router, &c.admin).await;
    let (status, _, log) = send(&c.router, page("/audit-log", Some(&admin))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(log.contains("flag.update") && log.contains("alice"), "{log}");

    // The printable case file carries its own policy and no script.
    let (status, headers, file) = send(&c.router, page(&format!("/flags/{id}/case-file"), Some(&token))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap().contains("style-src 'sha256-"));
    assert!(file.contains("<h2>Summary</h2>") && !file.contains(SCRIPT));

    // The account and its cluster.
    let (status, _, account) = send(&c.router, page("/accounts/farm00", Some(&token))).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert!(account.contains("<svg") && account.contains("farm00-0"), "{account}");
    let contributions: Vec<f64> =
        account.split("<td class=\"n\">+").skip(1).filter_map(|cell| cell.split('<').next()?.parse().ok()).collect();
    assert!(contributions.len() >= 2 && contributions.is_sorted_by(|a, b| a >= b), "largest first: {contributions:?}");
    assert!(!account.contains(SCRIPT));
    let at = account.find("href=\"/clusters/").expect("a link to its cluster") + 16;
    let cluster = account[at..].split('"').next().unwrap().to_owned();
    let (status, _, page_html) = send(&c.router, page(&format!("/clusters/{cluster}"), Some(&token))).await;
    assert_eq!(status, StatusCode::OK, "{page_html}");
    assert_eq!(page_html.matches("<circle").count(), 30, "one node per member");
    let edges = &page_html[page_html.find("id=\"edges\"").expect("the edges that join them")..];
    assert!(edges.contains("203.0.113.0/24") && edges.contains("one operator"), "{edges}");
    assert!(page_html.matches("<line").count() >= 30, "every member joined by an edge");
    assert!(page_html.contains("(3,750 in all)"), "the members' combined activity: {page_html}");
    assert_eq!(send(&c.router, page("/accounts/nobody", Some(&token))).await.0, StatusCode::NOT_FOUND);
    assert_eq!(send(&c.router, page("/flags/abc", Some(&token))).await.0, StatusCode::NOT_FOUND);
    assert_eq!(send(&c.router, page("/flags/999999", Some(&token))).await.0, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn audits_are_queued_and_followed_from_the_console(pool: PgPool) {
    let c = console(pool).await;
    farm_flags(&c).await;
    let token = sign_in(&c.router, &c.analyst).await;
    let (status, _, list) = send(&c.router, page("/audits", Some(&token))).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(list.contains("href=\"/audits/1\""), "the audit run above is listed: {list}");
    let csrf = csrf_of(&list);

    // Bad windows are refused, naming the field; nothing is queued.
    let (status, _, body) = send(
        &c.router,
        post_form("/audits", Some(&token), &[("csrf", &csrf), ("from", "2026-11-40"), ("to", "2026-11-08")]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("from"), "{body}");
    let (status, _, _) = send(
        &c.router,
        post_form("/audits", Some(&token), &[("csrf", &csrf), ("from", "2026-11-08"), ("to", "2026-11-01")]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) =
        send(&c.router, post_form("/audits", Some(&token), &[("from", "2026-11-01"), ("to", "2026-11-08")])).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token, no audit");
    assert_eq!(c.app.recent_audits(None, 10).await.unwrap().len(), 1);

    // Queued from the form, followed while it waits, read once it is done.
    let fields = [
        ("csrf", csrf.as_str()),
        ("from", "2026-11-01"),
        ("to", "2026-11-08"),
        ("accounts", "farm00, farm01"),
        ("dry_run", "true"),
    ];
    let (status, headers, _) = send(&c.router, post_form("/audits", Some(&token), &fields)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = headers.get(header::LOCATION).unwrap().to_str().unwrap().to_owned();
    let (_, _, waiting) = send(&c.router, page(&location, Some(&token))).await;
    assert!(waiting.contains("id=\"state\">queued<") && waiting.contains("http-equiv=\"refresh\""), "{waiting}");
    assert!(waiting.contains("2 named accounts") && waiting.contains("dry run"), "{waiting}");
    let queued = &c.app.recent_audits(None, 1).await.unwrap()[0];
    assert!(queued.spec.requested_by.starts_with("console:dw_"), "{}", queued.spec.requested_by);
    assert_eq!(queued.spec.accounts.as_deref(), Some(&["farm00".to_owned(), "farm01".to_owned()][..]));
    c.app.run_audit("test", Some(queued.id)).await.unwrap();
    let (_, _, done) = send(&c.router, page(&location, Some(&token))).await;
    assert!(done.contains("id=\"state\">done<") && !done.contains("http-equiv=\"refresh\""), "{done}");
    assert!(done.contains("<th>accounts</th><td class=\"n\">2</td>"), "{done}");

    // An account's scores across audits.
    let (_, _, account) = send(&c.router, page("/accounts/farm00", Some(&token))).await;
    let scores = &account[account.find("id=\"scores\"").expect("its scores across audits")..];
    assert_eq!(scores[..scores.find("</table>").unwrap()].matches("href=\"/audits/").count(), 2, "{scores}");
    assert_eq!(send(&c.router, page("/audits/999", Some(&token))).await.0, StatusCode::NOT_FOUND);
}

fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----distillwatch-test-boundary";
    let mut body = Vec::new();
    for (name, filename, content) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn post_multipart(path: &str, cookie: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Request<Body> {
    let (content_type, body) = multipart(parts);
    Request::builder()
        .method("POST")
        .uri(path)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::COOKIE, format!("dw_session={cookie}"))
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(body))
        .unwrap()
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn reference_sets_are_made_filled_and_asked_from_the_console(pool: PgPool) {
    let c = console(pool).await;
    farm_flags(&c).await;
    let token = sign_in(&c.router, &c.analyst).await;
    let (status, _, sets) = send(&c.router, page("/reference-sets", Some(&token))).await;
    assert_eq!(status, StatusCode::OK, "{sets}");
    let csrf = csrf_of(&sets);

    // Sets made from the form; a bad or taken name is refused, named.
    let (status, _, body) =
        send(&c.router, post_form("/reference-sets", Some(&token), &[("csrf", &csrf), ("name", "../bad name")])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("name"), "{body}");
    let mut ids = Vec::new();
    for (name, control) in [("suspect-1", false), ("control-a", true), ("control-b", true)] {
        let mut fields = vec![("csrf", csrf.as_str()), ("name", name), ("description", "<i>a model</i>")];
        if control {
            fields.push(("control", "true"));
        }
        let (status, headers, body) = send(&c.router, post_form("/reference-sets", Some(&token), &fields)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        let location = headers.get(header::LOCATION).unwrap().to_str().unwrap().to_owned();
        ids.push(location.rsplit('/').next().unwrap().parse::<i64>().unwrap());
    }
    let (status, _, _) =
        send(&c.router, post_form("/reference-sets", Some(&token), &[("csrf", &csrf), ("name", "suspect-1")])).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let suspect = format!("/reference-sets/{}", ids[0]);

    // An upload: the good lines stored, the bad one named by line and field.
    let file = b"{\"prompt\": \"Write task number 3 about something different each time please.\", \"output\": \"Answer 3.\"}\n\
{\"output\": \"<script>alert(1)</script> an answer\"}\n{\"prompt\": \"no output\"}\n";
    let upload = format!("{suspect}/items");
    let (status, _, _) = send(&c.router, post_multipart(&upload, &token, &[("items", Some("s.jsonl"), file)])).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token first, nothing read");
    let (status, _, body) = send(
        &c.router,
        post_multipart(&upload, &token, &[("csrf", None, csrf.as_bytes()), ("items", Some("s.jsonl"), file)]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("2 items stored") && body.contains("1 refused"), "{body}");
    assert!(body.contains("line 3, output"), "the refused line is named: {body}");
    assert!(!body.contains("<i>a model</i>") && !body.contains("<script>alert(1)"), "texts are escaped");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"{\"output\": \"another answer\"}\n").unwrap();
    let (status, _, body) = send(
        &c.router,
        post_multipart(
            &upload,
            &token,
            &[("csrf", None, csrf.as_bytes()), ("items", Some("s.jsonl.gz"), &gz.finish().unwrap())],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("1 items stored"), "gzip is read: {body}");

    // Asking: a test with the wrong number of controls is refused; attribution runs and reads.
    let runs = format!("{suspect}/runs");
    let control = ids[1].to_string();
    let (status, _, body) = send(
        &c.router,
        post_form(&runs, Some(&token), &[("csrf", &csrf), ("kind", "panel_test"), ("control", &control)]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("three control sets"), "{body}");
    let other = ids[2].to_string();
    let (status, _, _) = send(
        &c.router,
        post_form(
            &runs,
            Some(&token),
            &[("csrf", &csrf), ("kind", "distillation_test"), ("control", &control), ("control", &other)],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, headers, _) =
        send(&c.router, post_form(&runs, Some(&token), &[("csrf", &csrf), ("kind", "attribution")])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let run = headers.get(header::LOCATION).unwrap().to_str().unwrap().to_owned();
    let (_, _, waiting) = send(&c.router, page(&run, Some(&token))).await;
    assert!(waiting.contains("id=\"state\">queued<") && waiting.contains("http-equiv=\"refresh\""), "{waiting}");
    c.app.run_reference_job("test", None).await.unwrap().expect("a run");
    let (_, _, done) = send(&c.router, page(&run, Some(&token))).await;
    assert!(done.contains("id=\"state\">done<") && done.contains("id=\"report\""), "{done}");
    assert!(!done.contains("<script>alert(1)"), "the report's texts are escaped");
    let (_, _, set) = send(&c.router, page(&suspect, Some(&token))).await;
    assert!(set.contains(&format!("href=\"{run}\"")), "the set lists its runs: {set}");
    assert_eq!(send(&c.router, page("/reference-sets/999", Some(&token))).await.0, StatusCode::NOT_FOUND);
    assert_eq!(send(&c.router, page("/reference-jobs/x", Some(&token))).await.0, StatusCode::NOT_FOUND);
}
