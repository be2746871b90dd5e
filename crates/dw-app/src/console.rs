//! Sessions of the analyst console: an analyst's or admin's key exchanged
//! at sign-in for a random session token (stored only as its SHA-256), and
//! the token's CSRF companion. Ingest keys cannot sign in. A session ends at
//! sign-out, at its absolute expiry, after its idle limit, or when its key is
//! revoked; sign-ins and sign-outs are on record in the audit log under the
//! key's name.

use std::time::Duration;

use dw_domain::{ApiKey, Role};
use dw_store::audit_log::{self, NewEntry};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::{Actor, App, AppError};

/// Every session token starts with this (told apart from API keys at a glance).
pub const SESSION_PREFIX: &str = "dws_";

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session with no request for this long has ended.
    pub idle: Duration,
    /// A session ends this long after sign-in, however busy.
    pub lifetime: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self { idle: Duration::from_secs(30 * 60), lifetime: Duration::from_secs(12 * 3600) }
    }
}

/// A session just opened: the token goes into the cookie, once.
#[derive(Debug)]
pub struct ConsoleSession {
    /// The session token (never stored).
    pub token: SecretString,
    /// The key it was opened with.
    pub key: ApiKey,
    /// When it ends at the latest.
    pub expires_at: OffsetDateTime,
}

/// What a sign-in came to.
#[derive(Debug)]
pub enum SignIn {
    /// A session, opened.
    Opened(ConsoleSession),
    /// No active key matches what was presented.
    UnknownKey,
    /// The key is valid but its role may not use the console (ingest keys).
    RoleRefused(Role),
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The CSRF token of a session: derived from its secret token (so nothing
/// more is stored), unguessable without it, and never the token itself.
pub fn csrf_token(session_token: &SecretString) -> String {
    let mut h = Sha256::new();
    h.update(b"distillwatch console csrf\0");
    h.update(session_token.expose_secret().as_bytes());
    hex::encode(h.finalize())
}

/// Whether `presented` is the CSRF token of the session, compared in time
/// that does not depend on where they first differ.
pub fn csrf_matches(session_token: &SecretString, presented: &str) -> bool {
    let expected = csrf_token(session_token);
    expected.len() == presented.len()
        && expected.bytes().zip(presented.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

impl Actor {
    /// The holder of a key, as the audit log and flag histories name them.
    pub fn of_key(key: &ApiKey) -> Actor {
        Actor { name: format!("key:{} {}", key.prefix, key.name), role: key.role.to_string() }
    }
}

impl App {
    /// Exchanges an analyst's or admin's key for a console session, on record
    /// in the audit log under the key's name.
    pub async fn sign_in(&self, presented: &SecretString, policy: SessionPolicy) -> Result<SignIn, AppError> {
        let Some(key) = self.authenticate(presented).await? else { return Ok(SignIn::UnknownKey) };
        if !key.role.permits(&[Role::Analyst]) {
            return Ok(SignIn::RoleRefused(key.role));
        }
        let mut random = [0u8; 32];
        rand::rng().fill_bytes(&mut random);
        let token = format!("{SESSION_PREFIX}{}", hex::encode(random));
        let lifetime = time::Duration::try_from(policy.lifetime)
            .map_err(|_| AppError::Invalid("console session lifetime out of range".into()))?;
        let expires_at = OffsetDateTime::now_utc() + lifetime;
        let actor = Actor::of_key(&key);
        let mut tx = self.pool.begin().await?;
        dw_store::console_sessions::insert(&mut tx, &hash(&token), key.key_id, expires_at).await?;
        // Now and then, forget the sessions that ended.
        dw_store::console_sessions::delete_stale(&mut tx, policy.idle.as_secs_f64()).await?;
        audit_log::append(
            &mut tx,
            &NewEntry {
                actor: &actor.name,
                role: &actor.role,
                action: "session.sign_in",
                target: &format!("key:{}", key.key_id),
                before: None,
                after: Some(serde_json::json!({"expires_at": expires_at.unix_timestamp()})),
            },
        )
        .await?;
        tx.commit().await?;
        tracing::info!(key_id = %key.key_id, "console session opened");
        Ok(SignIn::Opened(ConsoleSession { token: SecretString::from(token), key, expires_at }))
    }

    /// The key of a live session (its idle clock restarted), or `None`.
    pub async fn session(&self, token: &SecretString, policy: SessionPolicy) -> Result<Option<ApiKey>, AppError> {
        let token = token.expose_secret();
        if !token.starts_with(SESSION_PREFIX) || token.len() > 200 {
            return Ok(None);
        }
        let mut conn = self.pool.acquire().await?;
        Ok(dw_store::console_sessions::find_live(&mut conn, &hash(token), policy.idle.as_secs_f64()).await?)
    }

    /// Ends a session, on record in the audit log under its key's name.
    pub async fn sign_out(&self, token: &SecretString, key: &ApiKey) -> Result<(), AppError> {
        let actor = Actor::of_key(key);
        let mut tx = self.pool.begin().await?;
        if dw_store::console_sessions::delete(&mut tx, &hash(token.expose_secret())).await? {
            audit_log::append(
                &mut tx,
                &NewEntry {
                    actor: &actor.name,
                    role: &actor.role,
                    action: "session.sign_out",
                    target: &format!("key:{}", key.key_id),
                    before: None,
                    after: None,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_are_per_session_and_checked_whole() {
        let a = SecretString::from("dws_aaaa".to_owned());
        let b = SecretString::from("dws_bbbb".to_owned());
        assert_ne!(csrf_token(&a), csrf_token(&b));
        assert!(!csrf_token(&a).contains("aaaa"));
        assert!(csrf_matches(&a, &csrf_token(&a)));
        assert!(!csrf_matches(&a, &csrf_token(&b)));
        assert!(!csrf_matches(&a, ""));
        assert!(!csrf_matches(&a, &csrf_token(&a)[..63]));
    }
}
