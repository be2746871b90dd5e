//! The console's pages: sign-in and sign-out, the flag queue, a case with
//! its workflow actions and its printable case file, an account, a cluster,
//! and the audit log. Each reads and changes through the same use cases as
//! the API, so transitions, 409s and the audit log are the API's.

use std::net::IpAddr;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use dw_app::{CaseFormat, FlagChange, FlagFilter, SignIn};
use dw_domain::{FlagStatus, SubjectKind};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::view::{self, Nav};
use super::{AdminPage, AnalystPage, COOKIE, PageError, SignedIn};
use crate::ApiState;
use crate::routes::params;

/// Flags on a queue page.
const QUEUE_PAGE: i64 = 50;
/// Events on an account page.
const EVENTS_PAGE: i64 = 50;
/// Entries on an audit-log page.
const LOG_PAGE: i64 = 100;

fn bad(message: impl Into<String>) -> PageError {
    PageError::Status(StatusCode::BAD_REQUEST, message.into())
}

/// A form, or a 400 page that says what was wrong with it.
fn form<T>(parsed: Result<Form<T>, FormRejection>) -> Result<T, PageError> {
    parsed.map(|Form(form)| form).map_err(|e| bad(format!("The form could not be read: {}", e.body_text())))
}

/// The console's stylesheet.
pub(crate) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        include_str!("../../assets/console.css"),
    )
        .into_response()
}

/// `GET /sign-in`.
pub(crate) async fn sign_in_page() -> Response {
    view::render(&view::SignInPage { nav: None, problem: None })
}

/// Where a sign-in comes from: same site, and which client address.
pub(crate) struct SignInAttempt(Option<IpAddr>);

