//! `serve` with `server.tls_cert` and `server.tls_key`: HTTPS only, with the
//! configured certificate; a clear error at start when the files are wrong.

mod common;

use std::path::{Path, PathBuf};

use common::{Service, TestDb, command, create_key, events, ndjson, run};

/// A certificate authority of the test's own and a certificate for
/// 127.0.0.1 and localhost signed by it, written as PEM files in `dir`:
/// (the CA's file, the server's chain, the server's key).
fn private_ca(dir: &Path, tag: &str) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &Issuer::from_params(&ca_params, &ca_key)).unwrap();
    let ca_file = dir.join(format!("{tag}-ca.pem"));
    let cert_file = dir.join(format!("{tag}-cert.pem"));
    let key_file = dir.join(format!("{tag}-key.pem"));
    std::fs::write(&ca_file, ca.pem()).unwrap();
    std::fs::write(&cert_file, leaf.pem() + &ca.pem()).unwrap();
    std::fs::write(&key_file, leaf_key.serialize_pem()).unwrap();
    (ca_file, cert_file, key_file)
}

/// The chain of an error's causes, as one string.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_speaks_https_with_the_configured_certificate() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca(dir.path(), "server");
    let ingest_key = create_key(Some(&db.url), dir.path(), "ingest");

    let mut cmd = command(Some(&db.url), dir.path());
    cmd.env("DISTILLWATCH__SERVER__TLS_CERT", &cert).env("DISTILLWATCH__SERVER__TLS_KEY", &key);
    let service = Service::start(cmd);
    assert!(service.url("").starts_with("https://127.0.0.1:"), "{}", service.url(""));

    // A client that trusts the CA: health, and an ingest key over TLS.
    let client = dw_app::webhook_client(Some(&ca)).unwrap();
    let health = client.get(service.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let response = client
        .post(service.url("/v1/events"))
        .bearer_auth(&ingest_key)
        .header("content-type", "application/x-ndjson")
        .body(ndjson(&events("tls", 20, 3)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let out: serde_json::Value = response.json().await.unwrap();
    assert_eq!(out["accepted"], 20, "{out}");

    // A client that trusts only the system's authorities refuses the certificate.
    let refused = dw_app::http_client().get(service.url("/healthz")).send().await.unwrap_err();
    let text = causes(&refused);
    assert!(text.to_lowercase().contains("certificate"), "{text}");

    // Plain HTTP on the same port gets no answer: the server speaks only TLS.
    let plain = service.url("/healthz").replacen("https://", "http://", 1);
    let result = dw_app::http_client().get(&plain).send().await;
    assert!(result.is_err(), "plain HTTP was answered: {:?}", result.map(|r| r.status()));

    // A connection that never starts its handshake does not block others.
    let idle = tokio::net::TcpStream::connect(("127.0.0.1", service.port)).await.unwrap();
    let health = client.get(service.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    drop(idle);

    let (status, logs) = service.stop();
    assert!(status.success(), "{logs}");
    let pool = db.pool().await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();
    assert_eq!(stored, 20);
    pool.close().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_to_start_with_unusable_tls_files() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = private_ca(dir.path(), "one");
    let (_, _, other_key) = private_ca(dir.path(), "two");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");

    let cases: [(Option<&Path>, Option<&Path>, Vec<String>); 5] = [
        (Some(&cert), None, vec!["server.tls_key is not".into()]),
        (None, Some(&key), vec!["server.tls_cert is not".into()]),
        (Some(&garbage), Some(&key), vec!["server.tls_cert".into(), garbage.display().to_string()]),
        (Some(&missing), Some(&key), vec!["server.tls_cert".into(), missing.display().to_string()]),
        (Some(&cert), Some(&other_key), vec!["does not go with".into(), other_key.display().to_string()]),
    ];
    for (cert, key, expected) in cases {
        let mut cmd = command(Some(&db.url), dir.path());
        if let Some(cert) = cert {
            cmd.env("DISTILLWATCH__SERVER__TLS_CERT", cert);
        }
        if let Some(key) = key {
            cmd.env("DISTILLWATCH__SERVER__TLS_KEY", key);
        }
        cmd.args(["serve", "--bind", "127.0.0.1:0"]);
        let out = run(cmd, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "serve started with {cert:?} and {key:?}: {stdout}");
        assert!(!stdout.contains("listening on"), "{stdout}");
        for needle in expected {
            assert!(stderr.contains(&needle), "{needle:?} not in: {stderr}");
        }
    }
    db.drop_db().await;
}
