//! A PostgreSQL that requires TLS: reached with `sslmode=verify-full` and the
//! server's certificate authority in `sslrootcert`, refused without it, the
//! error saying why. The server is a real cluster (the embedded one, started
//! in a temporary folder), given a certificate from the test's own CA and a
//! TCP port on the loopback.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use dw_store::cluster::{ClusterConfig, LocalCluster};

#[test]
fn a_server_requiring_tls_is_reached_with_its_authority_and_refused_without() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config =
        ClusterConfig { data_dir: tmp.path().join("data"), pg_bin: None, database: "dwtls".into(), port: Some(port) };
    let mut cluster = LocalCluster::start(&config).unwrap();

    // The CA, and the server's certificate for localhost, written where the server reads them, as its owner.
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    let pgdata = cluster.pgdata().to_owned();
    let owner = std::fs::metadata(&pgdata).unwrap();
    for (name, text, mode) in [("server.crt", server.pem(), 0o644), ("server.key", server_key.serialize_pem(), 0o600)] {
        let path = pgdata.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).unwrap();
    }
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let pool = dw_store::connect(cluster.connect_options(), 1).await.unwrap();
        for setting in ["ssl = on", "listen_addresses = '127.0.0.1'"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("ALTER SYSTEM SET {setting}"))).execute(&pool).await.unwrap();
        }
        pool.close().await;
    });
    // TCP connections must use TLS.
    let hba = pgdata.join("pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).unwrap().replace("host    all", "hostssl all");
    std::fs::write(&hba, rules).unwrap();
    cluster.stop().unwrap();
    let cluster = LocalCluster::start(&config).unwrap();

    rt.block_on(async {
        let url = |query: &str| format!("postgres://postgres@localhost:{port}/dwtls?{query}");
        let verified = format!("sslmode=verify-full&sslrootcert={}", ca_file.display());
        let pool = sqlx::PgPool::connect(&url(&verified)).await.expect("verified TLS with the server's CA");
        let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(ssl, "the session is encrypted");
        pool.close().await;
        let refused = sqlx::PgPool::connect(&url("sslmode=verify-full")).await.unwrap_err().to_string();
        assert!(refused.to_lowercase().contains("certificate"), "the reason is the certificate: {refused}");
        let plain = sqlx::PgPool::connect(&url("sslmode=disable")).await.unwrap_err().to_string();
        assert!(plain.contains("no pg_hba.conf entry") || plain.contains("SSL"), "TLS is required: {plain}");
    });
    cluster.remove().unwrap();
}
