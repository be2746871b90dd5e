//! Flags on accounts and clusters, and their history.

use std::collections::HashMap;

use dw_domain::{CaseAction, FlagStatus, RiskLevel, SubjectKind};
use serde_json::Value;
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::StoreError;

/// What an audit writes into a flag.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagWrite {
    /// What it is about.
    pub subject_kind: SubjectKind,
    /// The account or cluster id.
    pub subject_id: String,
    /// The subject's risk.
    pub risk: f64,
    /// Its level.
    pub level: RiskLevel,
    /// The signals that fired, sorted.
    pub fired: Vec<String>,
    /// Why, in one line.
    pub reason: String,
    /// The evidence bundle.
    pub evidence: Value,
}

/// A stored flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    /// Its id.
    pub id: i64,
    /// What it is about.
    pub subject_kind: SubjectKind,
    /// The account or cluster id.
    pub subject_id: String,
    /// Where it stands.
    pub status: FlagStatus,
    /// Who works the case.
    pub assignee: Option<String>,
    /// The latest risk.
    pub risk: f64,
    /// The latest level.
    pub level: RiskLevel,
    /// The signals that fired, sorted.
    pub fired: Vec<String>,
    /// Why, in one line.
    pub reason: String,
    /// The evidence bundle of the latest audit that flagged it.
    pub evidence: Value,
    /// The audit that opened it.
    pub first_audit_id: i64,
    /// The latest audit that flagged it.
    pub last_audit_id: i64,
    /// When it was opened.
    pub opened_at: OffsetDateTime,
    /// When an audit last changed it.
    pub updated_at: OffsetDateTime,
    /// When an analyst decided on it.
    pub decided_at: Option<OffsetDateTime>,
    /// Who decided.
    pub decided_by: Option<String>,
    /// Their note.
    pub decision_note: Option<String>,
    /// Its risk when dismissed.
    pub dismissed_risk: Option<f64>,
    /// The signals that had fired when it was dismissed.
    pub dismissed_fired: Option<Vec<String>>,
    /// Why it was opened again after a dismissal.
    pub reopened_because: Option<String>,
}

/// A flag as the database returns it: names not yet read into their types.
struct FlagRow {
    id: i64,
    subject_kind: String,
    subject_id: String,
    status: String,
    assignee: Option<String>,
    risk: f64,
    level: String,
    fired: Vec<String>,
    reason: String,
    evidence: Value,
    first_audit_id: i64,
    last_audit_id: i64,
    opened_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    decided_at: Option<OffsetDateTime>,
    decided_by: Option<String>,
    decision_note: Option<String>,
    dismissed_risk: Option<f64>,
    dismissed_fired: Option<Vec<String>>,
    reopened_because: Option<String>,
}

/// Reads a stored name into its type; a name the type does not know is
/// corrupt data, named with its column.
fn named<T: std::str::FromStr<Err = E>, E: std::fmt::Display>(column: &str, value: &str) -> Result<T, StoreError> {
    value.parse().map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

impl TryFrom<FlagRow> for Flag {
    type Error = StoreError;

    fn try_from(r: FlagRow) -> Result<Self, StoreError> {
        Ok(Flag {
            id: r.id,
            subject_kind: named("flags.subject_kind", &r.subject_kind)?,
            subject_id: r.subject_id,
            status: named("flags.status", &r.status)?,
            assignee: r.assignee,
            risk: r.risk,
            level: named("flags.level", &r.level)?,
            fired: r.fired,
            reason: r.reason,
            evidence: r.evidence,
            first_audit_id: r.first_audit_id,
            last_audit_id: r.last_audit_id,
            opened_at: r.opened_at,
            updated_at: r.updated_at,
            decided_at: r.decided_at,
            decided_by: r.decided_by,
            decision_note: r.decision_note,
            dismissed_risk: r.dismissed_risk,
            dismissed_fired: r.dismissed_fired,
            reopened_because: r.reopened_because,
        })
    }
}

/// One entry of a flag's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// When.
    pub at: OffsetDateTime,
    /// What happened: opened, updated or reopened by an audit; escalated,
    /// dismissed, confirmed, reopened, assigned or noted by an analyst.
    pub action: CaseAction,
    /// The audit, for the actions of audits.
    pub audit_id: Option<i64>,
    /// The risk then.
    pub risk: Option<f64>,
    /// The analyst, for analysts' actions.
    pub actor: Option<String>,
    /// A note: the analyst's, or why a flag reopened.
    pub note: Option<String>,
}

