//! What analysts read about accounts: their scores in an audit (filtered,
//! sorted, paged), their events and their hourly timeline.

use dw_domain::{Contribution, FlagStatus, RiskLevel};
use serde_json::Value;
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::StoreError;

/// An account's score in an audit, with its profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredAccount {
    /// The account.
    pub account_id: String,
    /// Its risk in the audit.
    pub risk: f64,
    /// Its level.
    pub level: RiskLevel,
    /// Whether it was flagged.
    pub flagged: bool,
    /// Its cluster, when linked.
    pub cluster_id: Option<String>,
    /// Its largest contributions, largest first.
    pub top_signals: Vec<Contribution>,
    /// Its requests in the audit's window (unknown for audits published
    /// before the count was kept).
    pub requests: Option<i64>,
    /// When it was first and last seen (any window).
    pub first_seen: Option<OffsetDateTime>,
    /// See `first_seen`.
    pub last_seen: Option<OffsetDateTime>,
}

/// A score as the database returns it.
struct ScoredRow {
    account_id: String,
    risk: f64,
    level: String,
    flagged: bool,
    cluster_id: Option<String>,
    top_signals: Value,
    requests: Option<i64>,
    first_seen: Option<OffsetDateTime>,
    last_seen: Option<OffsetDateTime>,
}

impl TryFrom<ScoredRow> for ScoredAccount {
    type Error = StoreError;

    fn try_from(r: ScoredRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("audit_scores.{what} of account {:?}: {e}", r.account_id))
        };
        let level = r.level.parse().map_err(|e| corrupt("level", &e))?;
        let top_signals = serde_json::from_value(r.top_signals).map_err(|e| corrupt("top_signals", &e))?;
        Ok(ScoredAccount {
            level,
            top_signals,
            account_id: r.account_id,
            risk: r.risk,
            flagged: r.flagged,
            cluster_id: r.cluster_id,
            requests: r.requests,
            first_seen: r.first_seen,
            last_seen: r.last_seen,
        })
    }
}

/// How accounts are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountSort {
    /// Riskiest first.
    Risk,
    /// Most requests first.
    Requests,
}

/// Which accounts of an audit, and which page.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountFilter<'a> {
    /// The audit whose scores are read.
    pub audit_id: i64,
    /// At least this risk.
    pub min_risk: Option<f64>,
    /// At this level.
    pub level: Option<RiskLevel>,
    /// Flagged or not.
    pub flagged: Option<bool>,
    /// In this cluster.
    pub cluster_id: Option<&'a str>,
    /// With at least one request to this model in `[active_from, active_to)`
    /// (the whole time when those are absent).
    pub model: Option<&'a str>,
    /// With at least one request at or after this instant.
    pub active_from: Option<OffsetDateTime>,
    /// With at least one request before this instant.
    pub active_to: Option<OffsetDateTime>,
    /// The order.
    pub sort: AccountSort,
    /// The page after this account: its sort value and id.
    pub after: Option<(f64, String)>,
    /// At most this many.
    pub limit: i64,
}

