//! API keys: made here, shown once, stored only as hashes.

use dw_domain::{ApiKey, HistoryLogging, Role};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{Actor, App, AppError};

/// Every key starts with this, so leaked keys are easy to scan for.
pub const KEY_PREFIX: &str = "dw_";
/// Characters of the key kept in clear for listings (prefix included).
const SHOWN_CHARS: usize = 11;

/// A new key: its record and the secret, which is never stored.
#[derive(Debug)]
pub struct CreatedKey {
    /// The stored record.
    pub key: ApiKey,
    /// The key to hand to its user, once.
    pub secret: SecretString,
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

impl App {
    /// Creates a key with 256 random bits for a source that logs whole
    /// conversations, recorded in the audit log as `actor`'s.
    pub async fn create_key(&self, name: &str, role: Role, actor: &Actor) -> Result<CreatedKey, AppError> {
        self.create_key_logging(name, role, HistoryLogging::Full, actor).await
    }

    /// Creates a key with 256 random bits for a source that logs `history`
    /// of each conversation, recorded in the audit log as `actor`'s.
    pub async fn create_key_logging(
        &self,
        name: &str,
        role: Role,
        history: HistoryLogging,
        actor: &Actor,
    ) -> Result<CreatedKey, AppError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(AppError::Invalid("key name must be 1 to 200 characters".into()));
        }
        let mut random = [0u8; 32];
        rand::rng().fill_bytes(&mut random);
        let secret = format!("{KEY_PREFIX}{}", hex::encode(random));
        let mut tx = self.pool.begin().await?;
        let key = dw_store::api_keys::insert(
            &mut tx,
            Uuid::now_v7(),
            name,
            role,
            history,
            &hash(&secret),
            &secret[..SHOWN_CHARS],
        )
        .await?;
        record(&mut tx, actor, "key.create", &key, None).await?;
        tx.commit().await?;
        tracing::info!(key_id = %key.key_id, role = %role, name, "API key created");
        Ok(CreatedKey { key, secret: SecretString::from(secret) })
    }

    /// Every key, newest first.
    pub async fn list_keys(&self) -> Result<Vec<ApiKey>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(dw_store::api_keys::list(&mut conn).await?)
    }

    /// Revokes a key given its id or the prefix shown in listings, recorded
    /// in the audit log as `actor`'s.
    pub async fn revoke_key(&self, id_or_prefix: &str, actor: &Actor) -> Result<ApiKey, AppError> {
        let mut tx = self.pool.begin().await?;
        let key = dw_store::api_keys::revoke(&mut tx, id_or_prefix)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("active API key {id_or_prefix:?}")))?;
        // Its console sessions end with it (a lookup would refuse them anyway).
        dw_store::console_sessions::delete_of_key(&mut tx, key.key_id).await?;
        record(&mut tx, actor, "key.revoke", &key, Some(serde_json::json!({"revoked_at": null}))).await?;
        tx.commit().await?;
        tracing::info!(key_id = %key.key_id, "API key revoked");
        Ok(key)
    }

    /// Sets what the source sending with an active key (id or prefix) logs
    /// of each conversation, recorded in the audit log as `actor`'s. Events
    /// already stored keep what they were stored with.
    pub async fn set_key_history(
        &self,
        id_or_prefix: &str,
        history: HistoryLogging,
        actor: &Actor,
    ) -> Result<ApiKey, AppError> {
        let mut tx = self.pool.begin().await?;
        let (before, after) = dw_store::api_keys::set_history(&mut tx, id_or_prefix, history)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("active API key {id_or_prefix:?}")))?;
        let before = serde_json::json!({"history": before.history});
        record(&mut tx, actor, "key.history", &after, Some(before)).await?;
        tx.commit().await?;
        tracing::info!(key_id = %after.key_id, history = %history, "API key's history logging set");
        Ok(after)
    }

    /// The active key matching a presented secret, if any.
    pub async fn authenticate(&self, presented: &SecretString) -> Result<Option<ApiKey>, AppError> {
        let presented = presented.expose_secret();
        if !presented.starts_with(KEY_PREFIX) || presented.len() > 200 {
            return Ok(None);
        }
        let mut conn = self.pool.acquire().await?;
        // The lookup is by SHA-256 of a 256-bit secret: an index probe on the
        // hash leaks nothing useful about other keys.
        let key = dw_store::api_keys::find_active(&mut conn, &hash(presented)).await?;
        if let Some(key) = &key {
            dw_store::api_keys::touch(&mut conn, key.key_id).await?;
        }
        Ok(key)
    }
}

/// The audit-log entry of a change to a key (never its secret or hash).
async fn record(
    conn: &mut sqlx::PgConnection,
    actor: &Actor,
    action: &str,
    key: &ApiKey,
    before: Option<serde_json::Value>,
) -> Result<(), AppError> {
    let after = serde_json::to_value(key).map_err(|e| AppError::Invalid(format!("key record: {e}")))?;
    dw_store::audit_log::append(
        conn,
        &dw_store::audit_log::NewEntry {
            actor: &actor.name,
            role: &actor.role,
            action,
            target: &format!("key:{}", key.key_id),
            before,
            after: Some(after),
        },
    )
    .await?;
    Ok(())
}