struct HistoryRow {
    at: OffsetDateTime,
    action: String,
    audit_id: Option<i64>,
    risk: Option<f64>,
    actor: Option<String>,
    note: Option<String>,
}

/// The flags of these subjects, by (kind, id).
pub async fn for_subjects(
    conn: &mut PgConnection,
    subjects: &[(SubjectKind, &str)],
) -> Result<HashMap<(SubjectKind, String), Flag>, StoreError> {
    let kinds: Vec<&str> = subjects.iter().map(|s| s.0.as_str()).collect();
    let ids: Vec<&str> = subjects.iter().map(|s| s.1).collect();
    let rows = sqlx::query_as!(
        FlagRow,
        r#"SELECT f.flag_id AS id, subject_kind, subject_id, status, assignee, risk, level, fired, reason, evidence,
                  first_audit_id, last_audit_id, opened_at, updated_at, decided_at, decided_by, decision_note,
                  dismissed_risk, dismissed_fired, reopened_because
           FROM flags f JOIN unnest($1::text[], $2::text[]) AS s(k, i) ON f.subject_kind = s.k AND f.subject_id = s.i"#,
        &kinds as &[&str],
        &ids as &[&str]
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            let flag = Flag::try_from(row)?;
            Ok(((flag.subject_kind, flag.subject_id.clone()), flag))
        })
        .collect()
}

/// Opens a flag for a subject that has none.
pub async fn open(conn: &mut PgConnection, write: &FlagWrite, audit_id: i64) -> Result<i64, StoreError> {
    let id = sqlx::query_scalar!(
        r#"INSERT INTO flags (subject_kind, subject_id, status, risk, level, fired, reason, evidence,
                              first_audit_id, last_audit_id)
           VALUES ($1, $2, 'open', $3, $4, $5, $6, $7, $8, $8) RETURNING flag_id"#,
        write.subject_kind.as_str(),
        write.subject_id,
        write.risk,
        write.level.as_str(),
        &write.fired,
        write.reason,
        write.evidence,
        audit_id
    )
    .fetch_one(&mut *conn)
    .await?;
    history(conn, id, CaseAction::Opened, Some(audit_id), Some(write.risk), None, None).await?;
    Ok(id)
}

/// Refreshes a flag's risk and evidence; `reopen` (with the reason) opens a
/// dismissed flag again.
pub async fn refresh(
    conn: &mut PgConnection,
    id: i64,
    write: &FlagWrite,
    audit_id: i64,
    reopen: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query!(
        r#"UPDATE flags SET risk = $2, level = $3, fired = $4, reason = $5, evidence = $6, last_audit_id = $7,
                  updated_at = now(),
                  status = CASE WHEN $8::text IS NULL THEN status ELSE 'open' END,
                  reopened_because = coalesce($8, reopened_because)
           WHERE flag_id = $1"#,
        id,
        write.risk,
        write.level.as_str(),
        &write.fired,
        write.reason,
        write.evidence,
        audit_id,
        reopen
    )
    .execute(&mut *conn)
    .await?;
    let action = if reopen.is_some() { CaseAction::Reopened } else { CaseAction::Updated };
    history(conn, id, action, Some(audit_id), Some(write.risk), None, reopen).await
}

