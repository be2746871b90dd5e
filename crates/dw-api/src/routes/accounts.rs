//! Accounts, for analysts: `GET /v1/accounts` (an audit's scored accounts,
//! filtered, sorted, paged), `GET /v1/accounts/{id}` (profile, score with its
//! contributions, flags, cluster, allowlist entry), `GET
//! /v1/accounts/{id}/events` (paged, time-bounded) and `GET
//! /v1/accounts/{id}/timeline` (hourly requests and tokens, for charts).

use axum::Json;
use axum::extract::{Path, State};
use dw_app::{AccountFilter, AccountSort, EventView, Hour, ScoredAccount};
use dw_domain::RiskLevel;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::params::{bad_cursor, cursor, optional_instant, page_size, rfc3339};
use crate::auth::Analyst;
use crate::extract::QueryParams;
use crate::{ApiError, ApiState};

/// The longest span a timeline covers.
const MAX_TIMELINE_DAYS: i64 = 93;

/// `GET /v1/accounts` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AccountQuery {
    /// The audit whose scores are listed (default: the latest finished one).
    audit: Option<i64>,
    min_risk: Option<f64>,
    level: Option<String>,
    flagged: Option<bool>,
    cluster: Option<String>,
    model: Option<String>,
    active_from: Option<String>,
    active_to: Option<String>,
    /// `risk` (default) or `requests`.
    sort: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AccountRow {
    account_id: String,
    risk: f64,
    level: RiskLevel,
    flagged: bool,
    cluster_id: Option<String>,
    /// Its largest contributions, largest first.
    top_signals: Vec<dw_domain::Contribution>,
    requests: Option<i64>,
    #[serde(with = "time::serde::rfc3339::option")]
    first_seen: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    last_seen: Option<OffsetDateTime>,
}

