//! Audit jobs: queued, claimed under a lease, published in one transaction.

use dw_domain::{AccountScore, JobState};
use serde_json::Value;
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::StoreError;

/// What an audit covers and how it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSpec {
    /// Window start (inclusive).
    pub from: OffsetDateTime,
    /// Window end (exclusive).
    pub to: OffsetDateTime,
    /// Only these accounts, when given.
    pub accounts: Option<Vec<String>>,
    /// Only this model, when given.
    pub model: Option<String>,
    /// Scores only: no flag is opened, updated or reopened.
    pub dry_run: bool,
    /// Who asked (`cli`, `api:<key prefix>`, `schedule`).
    pub requested_by: String,
}

/// A stored audit.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    /// Its id.
    pub id: i64,
    /// What it covers.
    pub spec: AuditSpec,
    /// Where it stands.
    pub state: JobState,
    /// Times it was claimed.
    pub attempts: i32,
    /// What it is doing (`{"stage": ...}`).
    pub progress: Value,
    /// What it found, once done.
    pub summary: Option<Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was queued.
    pub created_at: OffsetDateTime,
    /// When it was last claimed.
    pub started_at: Option<OffsetDateTime>,
    /// When it ended.
    pub finished_at: Option<OffsetDateTime>,
}

struct AuditRow {
    audit_id: i64,
    window_from: OffsetDateTime,
    window_to: OffsetDateTime,
    accounts: Option<Vec<String>>,
    model: Option<String>,
    dry_run: bool,
    requested_by: String,
    state: String,
    attempts: i32,
    progress: Value,
    summary: Option<Value>,
    error: Option<String>,
    created_at: OffsetDateTime,
    started_at: Option<OffsetDateTime>,
    finished_at: Option<OffsetDateTime>,
}

impl TryFrom<AuditRow> for Audit {
    type Error = StoreError;

    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(Audit {
            id: r.audit_id,
            spec: AuditSpec {
                from: r.window_from,
                to: r.window_to,
                accounts: r.accounts,
                model: r.model,
                dry_run: r.dry_run,
                requested_by: r.requested_by,
            },
            state: r
                .state
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("audits.state of audit {}: {e}", r.audit_id)))?,
            attempts: r.attempts,
            progress: r.progress,
            summary: r.summary,
            error: r.error,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        })
    }
}

/// Queues an audit; returns its id.
pub async fn enqueue(conn: &mut PgConnection, spec: &AuditSpec) -> Result<i64, StoreError> {
    let id = sqlx::query_scalar!(
        r#"INSERT INTO audits (window_from, window_to, accounts, model, dry_run, requested_by)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING audit_id"#,
        spec.from,
        spec.to,
        spec.accounts.as_deref() as Option<&[String]>,
        spec.model,
        spec.dry_run,
        spec.requested_by
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

// Claiming, heartbeats, failing and finishing: `crate::queue` (`Queue::Audits`).

/// An audit by id.
pub async fn get(conn: &mut PgConnection, id: i64) -> Result<Option<Audit>, StoreError> {
    let row = sqlx::query_as!(
        AuditRow,
        r#"SELECT audit_id, window_from, window_to, accounts, model, dry_run, requested_by, state,
                  attempts, progress, summary, error, created_at, started_at, finished_at
           FROM audits WHERE audit_id = $1"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(Audit::try_from).transpose()
}

/// Audits before `before` (an audit id; `None`: the newest), newest first,
/// at most `limit`.
pub async fn recent(conn: &mut PgConnection, before: Option<i64>, limit: i64) -> Result<Vec<Audit>, StoreError> {
    sqlx::query_as!(
        AuditRow,
        r#"SELECT audit_id, window_from, window_to, accounts, model, dry_run, requested_by, state,
                  attempts, progress, summary, error, created_at, started_at, finished_at
           FROM audits WHERE ($1::bigint IS NULL OR audit_id < $1)
           ORDER BY audit_id DESC LIMIT $2"#,
        before,
        limit
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(Audit::try_from)
    .collect()
}

/// An account's scores in the finished audits that scored it, newest first,
/// at most `limit`: (audit id, its window's end, risk, level, flagged).
pub async fn account_history(
    conn: &mut PgConnection,
    account_id: &str,
    limit: i64,
) -> Result<Vec<(i64, OffsetDateTime, f64, String, bool)>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT s.audit_id, a.window_to, s.risk, s.level, s.flagged
           FROM audit_scores s JOIN audits a ON a.audit_id = s.audit_id
           WHERE s.account_id = $1 AND a.state = 'done'
           ORDER BY s.audit_id DESC LIMIT $2"#,
        account_id,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.audit_id, r.window_to, r.risk, r.level, r.flagged)).collect())
}