impl FromRequestParts<ApiState> for SignInAttempt {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &ApiState) -> Result<Self, PageError> {
        super::same_site(parts)?;
        Ok(Self(super::client_ip(parts)))
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignInForm {
    key: String,
}

/// `POST /sign-in`: a key for a session.
pub(crate) async fn sign_in(
    State(state): State<ApiState>,
    SignInAttempt(addr): SignInAttempt,
    parsed: Result<Form<SignInForm>, FormRejection>,
) -> Result<Response, PageError> {
    let console = &state.config.console;
    if let Err(wait) = state.sign_ins.attempt(addr, console.sign_in_per_minute) {
        let mut page = view::error_page(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many sign-in attempts from this address: wait {} s and try again.", wait.as_secs().max(1)),
        );
        *page.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        page.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
        return Ok(page);
    }
    let key = form(parsed)?.key;
    let refused = |status: StatusCode, problem: &str| {
        let mut page = view::render(&view::SignInPage { nav: None, problem: Some(problem.to_owned()) });
        *page.status_mut() = status;
        page
    };
    match state.app().sign_in(&SecretString::from(key.trim().to_owned()), console.sessions).await? {
        SignIn::Opened(session) => {
            use secrecy::ExposeSecret as _;
            // The cookie lives as long as the session can (the server ends it sooner when idle).
            let max_age = console.sessions.lifetime.as_secs();
            let secure = if console.secure_cookies { "; Secure" } else { "" };
            let cookie = format!(
                "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
                session.token.expose_secret()
            );
            let mut response = Redirect::to("/").into_response();
            let value = HeaderValue::from_str(&cookie).map_err(|_| bad("the session could not be set"))?;
            response.headers_mut().insert(header::SET_COOKIE, value);
            Ok(response)
        }
        SignIn::UnknownKey => Ok(refused(StatusCode::UNAUTHORIZED, "That key is not valid, or it was revoked.")),
        SignIn::RoleRefused(role) => Ok(refused(
            StatusCode::FORBIDDEN,
            &format!("A key of role {role} cannot sign in to the console: use an analyst or admin key."),
        )),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /sign-out`.
pub(crate) async fn sign_out(
    State(state): State<ApiState>,
    user: SignedIn,
    parsed: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, PageError> {
    user.check_csrf(&form(parsed)?.csrf)?;
    state.app().sign_out(&user.token, &user.key).await?;
    let mut response = Redirect::to("/sign-in").into_response();
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("a plain cookie"));
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct QueueQuery {
    status: Option<String>,
    level: Option<String>,
    kind: Option<String>,
    assignee: Option<String>,
    older_than_hours: Option<String>,
    cursor: Option<String>,
}

const STATUSES: [(&str, &str); 5] = [
    ("open", "open"),
    ("escalated", "escalated"),
    ("confirmed", "confirmed"),
    ("dismissed", "dismissed"),
    ("any", "any status"),
];
const LEVELS: [(&str, &str); 5] =
    [("", "any level"), ("critical", "critical"), ("high", "high"), ("medium", "medium"), ("low", "low")];
const KINDS: [(&str, &str); 3] = [("", "accounts and clusters"), ("account", "accounts"), ("cluster", "clusters")];

/// `GET /`: open flags, riskiest first, filtered and paged.
pub(crate) async fn queue(
    State(state): State<ApiState>,
    AnalystPage(user): AnalystPage,
    query: Result<Query<QueueQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    let Query(q) = query.map_err(|e| bad(format!("The filters could not be read: {}", e.body_text())))?;
    let status_text = q.status.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "open".into());
    let status = match status_text.as_str() {
        "any" => None,
        name => Some(name.parse::<FlagStatus>().map_err(|_| bad(format!("status: {name:?} is not a status")))?),
    };
    let level_text = q.level.clone().unwrap_or_default();
    let level = params::level(Some(level_text.as_str()).filter(|s| !s.is_empty())).map_err(PageError::from)?;
    let kind_text = q.kind.clone().unwrap_or_default();
    let subject_kind = match kind_text.as_str() {
        "" => None,
        kind => {
            Some(kind.parse::<SubjectKind>().map_err(|_| bad(format!("kind: {kind:?} is not account or cluster")))?)
        }
    };
    let assignee_text = q.assignee.clone().unwrap_or_default().trim().to_owned();
    let assignee = match assignee_text.as_str() {
        "" => None,
        "me" => Some(user.key.name.clone()),
        name => Some(name.to_owned()),
    };
    let age_text = q.older_than_hours.clone().unwrap_or_default().trim().to_owned();
    let now = OffsetDateTime::now_utc();
    let opened_before = match age_text.as_str() {
        "" => None,
        h => match h.parse::<f64>() {
            Ok(h) if h.is_finite() && (0.0..=87_600.0).contains(&h) => {
                Some(now - time::Duration::seconds_f64(h * 3600.0))
            }
            _ => return Err(bad(format!("older than: {h:?} is not a number of hours between 0 and 87600"))),
        },
    };
    let after = q.cursor.as_deref().map(params::cursor::<f64, i64>).transpose().map_err(PageError::from)?;
    let filter = FlagFilter {
        status,
        level,
        assignee: assignee.as_deref(),
        subject_kind,
        opened_before,
        after,
        limit: QUEUE_PAGE + 1,
    };
    let mut flags = state.app().find_flags(&filter).await?;
    let more = flags.len() as i64 > QUEUE_PAGE;
    flags.truncate(QUEUE_PAGE as usize);
    let next = flags.last().filter(|_| more).map(|last| {
        let cursor = format!("{}:{}", last.risk, last.id);
        view::query(&[
            ("status", &status_text),
            ("level", &level_text),
            ("kind", &kind_text),
            ("assignee", &assignee_text),
            ("older_than_hours", &age_text),
            ("cursor", &cursor),
        ])
    });
    let shown = match flags.len() {
        0 => "No flags match these filters.".to_owned(),
        n => format!(
            "{} flag{}, riskiest first{}.",
            n,
            if n == 1 { "" } else { "s" },
            if more { " (more on the next page)" } else { "" }
        ),
    };
    let rows = flags
        .iter()
        .map(|f| view::QueueRow {
            id: f.id,
            kind: f.subject_kind.to_string(),
            subject: f.subject_id.clone(),
            status: f.status.to_string(),
            assignee: f.assignee.clone().unwrap_or_else(|| "nobody".into()),
            mine: f.assignee.as_deref() == Some(user.key.name.as_str()),
            risk: view::risk(f.risk),
            level: f.level.to_string(),
            age: view::age(f.opened_at, now),
            reason: view::clip(&f.reason, 240),
        })
        .collect();
    let nav = Nav::of(&user);
    Ok(view::render(&view::QueuePage {
        csrf: nav.csrf.clone(),
        nav: Some(nav),
        statuses: view::choices(&STATUSES, &status_text),
        levels: view::choices(&LEVELS, &level_text),
        kinds: view::choices(&KINDS, &kind_text),
        assignee: assignee_text,
        older_than_hours: age_text,
        shown,
        rows,
        next,
    }))
}

/// A flag id from the path; anything else names no flag.
fn flag_id(id: &str) -> Result<i64, PageError> {
    id.parse().map_err(|_| PageError::Status(StatusCode::NOT_FOUND, format!("There is no flag {id:?}.")))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn action_label(status: FlagStatus) -> &'static str {
    match status {
        FlagStatus::Open => "Reopen",
        FlagStatus::Escalated => "Escalate",
        FlagStatus::Confirmed => "Confirm",
        FlagStatus::Dismissed => "Dismiss",
    }
}

/// `GET /flags/{id}`: the case, summary first, with its actions.
pub(crate) async fn case(
    State(state): State<ApiState>,
    AnalystPage(user): AnalystPage,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = flag_id(&id)?;
    let case = state.app().case_view(id, &user.actor()).await?;
    let flag = &case.flag;
    let status: FlagStatus = text(&flag["status"]).parse().map_err(|_| bad("the flag's status is unknown"))?;
    let kind = text(&flag["kind"]);
    let subject = text(&flag["subject"]);
    let subject_href = if kind == "cluster" {
        format!("/clusters/{}", view::encode(&subject))
    } else {
        format!("/accounts/{}", view::encode(&subject))
    };
    let assignee = flag["assignee"].as_str().map(str::to_owned);
    let opened = OffsetDateTime::parse(&text(&flag["opened_at"]), &time::format_description::well_known::Rfc3339)
        .map(view::when)
        .unwrap_or_default();
    let nav = Nav::of(&user);
    Ok(view::render(&view::CasePage {
        csrf: nav.csrf.clone(),
        id,
        kind,
        subject,
        subject_href,
        status: status.to_string(),
        level: text(&flag["level"]),
        risk: view::risk(flag["risk"].as_f64().unwrap_or(0.0)),
        mine: assignee.as_deref() == Some(user.key.name.as_str()),
        assignee: assignee.unwrap_or_else(|| "nobody".into()),
        opened,
        next_statuses: status
            .next()
            .iter()
            .map(|s| view::Choice { value: s.to_string(), label: action_label(*s).into(), selected: false })
            .collect(),
        sections: case.sections(),
        nav: Some(nav),
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ActForm {
    #[serde(default)]
    csrf: String,
    status: Option<String>,
    note: Option<String>,
    assign: Option<String>,
    back: Option<String>,
}

/// `POST /flags/{id}`: a move along the workflow, a note, or taking the case.
pub(crate) async fn act(
    State(state): State<ApiState>,
    AnalystPage(user): AnalystPage,
    Path(id): Path<String>,
    parsed: Result<Form<ActForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form(parsed)?;
    user.check_csrf(&form.csrf)?;
    let id = flag_id(&id)?;
    let status = match form.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(name) => Some(name.parse::<FlagStatus>().map_err(|_| bad(format!("status: {name:?} is not a status")))?),
    };
    let assignee = match form.assign.as_deref() {
        None | Some("") => None,
        Some("me") => Some(Some(user.key.name.clone())),
        Some("nobody") => Some(None),
        Some(other) => return Err(bad(format!("assign: {other:?} is not me or nobody"))),
    };
    let note = form.note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if status.is_none() && assignee.is_none() && note.is_none() {
        return Err(bad("Nothing to do: write a note, or choose an action."));
    }
    let change = FlagChange { status, assignee, note };
    state.app().change_flag(id, &change, &user.actor()).await?;
    let to = if form.back.as_deref() == Some("queue") { "/".to_owned() } else { format!("/flags/{id}") };
    Ok(Redirect::to(&to).into_response())
}

/// `GET /flags/{id}/case-file`: the case file to read, print or save as PDF.
pub(crate) async fn case_file(
    State(state): State<ApiState>,
    AnalystPage(user): AnalystPage,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = flag_id(&id)?;
    let case = state.app().case_file(id, CaseFormat::Html, &user.actor()).await?;
    let policy = format!("{}; frame-ancestors 'none'", dw_app::case_file_content_security_policy());
    let mut response =
        ([(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], case.render(CaseFormat::Html))
            .into_response();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AccountQuery {
    after: Option<String>,
}

/// An events cursor: the last event's instant (Unix nanoseconds) and id.
fn events_cursor(text: &str) -> Result<(OffsetDateTime, String), PageError> {
    let refused = || bad(format!("after: {text:?} is not a cursor this page gave"));
    let (nanos, id) = text.split_once(':').ok_or_else(refused)?;
    let nanos: i128 = nanos.parse().map_err(|_| refused())?;
    let ts = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| refused())?;
    if id.is_empty() {
        return Err(refused());
    }
    Ok((ts, id.to_owned()))
}

/// `GET /accounts/{id}`: who the account is, its latest score, its activity
/// and its events, paged.
pub(crate) async fn account(
    State(state): State<ApiState>,
    AnalystPage(user): AnalystPage,
    Path(account_id): Path<String>,
    query: Result<Query<AccountQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    let Query(q) = query.map_err(|e| bad(format!("The page's address could not be read: {}", e.body_text())))?;
    let after = q.after.as_deref().map(events_cursor).transpose()?;
    let profile = state.app().account_profile(&account_id, None).await?;
    let seen = &profile.seen;
    let score = profile.score.as_ref().map(|s| view::ScoreView {
        audit: profile.audit_id.unwrap_or_default(),
        risk: view::risk(s.risk),
        level: s.level.to_string(),
        requests: s.requests.map_or_else(|| "an unknown number of".into(), view::count),
        cluster: s.cluster_id.clone(),
        contributions: {
            let mut top: Vec<&dw_domain::Contribution> = s.top_signals.iter().collect();
            top.sort_by(|a, b| b.contribution.total_cmp(&a.contribution).then(a.signal.cmp(&b.signal)));
            top.iter().map(|c| (c.signal.clone(), format!("{:+.3}", c.contribution))).collect()
        },
    });
    let mut flags = Vec::new();
    if let Some(f) = &profile.flag {
        flags.push(("Its flag".to_owned(), f.id, f.status.to_string()));
    }
    if let Some(f) = &profile.cluster_flag {
        flags.push(("Its cluster's flag".to_owned(), f.id, f.status.to_string()));
    }
    let history = state
        .app()
        .account_scores(&account_id, 20)
        .await?
        .into_iter()
        .map(|(audit, end, risk, level, flagged)| {
            (audit, view::when(end), view::risk(risk), level, if flagged { "yes" } else { "no" }.to_owned())
        })
        .collect();
    // The last seven days it was active, hour by hour.
    let to = hour_of(seen.last_seen) + time::Duration::hours(1);
    let from = (to - time::Duration::days(7)).max(hour_of(seen.first_seen));
    let hours = state.app().account_timeline(&account_id, from, to).await?;
    let series = hourly_series(&hours, from, to);
    let total: i64 = series.iter().map(|(_, n)| n).sum();
    let timeline_caption =
        format!("Requests per hour, {} to {} ({} in all).", view::when(from), view::when(to), view::count(total));
    let window_end = seen.last_seen + time::Duration::seconds(1);
    let mut events = state
        .app()
        .account_events(&account_id, seen.first_seen, window_end, after.clone(), EVENTS_PAGE + 1, &user.actor())
        .await?;
    let more = events.len() as i64 > EVENTS_PAGE;
    events.truncate(EVENTS_PAGE as usize);
    let next = events
        .last()
        .filter(|_| more)
        .map(|e| view::encode(&format!("{}:{}", e.ts.unix_timestamp_nanos(), e.event_id)));
    let events_caption = match (events.len(), after.is_some()) {
        (0, _) => "No events.".to_owned(),
        (n, false) => format!("Its first {} events, oldest first.", view::count(n as i64)),
        (n, true) => format!("{} more events, oldest first.", view::count(n as i64)),
    };
    let rows = events
        .iter()
        .map(|e| view::EventRow {
            id: e.event_id.clone(),
            ts: view::when(e.ts),
            model: e.model.clone(),
            prompt: view::clip(&e.prompt, 1200),
            completion: e.completion.as_deref().map_or_else(|| "(not logged)".into(), |c| view::clip(c, 1200)),
            finish: e.finish_reason.clone().unwrap_or_default(),
        })
        .collect();
    Ok(view::render(&view::AccountPage {
        nav: Some(Nav::of(&user)),
        account_path: view::encode(&account_id),
        account_id,
        first_seen: view::when(seen.first_seen),
        last_seen: view::when(seen.last_seen),
        org: seen.org_id.clone(),
        score,
        flags,
        history,
        timeline_caption,
        timeline_svg: view::hourly_svg(&series),
        events_caption,
        events: rows,
        next,
    }))
}

/// Hours from `from` to `to`, each with its requests (0 where `hours` has none).
fn hourly_series(hours: &[dw_app::Hour], from: OffsetDateTime, to: OffsetDateTime) -> Vec<(OffsetDateTime, i64)> {
    let mut series = Vec::new();
    let mut t = from;
    let mut it = hours.iter().peekable();
    while t < to {
        let mut n = 0;
        while let Some(h) = it.peek() {
            if h.hour < t {
                it.next();
            } else {
                if h.hour == t {
                    n = h.requests;
                }
                break;
            }
        }
        series.push((t, n));
        t += time::Duration::hours(1);
    }
    series
}

/// The hour `t` falls in.
fn hour_of(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_minute(0).and_then(|t| t.replace_second(0)).and_then(|t| t.replace_nanosecond(0)).unwrap_or(t)
}

/// `GET /clusters/{id}`: a cluster of the latest audit, its members and
/// what joins them.
pub(crate) async fn cluster(
    State(state): State<ApiState>,
    AnalystPage(user): AnalystPage,
    Path(cluster_id): Path<String>,
) -> Result<Response, PageError> {
    let detail = state.app().cluster_detail(&cluster_id, None).await?;
    let c = &detail.cluster;
    // The members' requests added up, hour by hour, over the audit's window
    // (its last fourteen days at most).
    let (activity_caption, activity_svg) = match state.app().get_audit(detail.audit_id).await? {
        Some(audit) => {
            let to = hour_of(audit.spec.to - time::Duration::nanoseconds(1)) + time::Duration::hours(1);
            let from = hour_of(audit.spec.from).max(to - time::Duration::days(14));
            let ids: Vec<String> = detail.members.iter().map(|m| m.account_id.clone()).collect();
            let hours = state.app().combined_timeline(&ids, from, to).await?;
            let series = hourly_series(&hours, from, to);
            let total: i64 = series.iter().map(|(_, n)| n).sum();
            (
                format!(
                    "The members' requests per hour together, {} to {} ({} in all).",
                    view::when(from),
                    view::when(to),
                    view::count(total)
                ),
                view::hourly_svg(&series),
            )
        }
        None => (String::new(), String::new()),
    };
    let graph = detail.members.iter().map(|m| (m.account_id.clone(), m.risk, m.flagged)).collect::<Vec<_>>();
    let edges: Vec<(Vec<String>, String)> = detail.edges.iter().map(|e| (e.members.clone(), e.words.clone())).collect();
    let edge_rows = detail
        .edges
        .iter()
        .enumerate()
        .map(|(i, e)| view::EdgeRow {
            number: if i < view::DRAWN_EDGES { (i + 1).to_string() } else { String::new() },
            words: e.words.clone(),
            members: view::count(e.members.len() as i64),
            kind: if e.operation {
                "one operator (software and infrastructure)"
            } else {
                "one owner (card, sign-up burst)"
            }
            .into(),
            accounts: view::clip(&e.members.join(", "), 400),
        })
        .collect();
    Ok(view::render(&view::ClusterPage {
        nav: Some(Nav::of(&user)),
        cluster_id: c.cluster_id.clone(),
        audit: detail.audit_id,
        members: view::count(c.members),
        flagged: view::count(c.flagged),
        requests: view::count(c.requests),
        max_risk: view::risk(c.max_risk),
        mean_risk: view::risk(c.mean_risk),
        flag: c.flag_id,
        reason: c.reason.clone(),
        graph_svg: view::cluster_svg(&graph, &edges),
        activity_caption,
        activity_svg,
        edge_rows,
        member_rows: detail
            .members
            .iter()
            .map(|m| view::MemberRow {
                id: m.account_id.clone(),
                path: view::encode(&m.account_id),
                risk: view::risk(m.risk),
                level: m.level.to_string(),
                requests: m.requests.map_or_else(|| "?".into(), view::count),
                signals: m.top_signals.iter().map(|s| s.signal.as_str()).collect::<Vec<_>>().join(", "),
            })
            .collect(),
        signals: detail
            .signals
            .iter()
            .map(|(name, n, mean)| (name.clone(), view::count(*n as i64), format!("{mean:+.3}")))
            .collect(),
    }))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LogQuery {
    before: Option<String>,
}

/// `GET /audit-log`: every action on record, newest first (admins).
pub(crate) async fn audit_log(
    State(state): State<ApiState>,
    AdminPage(user): AdminPage,
    query: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    let Query(q) = query.map_err(|e| bad(format!("The page's address could not be read: {}", e.body_text())))?;
    let before = match q.before.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(b) => Some(b.parse::<i64>().map_err(|_| bad(format!("before: {b:?} is not an entry number")))?),
    };
    let mut entries = state.app().audit_log_newest(before, LOG_PAGE + 1).await?;
    let more = entries.len() as i64 > LOG_PAGE;
    entries.truncate(LOG_PAGE as usize);
    let next = entries.last().filter(|_| more).map(|e| e.id);
    let rows = entries
        .into_iter()
        .map(|e| {
            let detail = match (&e.before, &e.after) {
                (None, None) => String::new(),
                (before, after) => {
                    let show = |v: &Option<Value>| v.as_ref().map(|v| view::clip(&v.to_string(), 300));
                    match (show(before), show(after)) {
                        (Some(b), Some(a)) => format!("before {b}; after {a}"),
                        (Some(b), None) => format!("before {b}"),
                        (None, Some(a)) => a,
                        (None, None) => String::new(),
                    }
                }
            };
            view::LogRow {
                at: view::when(e.at),
                actor: e.actor,
                role: e.role,
                action: e.action,
                target: e.target,
                detail,
            }
        })
        .collect();
    Ok(view::render(&view::AuditLogPage { nav: Some(Nav::of(&user)), rows, next }))
}

/// Audits on a page.
const AUDITS_PAGE: i64 = 30;

fn audit_row(a: &dw_app::Audit) -> view::AuditRow {
    let scope = match (&a.spec.model, &a.spec.accounts) {
        (None, None) => "every account".to_owned(),
        (model, accounts) => {
            let mut parts = Vec::new();
            if let Some(m) = model {
                parts.push(format!("model {m}"));
            }
            if let Some(list) = accounts {
                parts.push(format!("{} named accounts", view::count(list.len() as i64)));
            }
            parts.join(", ")
        }
    } + if a.spec.dry_run { " (dry run)" } else { "" };
    let summary = a.summary.as_ref();
    let number = |key: &str| summary.and_then(|s| s[key].as_i64()).map_or_else(|| "?".into(), view::count);
    let found = match a.state {
        dw_domain::JobState::Done => {
            format!("{} accounts, {} flagged, {} flags opened", number("accounts"), number("flagged"), number("opened"))
        }
        dw_domain::JobState::Failed => "failed".into(),
        _ => a.progress["stage"].as_str().unwrap_or("waiting for a worker").to_owned(),
    };
    view::AuditRow {
        id: a.id,
        window: format!("{} to {}", view::when(a.spec.from), view::when(a.spec.to)),
        scope,
        state: a.state.to_string(),
        found,
        requested_by: a.spec.requested_by.clone(),
        created: view::when(a.created_at),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditsQuery {
    before: Option<String>,
}

/// `GET /audits`: the audits, newest first, and a form to queue one.
pub(crate) async fn audits(
    State(state): State<ApiState>,
    AnalystPage(user): AnalystPage,
    query: Result<Query<AuditsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    let Query(q) = query.map_err(|e| bad(format!("The page's address could not be read: {}", e.body_text())))?;
    let before = match q.before.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(b) => Some(b.parse::<i64>().map_err(|_| bad(format!("before: {b:?} is not an audit number")))?),
    };
    let mut list = state.app().recent_audits(before, AUDITS_PAGE + 1).await?;
    let more = list.len() as i64 > AUDITS_PAGE;
    list.truncate(AUDITS_PAGE as usize);
    let today = OffsetDateTime::now_utc().date();
    let date = |d: time::Date| d.format(time::macros::format_description!("[year]-[month]-[day]")).unwrap_or_default();
    let nav = Nav::of(&user);
    Ok(view::render(&view::AuditsPage {
        csrf: nav.csrf.clone(),
        nav: Some(nav),
        default_from: date(today - time::Duration::days(7)),
        default_to: date(today + time::Duration::days(1)),
        next: list.last().filter(|_| more).map(|a| a.id),
        rows: list.iter().map(audit_row).collect(),
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewAuditForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    model: Option<String>,
    accounts: Option<String>,
    dry_run: Option<String>,
}

/// A day (`2026-11-02`, midnight UTC) or an RFC 3339 instant, named by `field`.
fn day_or_instant(field: &str, text: &str) -> Result<OffsetDateTime, PageError> {
    let text = text.trim();
    if let Ok(day) = time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]")) {
        return Ok(day.midnight().assume_utc());
    }
    params::instant(field, text).map_err(|_| {
        bad(format!("{field}: {text:?} is neither a day (2026-11-02) nor an RFC 3339 instant (2026-11-02T00:00:00Z)"))
    })
}

/// `POST /audits`: queue an audit, then follow it.
pub(crate) async fn queue_audit(
    State(state): State<ApiState>,
    AnalystPage(user): AnalystPage,
    parsed: Result<Form<NewAuditForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form(parsed)?;
    user.check_csrf(&form.csrf)?;
    let from = day_or_instant("from", &form.from)?;
    let to = day_or_instant("to", &form.to)?;
    if from >= to {
        return Err(bad("to: must be after from"));
    }
    let accounts: Option<Vec<String>> = form
        .accounts
        .as_deref()
        .map(|list| list.split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned).collect::<Vec<_>>())
        .filter(|list| !list.is_empty());
    let spec = dw_app::AuditSpec {
        from,
        to,
        accounts,
        model: form.model.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()),
        dry_run: form.dry_run.is_some_and(|v| v == "true" || v == "on"),
        requested_by: format!("console:{}", user.key.prefix),
    };
    let id = state.app().queue_audit_for(&spec, &user.actor()).await?;
    Ok(Redirect::to(&format!("/audits/{id}")).into_response())
}

/// `GET /audits/{id}`: an audit's state and progress (the page reloads
/// itself while it runs), then what it found.
pub(crate) async fn audit(
    State(state): State<ApiState>,
    AnalystPage(user): AnalystPage,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let missing = || PageError::Status(StatusCode::NOT_FOUND, format!("There is no audit {id:?}."));
    let parsed: i64 = id.parse().map_err(|_| missing())?;
    let a = state.app().get_audit(parsed).await?.ok_or_else(missing)?;
    let running = matches!(a.state, dw_domain::JobState::Queued | dw_domain::JobState::Running);
    let stage = match (&a.state, a.progress["stage"].as_str()) {
        (dw_domain::JobState::Running, Some(stage)) => match a.progress["accounts"].as_u64() {
            Some(n) => format!("Stage: {stage} ({} accounts)", view::count(n as i64)),
            None => format!("Stage: {stage}"),
        },
        _ => String::new(),
    };
    let summary = a
        .summary
        .as_ref()
        .and_then(Value::as_object)
        .map(|fields| {
            fields
                .iter()
                .map(|(k, v)| {
                    let value = match v {
                        Value::Number(n) if n.is_i64() => view::count(n.as_i64().unwrap_or_default()),
                        other => text(other),
                    };
                    (k.replace('_', " "), value)
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(view::render(&view::AuditPage {
        nav: Some(Nav::of(&user)),
        running,
        stage,
        error: a.error.clone(),
        summary,
        a: audit_row(&a),
    }))
}

fn set_row(s: &dw_app::ReferenceSet) -> view::SetRow {
    view::SetRow {
        id: s.id,
        name: s.name.clone(),
        kind: if s.control { "control" } else { "suspect" }.into(),
        items: view::count(s.items),
        with_prompt: view::count(s.items_with_prompt),
        description: view::clip(&s.description, 200),
        created: view::when(s.created_at),
    }
}

/// `GET /reference-sets`: the sets, and a form to make one.
pub(crate) async fn reference_sets(
    State(state): State<ApiState>,
    AnalystPage(user): AnalystPage,
) -> Result<Response, PageError> {
    let sets = state.app().reference_sets().await?;
    let nav = Nav::of(&user);
    Ok(view::render(&view::SetsPage {
        csrf: nav.csrf.clone(),
        nav: Some(nav),
        rows: sets.iter().map(set_row).collect(),
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewSetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    collection: String,
    control: Option<String>,
}

/// `POST /reference-sets`: a new set, then its page.
pub(crate) async fn create_reference_set(
    State(state): State<ApiState>,
    AnalystPage(user): AnalystPage,
    parsed: Result<Form<NewSetForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form(parsed)?;
    user.check_csrf(&form.csrf)?;
    let new = dw_app::NewReferenceSet {
        name: form.name.trim(),
        description: &form.description,
        collection: &form.collection,
        control: form.control.is_some_and(|v| v == "true" || v == "on"),
    };
    let set = state.app().create_reference_set(&new, &user.actor()).await?;
    Ok(Redirect::to(&format!("/reference-sets/{}", set.id)).into_response())
}

fn set_id(id: &str) -> Result<i64, PageError> {
    id.parse().map_err(|_| PageError::Status(StatusCode::NOT_FOUND, format!("There is no reference set {id:?}.")))
}

fn run_row(job: &dw_app::ReferenceJob, names: &std::collections::HashMap<i64, String>) -> view::RunRow {
    let name = |id: &i64| names.get(id).cloned().unwrap_or_else(|| format!("set {id}"));
    let controls: Vec<String> = job.spec.control_id.iter().chain(&job.spec.control_ids).map(name).collect();
    view::RunRow {
        id: job.id,
        kind: job.spec.kind.as_str().replace('_', " "),
        controls: if controls.is_empty() { "none".into() } else { controls.join(", ") },
        state: job.state.to_string(),
        created: view::when(job.created_at),
    }
}

/// A set's page, with what an upload just did when there was one.
async fn set_page(
    state: &ApiState,
    user: &SignedIn,
    id: i64,
    uploaded: Option<(String, Vec<String>)>,
) -> Result<Response, PageError> {
    let set = state.app().reference_set(id).await?;
    let all = state.app().reference_sets().await?;
    let names = all.iter().map(|s| (s.id, s.name.clone())).collect();
    let runs = state.app().reference_jobs_of(id, 50).await?;
    let nav = Nav::of(user);
    Ok(view::render(&view::SetPage {
        csrf: nav.csrf.clone(),
        nav: Some(nav),
        id,
        kind: if set.control { "control" } else { "suspect" }.into(),
        control: set.control,
        items: view::count(set.items),
        with_prompt: view::count(set.items_with_prompt),
        description: set.description.clone(),
        collection: set.collection.clone(),
        created: view::when(set.created_at),
        created_by: set.created_by.clone(),
        uploaded,
        controls: all.iter().filter(|s| s.control && s.id != id).map(|s| (s.id, s.name.clone())).collect(),
        runs: runs.iter().map(|j| run_row(j, &names)).collect(),
        name: set.name,
    }))
}

/// `GET /reference-sets/{id}`: a set, its uploads, its runs, the forms to
/// add outputs and to ask.
pub(crate) async fn reference_set(
    State(state): State<ApiState>,
    AnalystPage(user): AnalystPage,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = set_id(&id)?;
    set_page(&state, &user, id, None).await
}

/// `POST /reference-sets/{id}/items`: a file of outputs (one JSON object a
/// line; plain, gzip or zstd), its CSRF token first in the form.
pub(crate) async fn upload_reference_items(
    State(state): State<ApiState>,
    AnalystPage(user): AnalystPage,
    Path(id): Path<String>,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, PageError> {
    let id = set_id(&id)?;
    let mut multipart = multipart.map_err(|e| bad(format!("The upload could not be read: {}", e.body_text())))?;
    let limits = state.config.limits;
    let unreadable = |e: axum::extract::multipart::MultipartError| bad(format!("The upload could not be read: {e}"));
    // The token comes first (the form puts it there): nothing is read past a forged one.
    let first = multipart.next_field().await.map_err(unreadable)?.ok_or_else(|| bad("The form was empty."))?;
    if first.name() != Some("csrf") {
        return Err(user.check_csrf("").unwrap_err());
    }
    user.check_csrf(&first.text().await.map_err(unreadable)?)?;
    state.app().reference_set(id).await?;
    let mut raw = Vec::new();
    let mut seen_file = false;
    while let Some(mut field) = multipart.next_field().await.map_err(unreadable)? {
        if field.name() != Some("items") {
            continue;
        }
        seen_file = true;
        while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
            if raw.len() + chunk.len() > limits.max_body_bytes {
                return Err(PageError::Status(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "The file is larger than {} bytes (ingest.max_body_bytes): split it, or load it with \
                         `distillwatch reference add`.",
                        limits.max_body_bytes
                    ),
                ));
            }
            raw.extend_from_slice(&chunk);
        }
    }
    if !seen_file {
        return Err(bad("items: choose a file to upload."));
    }
    let encoding = match raw.as_slice() {
        [0x1f, 0x8b, ..] => dw_ingest::ContentEncoding::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => dw_ingest::ContentEncoding::Zstd,
        _ => dw_ingest::ContentEncoding::Identity,
    };
    let parsed = tokio::task::spawn_blocking(move || {
        dw_ingest::decode_body(&raw, encoding, limits.max_body_bytes)
            .map(|decoded| dw_ingest::parse_reference_ndjson(&decoded, &limits))
    })
    .await
    .map_err(|e| PageError::from(crate::ApiError::task_failed("reading the upload", e)))?
    .map_err(|e| bad(format!("The file could not be decompressed: {e}")))?;
    if parsed.lines == 0 {
        return Err(bad("The file holds no items."));
    }
    let stopped = parsed.stopped.as_ref().map(ToString::to_string);
    let unlisted = parsed.unlisted;
    let outcome =
        state.app().add_reference_items(id, &parsed.items, parsed.rejected, parsed.lines, &user.actor()).await?;
    let mut sentence = format!(
        "Read {} lines: {} items stored, {} already in the set, {} refused.",
        view::count(outcome.lines as i64),
        view::count(outcome.stored as i64),
        view::count(outcome.duplicates as i64),
        view::count((outcome.rejected.len() as u64 + unlisted) as i64)
    );
    if let Some(stopped) = stopped {
        sentence.push_str(&format!(" Reading stopped early: {stopped}."));
    }
    let mut refused: Vec<String> = outcome
        .rejected
        .iter()
        .map(|e| match &e.field {
            Some(field) => format!("line {}, {field}: {}", e.line, e.error),
            None => format!("line {}: {}", e.line, e.error),
        })
        .collect();
    if unlisted > 0 {
        refused.push(format!("… and {} more lines refused", view::count(unlisted as i64)));
    }
    let status = if outcome.stored == 0 && outcome.duplicates == 0 { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let mut page = set_page(&state, &user, id, Some((sentence, refused))).await?;
    *page.status_mut() = status;
    Ok(page)
}

/// `POST /reference-sets/{id}/runs`: queue attribution or a test, then follow it.
pub(crate) async fn run_reference_job(
    State(state): State<ApiState>,
    AnalystPage(user): AnalystPage,
    Path(id): Path<String>,
    parsed: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, PageError> {
    let id = set_id(&id)?;
    let fields = form(parsed)?;
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty());
    user.check_csrf(field("csrf").unwrap_or(""))?;
    let controls = fields
        .iter()
        .filter(|(k, _)| k == "control")
        .map(|(_, v)| v.trim().parse::<i64>().map_err(|_| bad(format!("control: {v:?} is not a set id"))))
        .collect::<Result<Vec<i64>, PageError>>()?;
    let kind = match field("kind") {
        Some("attribution") => dw_app::ReferenceJobKind::Attribution,
        Some("distillation_test") => dw_app::ReferenceJobKind::DistillationTest,
        Some("panel_test") => dw_app::ReferenceJobKind::PanelTest,
        Some("fingerprint_test") => dw_app::ReferenceJobKind::FingerprintTest,
        other => {
            return Err(bad(format!(
                "kind: {:?} is not attribution, distillation_test, panel_test or fingerprint_test",
                other.unwrap_or("")
            )));
        }
    };
    let from = field("from").map(|t| day_or_instant("from", t)).transpose()?;
    let to = field("to").map(|t| day_or_instant("to", t)).transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(bad("to: must be after from"));
    }
    let (control_id, control_ids) = match kind {
        dw_app::ReferenceJobKind::Attribution => (None, Vec::new()),
        dw_app::ReferenceJobKind::DistillationTest => match controls.as_slice() {
            [one] => (Some(*one), Vec::new()),
            _ => return Err(bad("control: the distillation test takes exactly one control set")),
        },
        dw_app::ReferenceJobKind::PanelTest if controls.len() < 3 => {
            return Err(bad("control: the panel test takes three control sets or more"));
        }
        _ if controls.is_empty() => return Err(bad("control: choose at least one control set")),
        _ => (None, controls),
    };
    let spec = dw_app::ReferenceJobSpec {
        kind,
        set_id: id,
        control_id,
        control_ids,
        sample: None,
        from,
        to,
        requested_by: format!("console:{}", user.key.prefix),
    };
    let job = state.app().queue_reference_job(&spec, &user.actor()).await?;
    Ok(Redirect::to(&format!("/reference-jobs/{}", job.id)).into_response())
}

/// `GET /reference-jobs/{id}`: a run's state (the page reloads itself while
/// it runs), then its report.
pub(crate) async fn reference_job(
    State(state): State<ApiState>,
    AnalystPage(user): AnalystPage,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let missing = || PageError::Status(StatusCode::NOT_FOUND, format!("There is no run {id:?}."));
    let parsed: i64 = id.parse().map_err(|_| missing())?;
    let job = state.app().reference_job(parsed).await?.ok_or_else(missing)?;
    let names = state.app().reference_sets().await?.into_iter().map(|s| (s.id, s.name)).collect();
    Ok(view::render(&view::RunPage {
        nav: Some(Nav::of(&user)),
        r: run_row(&job, &names),
        set_id: job.spec.set_id,
        running: !job.state.is_finished(),
        error: job.error.clone(),
        report: job.result.as_ref().map(view::report_html).unwrap_or_default(),
    }))
}
