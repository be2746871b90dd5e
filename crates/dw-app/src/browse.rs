//! What analysts read about accounts: the scored accounts of an audit
//! (filtered, sorted, paged), one account's profile with its score, flags and
//! allowlist entry, its events and its hourly timeline.

use dw_domain::{AccountAttributes, SubjectKind};
use dw_store::account_views::{self, AccountFilter, AccountSort, ClusterView, EventView, Hour, ScoredAccount, Seen};
use dw_store::allowlist::Allowed;
use dw_store::flags::Flag;
use time::OffsetDateTime;

use crate::{App, AppError};

/// Everything about one account an analyst starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountProfile {
    /// The account.
    pub account_id: String,
    /// When ingest saw it first and last, and its organization.
    pub seen: Seen,
    /// What the provider imported about it.
    pub attributes: Option<AccountAttributes>,
    /// The audit its score comes from.
    pub audit_id: Option<i64>,
    /// Its score in that audit, when it was active in its window.
    pub score: Option<ScoredAccount>,
    /// Its own flag.
    pub flag: Option<Flag>,
    /// Its cluster's flag, when its cluster is flagged.
    pub cluster_flag: Option<Flag>,
    /// Its allowlist entry, when it has one.
    pub allowlisted: Option<Allowed>,
}

/// A cluster with its members and what drives their scores.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterDetail {
    /// The audit it was found in.
    pub audit_id: i64,
    /// Its numbers and reason.
    pub cluster: ClusterView,
    /// Its members, riskiest first.
    pub members: Vec<ScoredAccount>,
    /// The signals among the members' largest contributions: name, how many
    /// members have it there, their mean contribution; most common first.
    pub signals: Vec<(String, usize, f64)>,
    /// The edges that join it, the strongest first (empty for audits
    /// published before they were kept).
    pub edges: Vec<dw_detect::linking::NamedEdge>,
}

impl App {
    /// A page of an audit's clusters, largest first.
    pub async fn clusters(
        &self,
        audit_id: i64,
        flagged_only: bool,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<ClusterView>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(account_views::clusters(&mut conn, audit_id, flagged_only, after, limit).await?)
    }