/// Serializes schedulers until the caller's transaction ends.
pub async fn lock_schedule(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtext('distillwatch.audit_schedule'))").fetch_one(&mut *conn).await?;
    Ok(())
}

/// The end of the latest window audited at the request of `requested_by`.
pub async fn latest_window_end(
    conn: &mut PgConnection,
    requested_by: &str,
) -> Result<Option<OffsetDateTime>, StoreError> {
    Ok(sqlx::query_scalar!(r#"SELECT max(window_to) AS "latest" FROM audits WHERE requested_by = $1"#, requested_by)
        .fetch_one(&mut *conn)
        .await?)
}

/// Writes an audit's scores, in the caller's publishing transaction.
pub async fn store_scores(
    conn: &mut PgConnection,
    id: i64,
    scores: &[AccountScore],
    requests: &[i64],
) -> Result<(), StoreError> {
    if scores.len() != requests.len() {
        return Err(StoreError::Corrupt(format!("{} scores for {} request counts", scores.len(), requests.len())));
    }
    for (chunk, counts) in scores.chunks(5_000).zip(requests.chunks(5_000)) {
        let accounts: Vec<&str> = chunk.iter().map(|s| s.account_id.as_str()).collect();
        let risks: Vec<f64> = chunk.iter().map(|s| s.risk).collect();
        let levels: Vec<&str> = chunk.iter().map(|s| s.level.as_str()).collect();
        let flagged: Vec<bool> = chunk.iter().map(|s| s.flagged).collect();
        let clusters: Vec<Option<&str>> = chunk.iter().map(|s| s.cluster_id.as_deref()).collect();
        let signals: Vec<Value> = chunk
            .iter()
            .map(|s| serde_json::to_value(&s.top_signals).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect::<Result<_, _>>()?;
        sqlx::query!(
            r#"INSERT INTO audit_scores (audit_id, account_id, risk, level, flagged, cluster_id, top_signals, requests)
               SELECT $1, a, r, l, f, c, s, n
               FROM unnest($2::text[], $3::float8[], $4::text[], $5::bool[], $6::text[], $7::jsonb[], $8::bigint[])
                    AS u(a, r, l, f, c, s, n)"#,
            id,
            &accounts as &[&str],
            &risks,
            &levels as &[&str],
            &flagged,
            &clusters as &[Option<&str>],
            &signals,
            counts
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Writes the clusters an audit found, with their reasons, in the caller's
/// publishing transaction.
pub async fn store_clusters(
    conn: &mut PgConnection,
    id: i64,
    clusters: &[(String, String, Value)],
) -> Result<(), StoreError> {
    let ids: Vec<&str> = clusters.iter().map(|c| c.0.as_str()).collect();
    let reasons: Vec<&str> = clusters.iter().map(|c| c.1.as_str()).collect();
    let edges: Vec<Value> = clusters.iter().map(|c| c.2.clone()).collect();
    sqlx::query!(
        r#"INSERT INTO audit_clusters (audit_id, cluster_id, reason, edges)
           SELECT $1, c, r, e FROM unnest($2::text[], $3::text[], $4::jsonb[]) AS u(c, r, e)"#,
        id,
        &ids as &[&str],
        &reasons as &[&str],
        &edges as &[Value]
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The edges an audit kept of one of its clusters (empty for audits
/// published before they were kept), `None` when it found no such cluster.
pub async fn cluster_edges(conn: &mut PgConnection, id: i64, cluster_id: &str) -> Result<Option<Value>, StoreError> {
    Ok(sqlx::query_scalar!("SELECT edges FROM audit_clusters WHERE audit_id = $1 AND cluster_id = $2", id, cluster_id)
        .fetch_optional(&mut *conn)
        .await?)
}

/// An audit's stored scores, by account.
pub async fn scores(conn: &mut PgConnection, id: i64) -> Result<Vec<AccountScore>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT account_id, risk, level, flagged, cluster_id, top_signals
           FROM audit_scores WHERE audit_id = $1 ORDER BY account_id"#,
        id
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(AccountScore {
                level: r
                    .level
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("audit_scores.level {:?}: {e}", r.level)))?,
                top_signals: serde_json::from_value(r.top_signals)
                    .map_err(|e| StoreError::Corrupt(format!("audit_scores.top_signals: {e}")))?,
                account_id: r.account_id,
                risk: r.risk,
                flagged: r.flagged,
                cluster_id: r.cluster_id,
            })
        })
        .collect()
}
