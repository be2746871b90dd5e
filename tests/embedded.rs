//! The embedded default: with no DATABASE_URL the service runs its own
//! PostgreSQL cluster in its data folder, from a folder only its owner can
//! enter (a `mktemp -d` folder, as root in CI), keeps the data across runs,
//! and stops the cluster when it exits.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Service, command, create_key, events, ndjson, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_from_its_own_cluster_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let data = dir.path().join("state");
    let cli = |args: &[&str]| {
        let mut cmd = command(None, dir.path());
        cmd.arg("--data-dir").arg(&data).args(args);
        cmd
    };

    let key = create_key_in(&cli);
    let service = Service::start(cli(&[]));
    let client = dw_app::http_client();
    let ready = client.get(service.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let health = client.get(service.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let response = client
        .post(service.url("/v1/events"))
        .bearer_auth(&key)
        .header("content-type", "application/x-ndjson")
        .body(ndjson(&events("emb", 40, 4)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, logs) = service.stop();
    assert!(status.success(), "{logs}");

    // The cluster was stopped with the service: the CLI starts it again and
    // finds the data (and the backfilled partition) still there.
    let out = run(cli(&["db", "partitions"]), None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "events_p2026_11");
    let out = run(cli(&["ingest", "--allow-rejects", "-"]), Some(ndjson(&events("emb", 40, 4)).as_bytes()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("0 accepted, 40 duplicates"), "{stderr}");

    // The key's source is declared to keep the last message only; the listing says so.
    let prefix: String = key.chars().take(11).collect();
    let out = run(cli(&["keys", "set-history", &prefix, "sometimes"]), None);
    assert!(!out.status.success(), "an unknown history is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("last_message"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(cli(&["keys", "set-history", &prefix, "last_message"]), None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(cli(&["keys", "list"]), None);
    let listing = String::from_utf8_lossy(&out.stdout);
    let line = listing.lines().find(|l| l.contains(&prefix)).unwrap_or_default();
    assert!(line.contains("last_message"), "{listing}");

    let out = run(cli(&["db", "remove"]), None);
    assert!(!out.status.success(), "removing all data needs --yes");
    let out = run(cli(&["db", "remove", "--yes"]), None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn create_key_in(cli: &dyn Fn(&[&str]) -> std::process::Command) -> String {
    let out = run(cli(&["keys", "create", "--role", "ingest", "--name", "embedded"]), None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn a_missing_postgres_installation_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(None, dir.path());
    cmd.env("DISTILLWATCH__DATABASE__PG_BIN", dir.path().join("no-postgres-here"));
    cmd.args(["keys", "list"]);
    let out = run(cmd, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("PostgreSQL server binaries"), "{stderr}");
    assert!(stderr.contains("apt-get install postgresql"), "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

#[test]
fn a_bad_setting_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(None, dir.path());
    cmd.env("DISTILLWATCH__INGEST__MAX_BODY_BYTES", "lots");
    cmd.args(["keys", "list"]);
    let out = run(cmd, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(stderr.to_lowercase().contains("ingest.max_body_bytes"), "{stderr}");
    let _ = create_key; // shared helper used by other test files
}
