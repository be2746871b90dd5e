//! The allowlist admins manage (licensed distillers, evaluation partners):
//! its accounts keep their scores and clusters but are never flagged. Audits
//! take the entries in force when they run, beside the configured
//! `[detect.flags] allowlist`.

use dw_detect::DetectConfig;
use dw_store::allowlist::{self, Allowed};
use dw_store::audit_log::{self, NewEntry};
use time::OffsetDateTime;

use crate::{Actor, App, AppError};

impl App {
    /// Allowlists an account (or replaces its entry) for `reason`, until
    /// `expires_at` when given (which must lie ahead), on record as `actor`'s.
    pub async fn allow_account(
        &self,
        account_id: &str,
        reason: &str,
        expires_at: Option<OffsetDateTime>,
        actor: &Actor,
    ) -> Result<Allowed, AppError> {
        let account_id = account_id.trim();
        if account_id.is_empty() || account_id.chars().count() > 200 {
            return Err(AppError::Invalid("account_id: 1 to 200 characters".into()));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 2_000 {
            return Err(AppError::Invalid(
                "reason: say why the account may distill (a licence, a partnership), at most 2000 characters".into(),
            ));
        }
        if let Some(at) = expires_at
            && at <= OffsetDateTime::now_utc()
        {
            return Err(AppError::Invalid(format!("expires_at: {at} is not in the future")));
        }
        let mut tx = self.pool.begin().await?;
        let (before, after) = allowlist::put(&mut tx, account_id, reason, expires_at, &actor.name).await?;
        record(&mut tx, actor, "allowlist.add", account_id, before.as_ref(), Some(&after)).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Takes an account off the allowlist; `NotFound` when it is not on it.
    pub async fn disallow_account(&self, account_id: &str, actor: &Actor) -> Result<Allowed, AppError> {
        let mut tx = self.pool.begin().await?;
        let removed = allowlist::remove(&mut tx, account_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("allowlisted account {account_id:?}")))?;
        record(&mut tx, actor, "allowlist.remove", account_id, Some(&removed), None).await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// The allowlist: entries in force, or every entry with `with_expired`.
    pub async fn allowlist(&self, with_expired: bool) -> Result<Vec<Allowed>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(allowlist::list(&mut conn, with_expired, OffsetDateTime::now_utc()).await?)
    }

    /// The detector configuration an audit starting now runs with: the
    /// configured one, its allowlist joined by the entries in force.
    pub(crate) async fn detect_config_now(&self, conn: &mut sqlx::PgConnection) -> Result<DetectConfig, AppError> {
        let mut config = self.config.detect.clone();
        let in_force = allowlist::list(conn, false, OffsetDateTime::now_utc()).await?;
        config.flags.allowlist.extend(in_force.into_iter().map(|a| a.account_id));
        Ok(config)
    }
}

async fn record(
    conn: &mut sqlx::PgConnection,
    actor: &Actor,
    action: &str,
    account_id: &str,
    before: Option<&Allowed>,
    after: Option<&Allowed>,
) -> Result<(), AppError> {
    let value = |a: Option<&Allowed>| a.and_then(|a| serde_json::to_value(a).ok());
    audit_log::append(
        conn,
        &NewEntry {
            actor: &actor.name,
            role: &actor.role,
            action,
            target: &format!("account:{account_id}"),
            before: value(before),
            after: value(after),
        },
    )
    .await?;
    Ok(())
}