impl From<ScoredAccount> for AccountRow {
    fn from(s: ScoredAccount) -> Self {
        AccountRow {
            account_id: s.account_id,
            risk: s.risk,
            level: s.level,
            flagged: s.flagged,
            cluster_id: s.cluster_id,
            top_signals: s.top_signals,
            requests: s.requests,
            first_seen: s.first_seen,
            last_seen: s.last_seen,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AccountPage {
    audit_id: i64,
    accounts: Vec<AccountRow>,
    /// The cursor of the next page; absent on the last.
    next: Option<String>,
}

#[utoipa::path(get, operation_id = "accounts_list", path = "/v1/accounts", tag = "accounts", summary = "An audit's scored accounts, filtered, sorted and paged", params(AccountQuery), responses((status = 200, description = "a page of accounts", body = AccountPage), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    _: Analyst,
    QueryParams(q): QueryParams<AccountQuery>,
) -> Result<Json<AccountPage>, ApiError> {
    let level = super::params::level(q.level.as_deref())?;
    if let Some(risk) = q.min_risk.filter(|r| !(0.0..=1.0).contains(r)) {
        return Err(ApiError::BadRequest(format!("min_risk: {risk} is not between 0 and 1")));
    }
    let sort = match q.sort.as_deref() {
        None | Some("risk") => AccountSort::Risk,
        Some("requests") => AccountSort::Requests,
        Some(other) => return Err(ApiError::BadRequest(format!("sort: {other:?} is not risk or requests"))),
    };
    let after = q.cursor.as_deref().map(cursor::<f64, String>).transpose()?;
    let limit = page_size(q.limit)?;
    let audit_id = match q.audit {
        Some(id) => id,
        None => state.app().latest_audit_id().await?,
    };
    let filter = AccountFilter {
        audit_id,
        min_risk: q.min_risk,
        level,
        flagged: q.flagged,
        cluster_id: q.cluster.as_deref(),
        model: q.model.as_deref(),
        active_from: optional_instant("active_from", q.active_from.as_deref())?,
        active_to: optional_instant("active_to", q.active_to.as_deref())?,
        sort,
        after,
        limit: limit + 1,
    };
    let mut accounts = state.app().scored_accounts(&filter).await?;
    let next = (accounts.len() as i64 > limit).then(|| {
        accounts.truncate(limit as usize);
        let last = accounts.last().expect("a full page");
        let value = match sort {
            AccountSort::Risk => last.risk,
            AccountSort::Requests => last.requests.unwrap_or(0) as f64,
        };
        format!("{value}:{}", last.account_id)
    });
    Ok(Json(AccountPage { audit_id, accounts: accounts.into_iter().map(AccountRow::from).collect(), next }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ProfileQuery {
    audit: Option<i64>,
}

/// A flag as an account's profile shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct FlagRef {
    id: i64,
    status: dw_domain::FlagStatus,
    risk: f64,
    level: RiskLevel,
    reason: String,
    assignee: Option<String>,
}

impl From<dw_app::Flag> for FlagRef {
    fn from(f: dw_app::Flag) -> Self {
        FlagRef { id: f.id, status: f.status, risk: f.risk, level: f.level, reason: f.reason, assignee: f.assignee }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ProfileBody {
    account_id: String,
    org_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    last_seen: OffsetDateTime,
    attributes: Option<dw_domain::AccountAttributes>,
    audit_id: Option<i64>,
    /// Its score in that audit, with its largest contributions; absent when
    /// it was not active in the audit's window.
    score: Option<AccountRow>,
    flag: Option<FlagRef>,
    cluster_flag: Option<FlagRef>,
    allowlisted: Option<super::allowlist::AllowedBody>,
}

#[utoipa::path(get, operation_id = "accounts_get", path = "/v1/accounts/{id}", tag = "accounts", summary = "An account's profile, score, flags and allowlist entry", params(("id" = String, Path, description = "account id"), ProfileQuery), responses((status = 200, description = "the account", body = ProfileBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    _: Analyst,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<ProfileQuery>,
) -> Result<Json<ProfileBody>, ApiError> {
    let p = state.app().account_profile(&id, q.audit).await?;
    Ok(Json(ProfileBody {
        account_id: p.account_id,
        org_id: p.seen.org_id,
        first_seen: p.seen.first_seen,
        last_seen: p.seen.last_seen,
        attributes: p.attributes,
        audit_id: p.audit_id,
        score: p.score.map(AccountRow::from),
        flag: p.flag.map(FlagRef::from),
        cluster_flag: p.cluster_flag.map(FlagRef::from),
        allowlisted: p.allowlisted.map(Into::into),
    }))
}

/// `from` and `to` of a time-bounded view; by default the account's last
/// seven days of activity.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn range(state: &ApiState, id: &str, q: &RangeQuery) -> Result<(OffsetDateTime, OffsetDateTime), ApiError> {
    let from = optional_instant("from", q.from.as_deref())?;
    let to = optional_instant("to", q.to.as_deref())?;
    let (from, to) = match (from, to) {
        (Some(from), Some(to)) => (from, to),
        _ => {
            let seen = state.app().account_profile(id, None).await?.seen;
            let to = to.unwrap_or(seen.last_seen + Duration::SECOND);
            (from.unwrap_or(to - Duration::days(7)), to)
        }
    };
    if from >= to {
        return Err(ApiError::BadRequest("to: must be after from".into()));
    }
    Ok((from, to))
}

/// One of an account's events, as an analyst reads it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EventBody {
    event_id: String,
    #[serde(with = "time::serde::rfc3339")]
    ts: OffsetDateTime,
    model: String,
    /// The last user message.
    prompt: String,
    system_prompt: Option<String>,
    /// The answer, when logged.
    completion: Option<String>,
    finish_reason: Option<String>,
    temperature: Option<f32>,
    max_tokens: Option<i32>,
    n: Option<i32>,
    logprobs: Option<bool>,
    prompt_tokens: Option<i32>,
    completion_tokens: Option<i32>,
    client_ip: Option<String>,
    user_agent: Option<String>,
}

impl From<EventView> for EventBody {
    fn from(e: EventView) -> Self {
        EventBody {
            event_id: e.event_id,
            ts: e.ts,
            model: e.model,
            prompt: e.prompt,
            system_prompt: e.system_prompt,
            completion: e.completion,
            finish_reason: e.finish_reason,
            temperature: e.temperature,
            max_tokens: e.max_tokens,
            n: e.n,
            logprobs: e.logprobs,
            prompt_tokens: e.prompt_tokens,
            completion_tokens: e.completion_tokens,
            client_ip: e.client_ip,
            user_agent: e.user_agent,
        }
    }
}

/// One hour of an account's activity.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct HourBody {
    /// The hour's start (UTC).
    #[serde(with = "time::serde::rfc3339")]
    hour: OffsetDateTime,
    requests: i64,
    /// Prompt tokens, as logged.
    prompt_tokens: i64,
    /// Completion tokens, as logged.
    completion_tokens: i64,
}

impl From<Hour> for HourBody {
    fn from(h: Hour) -> Self {
        HourBody {
            hour: h.hour,
            requests: h.requests,
            prompt_tokens: h.prompt_tokens,
            completion_tokens: h.completion_tokens,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EventPage {
    #[serde(with = "time::serde::rfc3339")]
    from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    to: OffsetDateTime,
    events: Vec<EventBody>,
    next: Option<String>,
}

#[utoipa::path(get, operation_id = "accounts_events", path = "/v1/accounts/{id}/events", tag = "accounts", summary = "An account's events, oldest first, paged", params(("id" = String, Path, description = "account id"), RangeQuery), responses((status = 200, description = "a page of events", body = EventPage), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn events(
    State(state): State<ApiState>,
    Analyst(caller): Analyst,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<RangeQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let limit = page_size(q.limit)?;
    let after = q
        .cursor
        .as_deref()
        .map(|c| {
            let (ts, event) = c.split_once('|').ok_or_else(|| bad_cursor(c))?;
            Ok::<_, ApiError>((OffsetDateTime::parse(ts, &Rfc3339).map_err(|_| bad_cursor(c))?, event.to_owned()))
        })
        .transpose()?;
    let (from, to) = range(&state, &id, &q).await?;
    let mut events = state.app().account_events(&id, from, to, after, limit + 1, &caller.actor()).await?;
    let next = (events.len() as i64 > limit).then(|| {
        events.truncate(limit as usize);
        let last = events.last().expect("a full page");
        format!("{}|{}", rfc3339(last.ts), last.event_id)
    });
    Ok(Json(EventPage { from, to, events: events.into_iter().map(EventBody::from).collect(), next }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TimelineBody {
    #[serde(with = "time::serde::rfc3339")]
    from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    to: OffsetDateTime,
    hours: Vec<HourBody>,
}

#[utoipa::path(get, operation_id = "accounts_timeline", path = "/v1/accounts/{id}/timeline", tag = "accounts", summary = "An account's hourly requests and tokens", params(("id" = String, Path, description = "account id"), RangeQuery), responses((status = 200, description = "hours with requests", body = TimelineBody), (status = 401, description = "no key, or a key that is not valid", body = crate::error::ErrorBody), (status = 403, description = "the key's role may not do this", body = crate::error::ErrorBody), (status = 400, description = "a bad parameter or body, named", body = crate::error::ErrorBody), (status = 404, description = "no such thing", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn timeline(
    State(state): State<ApiState>,
    _: Analyst,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<RangeQuery>,
) -> Result<Json<TimelineBody>, ApiError> {
    if q.limit.is_some() || q.cursor.is_some() {
        return Err(ApiError::BadRequest("limit, cursor: a timeline is not paged; bound it with from and to".into()));
    }
    let (from, to) = range(&state, &id, &q).await?;
    if to - from > Duration::days(MAX_TIMELINE_DAYS) {
        return Err(ApiError::BadRequest(format!("to: a timeline spans at most {MAX_TIMELINE_DAYS} days")));
    }
    let hours = state.app().account_timeline(&id, from, to).await?;
    Ok(Json(TimelineBody { from, to, hours: hours.into_iter().map(HourBody::from).collect() }))
}
