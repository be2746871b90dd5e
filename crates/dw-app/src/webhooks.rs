//! Webhooks: when a flag opens, reopens or is escalated at or above an
//! endpoint's level, a JSON POST to that endpoint, signed as the Standard
//! Webhooks specification says (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`),
//! or a Slack-compatible `{"text": ...}` body.
//!
//! Delivery is at least once: the delivery row is written in the transaction
//! that changes the flag; `serve` claims due rows under a lease, sends, and
//! records the answer; a sender that dies between sending and recording
//! leaves the row to be sent again after the lease, with the same
//! `webhook-id`, so receivers can drop the repeat. Failed attempts are retried
//! with growing delays, up to `max_attempts`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use dw_domain::RiskLevel;
use dw_store::flags::Flag;
use dw_store::webhooks::{self, Due};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use time::OffsetDateTime;

use crate::{App, AppError};

/// How an endpoint's body is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `{"type", "timestamp", "data": {"flag": ...}}`.
    #[default]
    Standard,
    /// `{"text": "..."}`, what a Slack incoming webhook takes.
    Slack,
}

/// One receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpoint {
    /// Where to POST.
    pub url: String,
    /// The signing secret, `whsec_` and base64 (required for `standard`).
    #[serde(default)]
    pub secret: Option<String>,
    /// Flags at this level or above are sent.
    #[serde(default = "high")]
    pub min_level: RiskLevel,
    /// The body's shape.
    #[serde(default)]
    pub format: WebhookFormat,
}

fn high() -> RiskLevel {
    RiskLevel::High
}

/// `[webhooks]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// The receivers (none by default).
    pub endpoints: Vec<WebhookEndpoint>,
    /// Attempts before a delivery is given up.
    pub max_attempts: u32,
    /// How long an attempt in flight holds its delivery.
    pub lease_seconds: f64,
    /// How long a receiver has to answer.
    pub timeout_seconds: f64,
    /// How often `serve` looks for due deliveries.
    pub poll_seconds: f64,
    /// A PEM file of certificate authorities trusted for `https://`
    /// receivers besides the system's (a receiver inside the provider's
    /// network with a private CA).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            max_attempts: 8,
            lease_seconds: 60.0,
            timeout_seconds: 10.0,
            poll_seconds: 2.0,
            ca_file: None,
        }
    }
}

impl WebhookConfig {
    /// Checks every endpoint: an http(s) URL, and a `whsec_` base64 secret
    /// wherever a body is signed.
    pub fn validate(&self) -> Result<(), String> {
        for (i, e) in self.endpoints.iter().enumerate() {
            let at = format!("webhooks.endpoints[{i}]");
            if !(e.url.starts_with("http://") || e.url.starts_with("https://")) {
                return Err(format!("{at}.url: {:?} is not an http:// or https:// URL", e.url));
            }
            match (&e.secret, e.format) {
                (Some(secret), _) => {
                    secret_key(secret).map_err(|why| format!("{at}.secret: {why}"))?;
                }
                (None, WebhookFormat::Standard) => {
                    return Err(format!("{at}.secret: a standard endpoint needs a whsec_ secret to sign with"));
                }
                (None, WebhookFormat::Slack) => {}
            }
        }
        for (name, v) in [
            ("lease_seconds", self.lease_seconds),
            ("timeout_seconds", self.timeout_seconds),
            ("poll_seconds", self.poll_seconds),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("webhooks.{name}: must be a positive number of seconds"));
            }
        }
        if self.max_attempts == 0 {
            return Err("webhooks.max_attempts: at least 1".into());
        }
        Ok(())
    }
}

/// The key of a `whsec_<base64>` secret.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret.strip_prefix("whsec_").ok_or("must start with whsec_")?;
    let key = BASE64.decode(encoded).map_err(|e| format!("not base64 after whsec_: {e}"))?;
    if key.len() < 16 {
        return Err("shorter than 16 bytes".into());
    }
    Ok(key)
}

