//! Webhooks against a real database and a local receiver: queued with the
//! flag change, signed as Standard Webhooks says, retried with the same
//! message id after a receiver's failure, Slack-shaped on request.

mod common;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{batch, parse};
use dw_app::{Actor, App, AppConfig, AuditSpec, FlagChange, FlagStatus, WebhookConfig, WebhookEndpoint, WebhookFormat};
use dw_domain::{RiskLevel, SubjectKind};
use sqlx::PgPool;
use time::macros::datetime;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// What a receiver got: (path, webhook-id, webhook-timestamp, webhook-signature, body).
type Received = Arc<Mutex<Vec<(String, String, String, String, String)>>>;

/// A receiver on a free port that answers each request with the next status
/// of `script` (then 200), keeping what it got.
async fn receiver(script: Vec<u16>) -> (String, Received) {
    let got: Received = Arc::default();
    let script = Arc::new(Mutex::new(script.into_iter()));
    let handler = |State((got, script)): State<(Received, Arc<Mutex<std::vec::IntoIter<u16>>>)>,
                   uri: axum::http::Uri,
                   headers: HeaderMap,
                   body: String| async move {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        got.lock().unwrap().push((
            uri.path().to_owned(),
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
            body,
        ));
        let status = script.lock().unwrap().next().unwrap_or(200);
        StatusCode::from_u16(status).unwrap()
    };
    let router = axum::Router::new().fallback(handler).with_state((got.clone(), script));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, got)
}

/// Thirty accounts scripted from one /24 with one client: flagged with their cluster.
async fn seed(app: &App) {
    let mut lines = Vec::new();
    for a in 0..30 {
        for i in 0..125 {
            let (day, minute) = (2 + i / 25, (i % 25) * 10);
            lines.push(format!(
                r#"{{"event_id":"farm{a}-{i}","account_id":"farm{a}","timestamp":"2026-11-{day:02}T{:02}:{:02}:00Z","model":"m","request":{{"prompt":"Write task number {i} about something different each time please.","max_tokens":4096}},"client":{{"ip":"203.0.113.{}","user_agent":"OpenAI/Python 1.50.0"}}}}"#,
                minute / 60,
                minute % 60,
                a + 1
            ));
        }
    }
    app.ingest(batch(parse(&lines))).await.unwrap();
}

async fn audit(app: &App) {
    let spec = AuditSpec {
        from: datetime!(2026-11-01 0:00 UTC),
        to: datetime!(2026-11-08 0:00 UTC),
        accounts: None,
        model: None,
        dry_run: false,
        requested_by: "test".into(),
    };
    let id = app.queue_audit(&spec).await.unwrap();
    app.run_audit("test", Some(id)).await.unwrap().unwrap();
}

/// Rounds of sending until nothing is due, added up.
async fn drain(app: &App, client: &reqwest::Client) -> dw_app::DeliveryRound {
    let mut total = dw_app::DeliveryRound::default();
    loop {
        let round = app.deliver_webhooks(client).await.unwrap();
        if round.attempted == 0 {
            return total;
        }
        total.attempted += round.attempted;
        total.delivered += round.delivered;
        total.retrying += round.retrying;
        total.failed += round.failed;
    }
}

#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn flag_events_are_signed_retried_with_the_same_id_and_delivered(pool: PgPool) {
    // The standard receiver fails its first two requests; the Slack one only wants critical flags.
    let (standard, got) = receiver(vec![500, 503]).await;
    let (slack, slack_got) = receiver(vec![]).await;
    let webhooks = WebhookConfig {
        endpoints: vec![
            WebhookEndpoint {
                url: format!("{standard}/hooks/distillwatch"),
                secret: Some(SECRET.into()),
                min_level: RiskLevel::High,
                format: WebhookFormat::Standard,
            },
            WebhookEndpoint {
                url: format!("{slack}/services/T0/B0"),
                secret: None,
                min_level: RiskLevel::Critical,
                format: WebhookFormat::Slack,
            },
        ],
        ..WebhookConfig::default()
    };
    webhooks.validate().unwrap();
    let app = App::new(pool.clone(), AppConfig { webhooks, ..AppConfig::default() });
    seed(&app).await;
    audit(&app).await;
    let flags = app.list_flags(None, 100).await.unwrap();
    let high = flags.iter().filter(|f| f.level == RiskLevel::High || f.level == RiskLevel::Critical).count();
    let critical = flags.iter().filter(|f| f.level == RiskLevel::Critical).count();
    assert!(high >= 5, "{flags:?}");

    // Queued with the flags, in the audit's transaction; nothing sent yet.
    let queued = app.webhook_deliveries(100).await.unwrap();
    assert_eq!(queued.len(), high + critical);
    assert!(queued.iter().all(|d| d.state == "pending" && d.attempts == 0 && d.event_type == "flag.opened"));
    assert!(got.lock().unwrap().is_empty());

    let client = dw_app::webhook_client(None).unwrap();
    let first = drain(&app, &client).await;
    assert_eq!((first.attempted, first.retrying), (high + critical, 2), "{first:?}");
    // The two refused are due again later, not now.
    assert_eq!(app.deliver_webhooks(&client).await.unwrap().attempted, 0);
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE state = 'pending'")
        .execute(&pool)
        .await
        .unwrap();
    let second = drain(&app, &client).await;
    assert_eq!((second.attempted, second.delivered), (2, 2));
    let delivered = app.webhook_deliveries(100).await.unwrap();
    assert!(delivered.iter().all(|d| d.state == "delivered"), "{delivered:?}");
    assert_eq!(delivered.iter().filter(|d| d.attempts == 2).count(), 2);

    let received = got.lock().unwrap().clone();
    assert_eq!(received.len(), high + 2, "every message once, the two refused ones twice");
    let key = dw_app::webhook_secret_key(SECRET).unwrap();
    for (path, id, timestamp, signature, body) in &received {
        assert_eq!(path, "/hooks/distillwatch");
        assert!(id.starts_with("msg_"));
        let ts: i64 = timestamp.parse().unwrap();
        assert_eq!(signature, &dw_app::sign_webhook(&key, id, ts, body), "the signature verifies");
        let event: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["type"], "flag.opened");
        assert!(event["data"]["flag"]["id"].is_number() && event["data"]["flag"]["reason"].is_string());
    }
    // A refused message came again with the same id.
    let (refused, retried) = (&received[0], received.iter().skip(1).filter(|r| r.1 == received[0].1).count());
    assert_eq!(retried, 1, "{} was sent twice", refused.1);
    let slack_received = slack_got.lock().unwrap().clone();
    assert_eq!(slack_received.len(), critical);
    for (_, _, _, signature, body) in &slack_received {
        assert!(signature.is_empty(), "no secret, no signature");
        let text: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(text["text"].as_str().unwrap().starts_with("distillwatch: flag "), "{text}");
    }

    // Escalating a flag is an event too.
    let analyst = Actor { name: "key:0000 analyst".into(), role: "analyst".into() };
    let account = flags
        .iter()
        .find(|f| f.subject_kind == SubjectKind::Account && f.level == RiskLevel::High)
        .unwrap_or(&flags[0]);
    let escalate = FlagChange { status: Some(FlagStatus::Escalated), ..FlagChange::default() };
    app.change_flag(account.id, &escalate, &analyst).await.unwrap();
    assert_eq!(
        app.deliver_webhooks(&client).await.unwrap().delivered,
        1 + usize::from(account.level == RiskLevel::Critical)
    );
    let last = got.lock().unwrap().last().cloned().unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&last.4).unwrap()["type"], "flag.escalated");
}