/// The latest audit that finished and was not a dry run.
pub async fn latest_audit(conn: &mut PgConnection) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar!(
        "SELECT audit_id FROM audits WHERE state = 'done' AND NOT dry_run ORDER BY finished_at DESC, audit_id DESC LIMIT 1"
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// A page of an audit's scored accounts.
pub async fn scored(conn: &mut PgConnection, f: &AccountFilter<'_>) -> Result<Vec<ScoredAccount>, StoreError> {
    let by_requests = f.sort == AccountSort::Requests;
    let (after_value, after_id) = f.after.clone().unzip();
    let needs_events = f.model.is_some() || f.active_from.is_some() || f.active_to.is_some();
    sqlx::query_as!(
        ScoredRow,
        r#"SELECT s.account_id, s.risk, s.level, s.flagged, s.cluster_id, s.top_signals, s.requests,
                  a.first_seen AS "first_seen?", a.last_seen AS "last_seen?"
           FROM audit_scores s LEFT JOIN accounts a ON a.account_id = s.account_id
           WHERE s.audit_id = $1
             AND ($2::float8 IS NULL OR s.risk >= $2) AND ($3::text IS NULL OR s.level = $3)
             AND ($4::bool IS NULL OR s.flagged = $4) AND ($5::text IS NULL OR s.cluster_id = $5)
             AND (NOT $6 OR EXISTS (SELECT 1 FROM events e WHERE e.account_id = s.account_id
                                    AND ($7::text IS NULL OR e.model = $7)
                                    AND e.ts >= coalesce($8, '-infinity'::timestamptz)
                                    AND e.ts < coalesce($9, 'infinity'::timestamptz)))
             AND ($10::float8 IS NULL
                  OR (CASE WHEN $11 THEN coalesce(s.requests, 0)::float8 ELSE s.risk END) < $10
                  OR ((CASE WHEN $11 THEN coalesce(s.requests, 0)::float8 ELSE s.risk END) = $10 AND s.account_id > $12))
           ORDER BY CASE WHEN $11 THEN coalesce(s.requests, 0)::float8 ELSE s.risk END DESC, s.account_id
           LIMIT $13"#,
        f.audit_id,
        f.min_risk,
        f.level.map(RiskLevel::as_str),
        f.flagged,
        f.cluster_id,
        needs_events,
        f.model,
        f.active_from,
        f.active_to,
        after_value,
        by_requests,
        after_id,
        f.limit
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(ScoredAccount::try_from)
    .collect()
}

/// One account's score in an audit.
pub async fn scored_one(
    conn: &mut PgConnection,
    audit_id: i64,
    account_id: &str,
) -> Result<Option<ScoredAccount>, StoreError> {
    sqlx::query_as!(
        ScoredRow,
        r#"SELECT s.account_id, s.risk, s.level, s.flagged, s.cluster_id, s.top_signals, s.requests,
                  a.first_seen AS "first_seen?", a.last_seen AS "last_seen?"
           FROM audit_scores s LEFT JOIN accounts a ON a.account_id = s.account_id
           WHERE s.audit_id = $1 AND s.account_id = $2"#,
        audit_id,
        account_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(ScoredAccount::try_from)
    .transpose()
}

/// An account as first seen by ingest (any window).
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// Its organization, when events named one.
    pub org_id: Option<String>,
    /// Its first event.
    pub first_seen: OffsetDateTime,
    /// Its latest event.
    pub last_seen: OffsetDateTime,
}

/// When an account was seen, `None` when it never was.
pub async fn seen(conn: &mut PgConnection, account_id: &str) -> Result<Option<Seen>, StoreError> {
    Ok(sqlx::query_as!(Seen, "SELECT org_id, first_seen, last_seen FROM accounts WHERE account_id = $1", account_id)
        .fetch_optional(&mut *conn)
        .await?)
}

/// One of an account's events, as an analyst reads it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EventView {
    /// The event id.
    pub event_id: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub ts: OffsetDateTime,
    /// The model asked.
    pub model: String,
    /// The last user message.
    pub prompt: String,
    /// The system prompt, when there was one.
    pub system_prompt: Option<String>,
    /// The answer, when logged.
    pub completion: Option<String>,
    /// Why the answer stopped.
    pub finish_reason: Option<String>,
    /// Parameters as sent.
    pub temperature: Option<f32>,
    /// See `temperature`.
    pub max_tokens: Option<i32>,
    /// See `temperature`.
    pub n: Option<i32>,
    /// See `temperature`.
    pub logprobs: Option<bool>,
    /// Token counts.
    pub prompt_tokens: Option<i32>,
    /// See `prompt_tokens`.
    pub completion_tokens: Option<i32>,
    /// The client address, as text.
    pub client_ip: Option<String>,
    /// The client.
    pub user_agent: Option<String>,
}

/// A page of an account's events in `[from, to)`, oldest first, after the
/// event `after` (its time and id).
pub async fn events(
    conn: &mut PgConnection,
    account_id: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
    after: Option<(OffsetDateTime, String)>,
    limit: i64,
) -> Result<Vec<EventView>, StoreError> {
    let (after_ts, after_id) = after.unzip();
    Ok(sqlx::query_as!(
        EventView,
        r#"SELECT event_id, ts, model, prompt, system_prompt, completion, finish_reason, temperature, max_tokens, n,
                  logprobs, prompt_tokens, completion_tokens, host(client_ip) AS client_ip, user_agent
           FROM events
           WHERE account_id = $1 AND ts >= $2 AND ts < $3
             AND ($4::timestamptz IS NULL OR ts > $4 OR (ts = $4 AND event_id > $5))
           ORDER BY ts, event_id LIMIT $6"#,
        account_id,
        from,
        to,
        after_ts,
        after_id,
        limit
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// One hour of an account's activity.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hour {
    /// The hour (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub hour: OffsetDateTime,
    /// Requests in it.
    pub requests: i64,
    /// Prompt tokens (as logged).
    pub prompt_tokens: i64,
    /// Completion tokens (as logged).
    pub completion_tokens: i64,
}

/// An account's hourly requests and tokens in `[from, to)`; hours without
/// requests are left out.
pub async fn timeline(
    conn: &mut PgConnection,
    account_id: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<Hour>, StoreError> {
    Ok(sqlx::query_as!(
        Hour,
        r#"SELECT date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS "hour!", count(*) AS "requests!",
                  coalesce(sum(prompt_tokens), 0)::bigint AS "prompt_tokens!",
                  coalesce(sum(completion_tokens), 0)::bigint AS "completion_tokens!"
           FROM events WHERE account_id = $1 AND ts >= $2 AND ts < $3
           GROUP BY 1 ORDER BY 1"#,
        account_id,
        from,
        to
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Several accounts' hourly requests and tokens in `[from, to)`, added up
/// (a cluster's combined activity); hours without requests are left out.
pub async fn combined_timeline(
    conn: &mut PgConnection,
    account_ids: &[String],
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<Hour>, StoreError> {
    Ok(sqlx::query_as!(
        Hour,
        r#"SELECT date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS "hour!", count(*) AS "requests!",
                  coalesce(sum(prompt_tokens), 0)::bigint AS "prompt_tokens!",
                  coalesce(sum(completion_tokens), 0)::bigint AS "completion_tokens!"
           FROM events WHERE account_id = ANY($1) AND ts >= $2 AND ts < $3
           GROUP BY 1 ORDER BY 1"#,
        account_ids,
        from,
        to
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Some of an account's events by id (those that exist), oldest first.
pub async fn events_by_id(
    conn: &mut PgConnection,
    account_id: &str,
    event_ids: &[String],
) -> Result<Vec<EventView>, StoreError> {
    Ok(sqlx::query_as!(
        EventView,
        r#"SELECT event_id, ts, model, prompt, system_prompt, completion, finish_reason, temperature, max_tokens, n,
                  logprobs, prompt_tokens, completion_tokens, host(client_ip) AS client_ip, user_agent
           FROM events WHERE account_id = $1 AND event_id = ANY($2)
           ORDER BY ts, event_id"#,
        account_id,
        event_ids
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// A cluster an audit found, with its members' combined numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterView {
    /// The cluster.
    pub cluster_id: String,
    /// What its members share, in words.
    pub reason: String,
    /// How many accounts.
    pub members: i64,
    /// How many of them flagged.
    pub flagged: i64,
    /// Its members' requests in the audit's window.
    pub requests: i64,
    /// Its riskiest member's risk.
    pub max_risk: f64,
    /// Its members' mean risk.
    pub mean_risk: f64,
    /// Its flag's id and status, when flagged.
    pub flag_id: Option<i64>,
    /// See `flag_id`.
    pub flag_status: Option<FlagStatus>,
}

/// A cluster as the database returns it.
struct ClusterRow {
    cluster_id: String,
    reason: String,
    members: i64,
    flagged: i64,
    requests: i64,
    max_risk: f64,
    mean_risk: f64,
    flag_id: Option<i64>,
    flag_status: Option<String>,
}

impl TryFrom<ClusterRow> for ClusterView {
    type Error = StoreError;

    fn try_from(r: ClusterRow) -> Result<Self, StoreError> {
        let flag_status = r
            .flag_status
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("flags.status of cluster {:?}: {e}", r.cluster_id)))?;
        Ok(ClusterView {
            cluster_id: r.cluster_id,
            reason: r.reason,
            members: r.members,
            flagged: r.flagged,
            requests: r.requests,
            max_risk: r.max_risk,
            mean_risk: r.mean_risk,
            flag_id: r.flag_id,
            flag_status,
        })
    }
}

/// An audit's clusters, largest first (then by id), at most `limit`, after
/// the cluster `after` (its size and id); only those with a flagged member
/// when `flagged_only`.
pub async fn clusters(
    conn: &mut PgConnection,
    audit_id: i64,
    flagged_only: bool,
    after: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<ClusterView>, StoreError> {
    let (after_size, after_id) = after.unzip();
    sqlx::query_as!(
        ClusterRow,
        r#"WITH c AS (
               SELECT k.cluster_id, k.reason, count(*) AS members, count(*) FILTER (WHERE s.flagged) AS flagged,
                      coalesce(sum(s.requests), 0)::bigint AS requests, max(s.risk) AS max_risk, avg(s.risk) AS mean_risk
               FROM audit_clusters k JOIN audit_scores s ON s.audit_id = k.audit_id AND s.cluster_id = k.cluster_id
               WHERE k.audit_id = $1
               GROUP BY k.cluster_id, k.reason)
           SELECT c.cluster_id, c.reason, c.members AS "members!", c.flagged AS "flagged!", c.requests AS "requests!",
                  c.max_risk AS "max_risk!", c.mean_risk AS "mean_risk!",
                  f.flag_id AS "flag_id?", f.status AS "flag_status?"
           FROM c LEFT JOIN flags f ON f.subject_kind = 'cluster' AND f.subject_id = c.cluster_id
           WHERE (NOT $2 OR c.flagged > 0)
             AND ($3::bigint IS NULL OR c.members < $3 OR (c.members = $3 AND c.cluster_id > $4))
           ORDER BY c.members DESC, c.cluster_id LIMIT $5"#,
        audit_id,
        flagged_only,
        after_size,
        after_id,
        limit
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(ClusterView::try_from)
    .collect()
}

/// One cluster of an audit, `None` when the audit found no such cluster.
pub async fn cluster(
    conn: &mut PgConnection,
    audit_id: i64,
    cluster_id: &str,
) -> Result<Option<ClusterView>, StoreError> {
    sqlx::query_as!(
        ClusterRow,
        r#"SELECT k.cluster_id, k.reason, count(*) AS "members!", count(*) FILTER (WHERE s.flagged) AS "flagged!",
                  coalesce(sum(s.requests), 0)::bigint AS "requests!", max(s.risk) AS "max_risk!",
                  avg(s.risk) AS "mean_risk!", max(f.flag_id) AS "flag_id?", max(f.status) AS "flag_status?"
           FROM audit_clusters k JOIN audit_scores s ON s.audit_id = k.audit_id AND s.cluster_id = k.cluster_id
           LEFT JOIN flags f ON f.subject_kind = 'cluster' AND f.subject_id = k.cluster_id
           WHERE k.audit_id = $1 AND k.cluster_id = $2
           GROUP BY k.cluster_id, k.reason"#,
        audit_id,
        cluster_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(ClusterView::try_from)
    .transpose()
}