/// Moves a flag to `status` for an analyst (the move is checked by the
/// caller): a dismissal keeps the risk and the fired signals it is later
/// measured against; a decision (dismissed, confirmed) records who and
/// when; reopening clears both. The history gets the move with its note.
pub async fn set_status(
    conn: &mut PgConnection,
    id: i64,
    status: FlagStatus,
    actor: &str,
    note: Option<&str>,
) -> Result<(), StoreError> {
    let row = sqlx::query!(
        r#"UPDATE flags SET status = $2,
                  decided_at = CASE WHEN $2 IN ('dismissed', 'confirmed') THEN now() END,
                  decided_by = CASE WHEN $2 IN ('dismissed', 'confirmed') THEN $3 END,
                  decision_note = CASE WHEN $2 IN ('dismissed', 'confirmed') THEN $4 END,
                  dismissed_risk = CASE WHEN $2 = 'dismissed' THEN risk END,
                  dismissed_fired = CASE WHEN $2 = 'dismissed' THEN fired END,
                  reopened_because = CASE WHEN $2 = 'open' THEN 'reopened by ' || $3 ELSE reopened_because END
           WHERE flag_id = $1 RETURNING risk"#,
        id,
        status.as_str(),
        actor,
        note
    )
    .fetch_one(&mut *conn)
    .await?;
    history(conn, id, status.action(), None, Some(row.risk), Some(actor), note).await
}

/// Assigns a flag (or takes its assignee away, with `None`).
pub async fn set_assignee(
    conn: &mut PgConnection,
    id: i64,
    assignee: Option<&str>,
    actor: &str,
) -> Result<(), StoreError> {
    sqlx::query!("UPDATE flags SET assignee = $2 WHERE flag_id = $1", id, assignee).execute(&mut *conn).await?;
    let note = match assignee {
        Some(who) => format!("assigned to {who}"),
        None => "unassigned".to_owned(),
    };
    history(conn, id, CaseAction::Assigned, None, None, Some(actor), Some(&note)).await
}

/// Adds an analyst's note to a flag's history.
pub async fn add_note(conn: &mut PgConnection, id: i64, actor: &str, note: &str) -> Result<(), StoreError> {
    history(conn, id, CaseAction::Noted, None, None, Some(actor), Some(note)).await
}