/// A certificate authority of the test's own and a receiver's certificate for
/// 127.0.0.1 signed by it, as PEM files in `dir`: (the CA's file, the
/// receiver's certificate chain, its key).
fn private_ca(
    dir: &std::path::Path,
) -> (std::path::PathBuf, Vec<rustls::pki_types::CertificateDer<'static>>, rustls::pki_types::PrivateKeyDer<'static>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &Issuer::from_params(&ca_params, &ca_key)).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    (ca_file, vec![leaf.der().clone()], key)
}

/// An HTTPS receiver on a free port: answers every request 200, keeping the bodies.
async fn https_receiver(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let bodies = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, bodies) = (acceptor.clone(), bodies.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to serve.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut request = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    let Ok(n) = tls.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).into_owned();
                    let Some(end) = text.find("\r\n\r\n") else { continue };
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if request.len() < end + 4 + length {
                        continue;
                    }
                    bodies
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&request[end + 4..end + 4 + length]).into_owned());
                    let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                    let _ = tls.shutdown().await;
                    return;
                }
            });
        }
    });
    (url, got)
}

/// An `https://` receiver with a certificate from a private CA: refused (naming the certificate problem) by a
/// client that trusts only the system's authorities, delivered to by one configured with the CA's file.
#[sqlx::test(migrator = "dw_store::MIGRATOR")]
async fn webhooks_reach_an_https_receiver_whose_authority_is_configured(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let (ca_file, chain, key) = private_ca(dir.path());
    let (url, got) = https_receiver(chain, key).await;
    let webhooks = WebhookConfig {
        endpoints: vec![WebhookEndpoint {
            url: format!("{url}/hooks"),
            secret: Some(SECRET.into()),
            min_level: RiskLevel::High,
            format: WebhookFormat::Standard,
        }],
        ca_file: Some(ca_file.clone()),
        ..WebhookConfig::default()
    };
    let app = App::new(pool.clone(), AppConfig { webhooks, ..AppConfig::default() });
    seed(&app).await;
    audit(&app).await;

    // Without the CA: every attempt fails, and the recorded error says why.
    let system_only = dw_app::webhook_client(None).unwrap();
    let round = app.deliver_webhooks(&system_only).await.unwrap();
    assert!(round.attempted > 0 && round.delivered == 0, "{round:?}");
    let error: String =
        sqlx::query_scalar("SELECT last_error FROM webhook_deliveries WHERE last_error IS NOT NULL LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(error.contains("127.0.0.1"), "the receiver is named: {error}");
    assert!(error.to_lowercase().contains("certificate"), "the reason is the certificate: {error}");
    assert!(got.lock().unwrap().is_empty());

    // With it: delivered.
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE state = 'pending'")
        .execute(&pool)
        .await
        .unwrap();
    let trusting = dw_app::webhook_client(Some(&ca_file)).unwrap();
    let round = drain(&app, &trusting).await;
    assert!(round.delivered > 0 && round.delivered == round.attempted, "{round:?}");
    assert_eq!(got.lock().unwrap().len(), round.delivered);
    // A CA file that holds no certificate is a configuration error naming the setting.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let error = dw_app::webhook_client(Some(&empty)).unwrap_err().to_string();
    assert!(error.contains("webhooks.ca_file") && error.contains("no certificate"), "{error}");
}