    /// One cluster of an audit (the latest finished one when `None`) with its
    /// members and their signals. `NotFound` when the audit found no such cluster.
    pub async fn cluster_detail(&self, cluster_id: &str, audit: Option<i64>) -> Result<ClusterDetail, AppError> {
        let audit_id = match audit {
            Some(id) => id,
            None => self.latest_audit_id().await?,
        };
        let mut conn = self.pool.acquire().await?;
        let cluster = account_views::cluster(&mut conn, audit_id, cluster_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("cluster {cluster_id:?} in audit {audit_id}")))?;
        let filter = AccountFilter {
            audit_id,
            min_risk: None,
            level: None,
            flagged: None,
            cluster_id: Some(cluster_id),
            model: None,
            active_from: None,
            active_to: None,
            sort: AccountSort::Risk,
            after: None,
            limit: i64::MAX,
        };
        let members = account_views::scored(&mut conn, &filter).await?;
        let mut by_signal: std::collections::BTreeMap<String, (usize, f64)> = Default::default();
        for m in &members {
            for top in &m.top_signals {
                let entry = by_signal.entry(top.signal.clone()).or_default();
                entry.0 += 1;
                entry.1 += top.contribution;
            }
        }
        let mut signals: Vec<(String, usize, f64)> =
            by_signal.into_iter().map(|(name, (n, sum))| (name, n, sum / n as f64)).collect();
        signals.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.total_cmp(&a.2)).then(a.0.cmp(&b.0)));
        let edges = match dw_store::audits::cluster_edges(&mut conn, audit_id, cluster_id).await? {
            Some(stored) => serde_json::from_value(stored).map_err(|e| {
                AppError::Internal(format!("cluster {cluster_id:?}: its stored edges are unreadable: {e}"))
            })?,
            None => Vec::new(),
        };
        Ok(ClusterDetail { audit_id, cluster, members, signals, edges })
    }

    /// The audit analysts' views read by default: the latest finished audit
    /// that was not a dry run. `NotFound` before the first one.
    pub async fn latest_audit_id(&self) -> Result<i64, AppError> {
        let mut conn = self.pool.acquire().await?;
        account_views::latest_audit(&mut conn)
            .await?
            .ok_or_else(|| AppError::NotFound("a finished audit (run one first)".into()))
    }

    /// A page of an audit's scored accounts, as the filter says.
    pub async fn scored_accounts(&self, filter: &AccountFilter<'_>) -> Result<Vec<ScoredAccount>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(account_views::scored(&mut conn, filter).await?)
    }

    /// One account's profile, with its score in `audit` (the latest finished
    /// audit when `None`). `NotFound` for an account no event named.
    pub async fn account_profile(&self, account_id: &str, audit: Option<i64>) -> Result<AccountProfile, AppError> {
        let mut conn = self.pool.acquire().await?;
        let seen = account_views::seen(&mut conn, account_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("account {account_id:?}")))?;
        let audit_id = match audit {
            Some(id) => Some(id),
            None => account_views::latest_audit(&mut conn).await?,
        };
        let score = match audit_id {
            Some(id) => account_views::scored_one(&mut conn, id, account_id).await?,
            None => None,
        };
        let ids = [account_id.to_owned()];
        let selection = dw_store::activity::Selection {
            accounts: Some(&ids),
            ..dw_store::activity::Selection::window(seen.first_seen, seen.last_seen + time::Duration::SECOND)
        };
        let attributes = dw_store::attributes::for_selection(&mut conn, selection).await?.remove(account_id);
        let mut subjects = vec![(SubjectKind::Account, account_id)];
        if let Some(cluster) = score.as_ref().and_then(|s| s.cluster_id.as_deref()) {
            subjects.push((SubjectKind::Cluster, cluster));
        }
        let mut flags = dw_store::flags::for_subjects(&mut conn, &subjects).await?;
        let flag = flags.remove(&(SubjectKind::Account, account_id.to_owned()));
        let cluster_flag = flags.into_values().next();
        let allowlisted = dw_store::allowlist::list(&mut conn, true, OffsetDateTime::now_utc())
            .await?
            .into_iter()
            .find(|a| a.account_id == account_id);
        Ok(AccountProfile {
            account_id: account_id.to_owned(),
            seen,
            attributes,
            audit_id,
            score,
            flag,
            cluster_flag,
            allowlisted,
        })
    }

    /// A page of an account's events in `[from, to)`, oldest first, as
    /// `actor` reads them: raw prompts and completions, so the read is on
    /// record in the audit log (`account.events.read`), in the same
    /// transaction.
    pub async fn account_events(
        &self,
        account_id: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
        after: Option<(OffsetDateTime, String)>,
        limit: i64,
        actor: &crate::Actor,
    ) -> Result<Vec<EventView>, AppError> {
        let mut tx = self.pool.begin().await?;
        self.known(&mut tx, account_id).await?;
        let events = account_views::events(&mut tx, account_id, from, to, after, limit).await?;
        let rfc3339 = |t: OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).ok();
        dw_store::audit_log::append(
            &mut tx,
            &dw_store::audit_log::NewEntry {
                actor: &actor.name,
                role: &actor.role,
                action: "account.events.read",
                target: &format!("account:{account_id}"),
                before: None,
                after: Some(serde_json::json!({"from": rfc3339(from), "to": rfc3339(to), "fetched": events.len()})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(events)
    }

    /// Several accounts' hourly requests and tokens in `[from, to)`, added up
    /// (a cluster's combined activity).
    pub async fn combined_timeline(
        &self,
        account_ids: &[String],
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<Hour>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(account_views::combined_timeline(&mut conn, account_ids, from, to).await?)
    }

    /// An account's hourly requests and tokens in `[from, to)`.
    pub async fn account_timeline(
        &self,
        account_id: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<Hour>, AppError> {
        let mut conn = self.pool.acquire().await?;
        self.known(&mut conn, account_id).await?;
        Ok(account_views::timeline(&mut conn, account_id, from, to).await?)
    }

    async fn known(&self, conn: &mut sqlx::PgConnection, account_id: &str) -> Result<Seen, AppError> {
        account_views::seen(conn, account_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("account {account_id:?}")))
    }
}