/// A flag by id, locked until the transaction ends (an analyst's change
/// reads and writes it under the lock, so two changes never interleave).
pub async fn lock(conn: &mut PgConnection, id: i64) -> Result<Option<Flag>, StoreError> {
    sqlx::query_as!(
        FlagRow,
        r#"SELECT flag_id AS id, subject_kind, subject_id, status, assignee, risk, level, fired, reason, evidence,
                  first_audit_id, last_audit_id, opened_at, updated_at, decided_at, decided_by, decision_note,
                  dismissed_risk, dismissed_fired, reopened_because
           FROM flags WHERE flag_id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(Flag::try_from)
    .transpose()
}

/// A flag by id.
pub async fn get(conn: &mut PgConnection, id: i64) -> Result<Option<Flag>, StoreError> {
    sqlx::query_as!(
        FlagRow,
        r#"SELECT flag_id AS id, subject_kind, subject_id, status, assignee, risk, level, fired, reason, evidence,
                  first_audit_id, last_audit_id, opened_at, updated_at, decided_at, decided_by, decision_note,
                  dismissed_risk, dismissed_fired, reopened_because
           FROM flags WHERE flag_id = $1"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(Flag::try_from)
    .transpose()
}

/// Which flags, and which page of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlagFilter<'a> {
    /// Only of this status.
    pub status: Option<FlagStatus>,
    /// Only at this level.
    pub level: Option<RiskLevel>,
    /// Only assigned to this analyst.
    pub assignee: Option<&'a str>,
    /// Only about accounts or only about clusters.
    pub subject_kind: Option<SubjectKind>,
    /// Only opened before this instant (older flags).
    pub opened_before: Option<OffsetDateTime>,
    /// The page after this flag (its risk and id): flags come riskiest
    /// first, then by id, so a page boundary never repeats or skips one.
    pub after: Option<(f64, i64)>,
    /// At most this many.
    pub limit: i64,
}

/// Flags, riskiest first (then by id), as the filter says.
pub async fn list(conn: &mut PgConnection, filter: &FlagFilter<'_>) -> Result<Vec<Flag>, StoreError> {
    let (after_risk, after_id) = filter.after.unzip();
    sqlx::query_as!(
        FlagRow,
        r#"SELECT flag_id AS id, subject_kind, subject_id, status, assignee, risk, level, fired, reason, evidence,
                  first_audit_id, last_audit_id, opened_at, updated_at, decided_at, decided_by, decision_note,
                  dismissed_risk, dismissed_fired, reopened_because
           FROM flags
           WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR level = $2)
             AND ($3::text IS NULL OR assignee = $3) AND ($4::text IS NULL OR subject_kind = $4)
             AND ($5::float8 IS NULL OR risk < $5 OR (risk = $5 AND flag_id > $6))
             AND ($8::timestamptz IS NULL OR opened_at < $8)
           ORDER BY risk DESC, flag_id LIMIT $7"#,
        filter.status.map(FlagStatus::as_str),
        filter.level.map(RiskLevel::as_str),
        filter.assignee,
        filter.subject_kind.map(SubjectKind::as_str),
        after_risk,
        after_id,
        filter.limit,
        filter.opened_before
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(Flag::try_from)
    .collect()
}

/// How many flags there are of each status and level.
pub async fn counts(conn: &mut PgConnection) -> Result<Vec<(FlagStatus, RiskLevel, i64)>, StoreError> {
    let rows = sqlx::query!(r#"SELECT status, level, count(*) AS "n!" FROM flags GROUP BY status, level"#)
        .fetch_all(&mut *conn)
        .await?;
    rows.into_iter().map(|r| Ok((named("flags.status", &r.status)?, named("flags.level", &r.level)?, r.n))).collect()
}

/// A flag's history, oldest first.
pub async fn history_of(conn: &mut PgConnection, id: i64) -> Result<Vec<HistoryEntry>, StoreError> {
    sqlx::query_as!(
        HistoryRow,
        r#"SELECT at, action, audit_id, risk, actor, note FROM flag_history WHERE flag_id = $1 ORDER BY entry_id"#,
        id
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(HistoryEntry {
            at: r.at,
            action: named("flag_history.action", &r.action)?,
            audit_id: r.audit_id,
            risk: r.risk,
            actor: r.actor,
            note: r.note,
        })
    })
    .collect()
}

async fn history(
    conn: &mut PgConnection,
    id: i64,
    action: CaseAction,
    audit_id: Option<i64>,
    risk: Option<f64>,
    actor: Option<&str>,
    note: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query!(
        r#"INSERT INTO flag_history (flag_id, action, audit_id, risk, actor, note) VALUES ($1, $2, $3, $4, $5, $6)"#,
        id,
        action.as_str(),
        audit_id,
        risk,
        actor,
        note
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The flags not refreshed by any audit since `before` whose evidence still
/// quotes prompts (retention has not expired it yet): id and evidence.
pub async fn stale_evidence(
    conn: &mut PgConnection,
    before: OffsetDateTime,
) -> Result<Vec<(i64, serde_json::Value)>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT flag_id, evidence FROM flags
           WHERE updated_at < $1 AND NOT (evidence ? 'excerpts_expired')
           ORDER BY flag_id"#,
        before
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.flag_id, r.evidence)).collect())
}

/// Replaces a flag's evidence (retention's expired copy), leaving the rest of
/// the flag and its `updated_at` as they were.
pub async fn replace_evidence(
    conn: &mut PgConnection,
    id: i64,
    evidence: &serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query!("UPDATE flags SET evidence = $2 WHERE flag_id = $1", id, evidence).execute(&mut *conn).await?;
    Ok(())
}