/// The `webhook-signature` value of a message (Standard Webhooks, `v1`).
pub fn sign(key: &[u8], message_id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{message_id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// Seconds before the next attempt after `attempts` failed ones.
pub fn backoff_seconds(attempts: i32) -> f64 {
    const DELAYS: [f64; 8] = [5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 3.0 * 3600.0, 6.0 * 3600.0];
    DELAYS[(attempts.max(1) as usize - 1).min(DELAYS.len() - 1)]
}

/// The body an endpoint gets for a flag event.
fn body(format: WebhookFormat, event_type: &str, flag: &Flag, at: OffsetDateTime) -> String {
    match format {
        WebhookFormat::Standard => json!({
            "type": event_type,
            "timestamp": at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "data": {"flag": {
                "id": flag.id, "kind": flag.subject_kind, "subject": flag.subject_id, "status": flag.status,
                "assignee": flag.assignee, "risk": flag.risk, "level": flag.level, "fired": flag.fired,
                "reason": flag.reason,
            }},
        })
        .to_string(),
        WebhookFormat::Slack => {
            let what = event_type.strip_prefix("flag.").unwrap_or(event_type);
            json!({"text": format!(
                "distillwatch: flag {} {what}: {} {} at {} risk {:.2}. {}",
                flag.id, flag.subject_kind, flag.subject_id, flag.level, flag.risk, flag.reason
            )})
            .to_string()
        }
    }
}

/// Queues `event_type` about `flag` for every endpoint whose level it
/// reaches, in the caller's transaction (so the change and its notification
/// commit together). One message id for all endpoints.
pub(crate) async fn enqueue(
    conn: &mut sqlx::PgConnection,
    config: &WebhookConfig,
    event_type: &str,
    flag: &Flag,
) -> Result<(), AppError> {
    let endpoints: Vec<&WebhookEndpoint> = config.endpoints.iter().filter(|e| flag.level >= e.min_level).collect();
    if endpoints.is_empty() {
        return Ok(());
    }
    let message_id = format!("msg_{}", uuid::Uuid::now_v7().simple());
    let now = OffsetDateTime::now_utc();
    for e in endpoints {
        webhooks::enqueue(conn, &message_id, &e.url, event_type, &body(e.format, event_type, flag, now)).await?;
    }
    metrics::counter!("distillwatch_webhooks_queued_total", "type" => event_type.to_owned()).increment(1);
    Ok(())
}

/// Makes rustls's ring provider the process's default, once (later calls do
/// nothing): every HTTP client built after it, `reqwest::Client::new()`
/// included, speaks TLS with it. The binary calls it at start.
pub fn install_tls_provider() {
    #[allow(deprecated)] // see `client`: ring, for its build time
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A plain HTTP client (redirects and roots as reqwest's defaults), with
/// the TLS provider installed first.
pub fn http_client() -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::new()
}

/// The HTTP client webhook senders use: TLS by rustls (the ring provider),
/// trusting the system's certificate authorities and those of `ca_file`;
/// no redirects followed (a receiver that moved must be reconfigured, not
/// guessed at).
pub fn client(ca_file: Option<&std::path::Path>) -> Result<reqwest::Client, AppError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A system certificate rustls cannot read is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| AppError::Invalid(format!("webhooks.ca_file: {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(AppError::Invalid(format!("webhooks.ca_file: {} holds no certificate", path.display())));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| AppError::Invalid(format!("webhooks.ca_file: {}: {e}", path.display())))?;
        }
    }
    // ring, not aws-lc-rs: the latter takes long to build on two cores. rustls
    // 0.23.48 marks ring's provider deprecated because it offers no
    // post-quantum key exchange; the classical suites it does offer are the
    // ones every receiver speaks.
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AppError::Internal(format!("TLS set-up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| AppError::Internal(format!("the webhook client: {e}")))
}

/// A request's error with its causes, so that a TLS failure says what the
/// receiver's certificate lacked (reqwest's own text stops at "error
/// sending request for url (...)").
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// What one round of sending did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryRound {
    /// Deliveries attempted.
    pub attempted: usize,
    /// Accepted by their receivers.
    pub delivered: usize,
    /// To be tried again.
    pub retrying: usize,
    /// Given up.
    pub failed: usize,
}

impl App {
    /// Sends the deliveries that are due, each under the lease, and records
    /// every answer. A round claims no more than its attempts can finish
    /// within the lease even if every receiver took its whole timeout (at
    /// most 32), so no claimed delivery's lease runs out before its attempt.
    pub async fn deliver_webhooks(&self, client: &reqwest::Client) -> Result<DeliveryRound, AppError> {
        let config = &self.config.webhooks;
        let batch = ((config.lease_seconds / config.timeout_seconds).floor() as i64).clamp(1, 32);
        let due = {
            let mut conn = self.pool.acquire().await?;
            webhooks::claim_due(&mut conn, config.lease_seconds, batch).await?
        };
        let mut round = DeliveryRound { attempted: due.len(), ..DeliveryRound::default() };
        for d in due {
            let outcome = self.attempt(client, &d).await;
            let mut conn = self.pool.acquire().await?;
            let counted = if outcome.is_ok() { "delivered" } else { "failed" };
            metrics::counter!("distillwatch_webhook_attempts_total", "outcome" => counted).increment(1);
            match outcome {
                Ok(status) => {
                    webhooks::delivered(&mut conn, d.delivery_id, status).await?;
                    round.delivered += 1;
                }
                Err((status, error)) => {
                    let retry = (d.attempts < config.max_attempts as i32).then(|| backoff_seconds(d.attempts));
                    tracing::warn!(
                        endpoint = d.endpoint,
                        message_id = d.message_id,
                        attempts = d.attempts,
                        error,
                        "webhook delivery failed"
                    );
                    webhooks::attempt_failed(&mut conn, d.delivery_id, status, &error, retry).await?;
                    if retry.is_some() {
                        round.retrying += 1;
                    } else {
                        round.failed += 1;
                    }
                }
            }
        }
        Ok(round)
    }

    /// One attempt: the receiver's 2xx status, or the status (if any) and why not.
    async fn attempt(&self, client: &reqwest::Client, d: &Due) -> Result<i32, (Option<i32>, String)> {
        let config = &self.config.webhooks;
        let Some(endpoint) = config.endpoints.iter().find(|e| e.url == d.endpoint) else {
            return Err((None, "the endpoint is no longer configured".into()));
        };
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let mut request = client
            .post(&endpoint.url)
            .timeout(Duration::from_secs_f64(config.timeout_seconds))
            .header("content-type", "application/json")
            .header("user-agent", concat!("distillwatch/", env!("CARGO_PKG_VERSION")))
            .header("webhook-id", &d.message_id)
            .header("webhook-timestamp", timestamp.to_string());
        if let Some(secret) = &endpoint.secret {
            let key = secret_key(secret).map_err(|why| (None, format!("secret: {why}")))?;
            request = request.header("webhook-signature", sign(&key, &d.message_id, timestamp, &d.body));
        }
        let response = request.body(d.body.clone()).send().await.map_err(|e| (None, error_chain(&e)))?;
        let status = i32::from(response.status().as_u16());
        if response.status().is_success() {
            Ok(status)
        } else {
            Err((Some(status), format!("the receiver answered {status}")))
        }
    }

    /// The latest deliveries (for operators and tests).
    pub async fn webhook_deliveries(&self, limit: i64) -> Result<Vec<webhooks::Delivery>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(webhooks::recent(&mut conn, limit).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_reproduce_the_published_standard_webhooks_vector() {
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn endpoints_are_checked_and_say_which_field() {
        let endpoint = |url: &str, secret: Option<&str>, format| WebhookEndpoint {
            url: url.into(),
            secret: secret.map(str::to_owned),
            min_level: RiskLevel::High,
            format,
        };
        let config = |e| WebhookConfig { endpoints: vec![e], ..WebhookConfig::default() };
        let good = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        assert!(config(endpoint("https://x", Some(good), WebhookFormat::Standard)).validate().is_ok());
        assert!(config(endpoint("http://x", None, WebhookFormat::Slack)).validate().is_ok());
        for (e, says) in [
            (endpoint("ftp://x", Some(good), WebhookFormat::Standard), "webhooks.endpoints[0].url"),
            (endpoint("https://x", None, WebhookFormat::Standard), "needs a whsec_ secret"),
            (
                endpoint("https://x", Some("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), WebhookFormat::Standard),
                "must start with whsec_",
            ),
            (endpoint("https://x", Some("whsec_!!"), WebhookFormat::Standard), "not base64"),
        ] {
            let why = config(e).validate().unwrap_err();
            assert!(why.contains(says), "{why}");
        }
    }

    #[test]
    fn retries_back_off_and_level_off() {
        assert_eq!(
            (backoff_seconds(1), backoff_seconds(2), backoff_seconds(8), backoff_seconds(30)),
            (5.0, 30.0, 21600.0, 21600.0)
        );
    }
}
