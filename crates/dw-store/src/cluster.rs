//! The embedded default: a private PostgreSQL cluster of distillwatch's own.
//!
//! Without `DATABASE_URL`, every command calls [`LocalCluster::start`]: it finds
//! the machine's PostgreSQL server binaries, creates a cluster in the data
//! folder on first use (`initdb`), starts it listening on a Unix socket only
//! (no TCP port to collide with or expose), and creates the `distillwatch`
//! database. A cluster already running from that folder is reused and left
//! running; one started here is stopped by [`LocalCluster::stop`].
//!
//! PostgreSQL refuses to run as root. When distillwatch runs as root (in
//! containers, in CI), the cluster runs as the `postgres` system account. If
//! that account cannot reach the data folder (a checkout under root's home or a
//! `mktemp -d` folder, both closed to other users), the cluster lives under
//! `/var/lib/distillwatch/clusters/<hash of the data folder>` instead, and the
//! data folder keeps a note of where.
//!
//! These calls block (they run `initdb` and `pg_ctl`); call them from a
//! blocking thread.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnectOptions;

/// Where and how to run the embedded cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The data folder (default `./.distillwatch`).
    pub data_dir: PathBuf,
    /// A folder holding `initdb`, `pg_ctl` and `postgres`; searched for when absent.
    pub pg_bin: Option<PathBuf>,
    /// The database to create and use.
    pub database: String,
    /// The port: the name of its socket, and its TCP port where TCP is
    /// enabled (`ALTER SYSTEM SET listen_addresses`); 5432 when absent.
    pub port: Option<u16>,
}

/// A failure to set up or run the embedded cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No PostgreSQL server binaries were found.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; looked in {looked}. \
         Install PostgreSQL 15 or later (Debian/Ubuntu: apt-get install postgresql-15; \
         Fedora: dnf install postgresql-server; macOS: brew install postgresql@15), set \
         DISTILLWATCH__DATABASE__PG_BIN to the folder that holds them, or set DATABASE_URL to use a running server"
    )]
    BinariesNotFound {
        /// Where we looked.
        looked: String,
    },
    /// Running as root, but there is no `postgres` account to run the server as.
    #[error(
        "PostgreSQL cannot run as root and there is no `postgres` system account to run it as; \
         create one (useradd --system postgres), run distillwatch as another user, or set DATABASE_URL"
    )]
    NoServiceAccount,
    /// A file-system step failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A PostgreSQL tool failed.
    #[error("{tool} failed ({status}): {output}; see also {log}")]
    Tool {
        /// The tool.
        tool: String,
        /// Its exit status.
        status: String,
        /// What it printed (last lines).
        output: String,
        /// The server log.
        log: PathBuf,
    },
}

/// A running embedded cluster.
#[derive(Debug)]
pub struct LocalCluster {
    bin: PathBuf,
    pgdata: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    run_as: Option<Account>,
    database: String,
    started_here: bool,
}

#[derive(Debug, Clone, Copy)]
struct Account {
    uid: u32,
    gid: u32,
}

const SUPERUSER: &str = "postgres";

impl LocalCluster {
    /// Creates (first time), starts (unless running) and returns the cluster,
    /// with its database created.
    pub fn start(config: &ClusterConfig) -> Result<Self, ClusterError> {
        let bin = find_binaries(config.pg_bin.as_deref())?;
        let run_as = if effective_uid() == 0 { Some(postgres_account()?) } else { None };
        let data_dir = absolute(&config.data_dir)?;
        mkdir(&data_dir, 0o755)?;
        let pgdata = choose_pgdata(&data_dir, run_as)?;
        let socket_dir = choose_socket_dir(&pgdata, run_as)?;
        let mut cluster = Self {
            bin,
            pgdata,
            socket_dir,
            port: config.port.unwrap_or(5432),
            run_as,
            database: config.database.clone(),
            started_here: false,
        };
        if !cluster.pgdata.join("PG_VERSION").exists() {
            cluster.init()?;
        }
        cluster.write_settings()?;
        if !cluster.is_running() {
            match cluster.pg_ctl(&["start", "-w", "-t", "120", "-l"], Some(&cluster.log_path())) {
                Ok(_) => cluster.started_here = true,
                // Another process may have started it at the same moment.
                Err(_) if cluster.is_running() => {}
                Err(e) => return Err(e),
            }
        }
        cluster.create_database()?;
        Ok(cluster)
    }

    /// Connection options for the cluster's database (over its Unix socket).
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new().socket(&self.socket_dir).port(self.port).username(SUPERUSER).database(&self.database)
    }

    /// A `postgres://` URL for the database, usable by psql and sqlx.
    pub fn database_url(&self) -> String {
        let port = if self.port == 5432 { String::new() } else { format!(":{}", self.port) };
        format!("postgres://{SUPERUSER}@{}{port}/{}", percent_encode(&self.socket_dir.to_string_lossy()), self.database)
    }

    /// The cluster's data directory.
    pub fn pgdata(&self) -> &Path {
        &self.pgdata
    }

    /// Whether this process started the cluster (and so should stop it).
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// Leaves the cluster running when this handle is dropped or stopped.
    pub fn keep_running(&mut self) {
        self.started_here = false;
    }

    /// Stops the cluster if this process started it.
    pub fn stop(&mut self) -> Result<(), ClusterError> {
        if self.started_here {
            self.pg_ctl(&["stop", "-w", "-m", "fast"], None)?;
            self.started_here = false;
        }
        Ok(())
    }

    /// Stops the cluster whoever started it.
    pub fn stop_any(&mut self) -> Result<(), ClusterError> {
        if self.is_running() {
            self.pg_ctl(&["stop", "-w", "-m", "fast"], None)?;
        }
        self.started_here = false;
        Ok(())
    }

    /// Stops the cluster and deletes its files (for throwaway clusters).
    pub fn remove(mut self) -> Result<(), ClusterError> {
        self.stop_any()?;
        std::fs::remove_dir_all(&self.pgdata).map_err(|e| io("remove", &self.pgdata, e))?;
        let _ = std::fs::remove_dir_all(&self.socket_dir);
        Ok(())
    }

    fn log_path(&self) -> PathBuf {
        self.pgdata.join("server.log")
    }

    fn is_running(&self) -> bool {
        self.pg_ctl(&["status"], None).is_ok()
    }

    fn init(&self) -> Result<(), ClusterError> {
        let mut cmd = self.command("initdb");
        cmd.arg("-D").arg(&self.pgdata).args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-locale"]);
        run(cmd, "initdb", &self.log_path()).map(drop)
    }

    /// Socket-only listening and a few settings for a bulk-ingest workload,
    /// rewritten at every start so that a moved socket folder is picked up.
    fn write_settings(&self) -> Result<(), ClusterError> {
        let conf = self.pgdata.join("distillwatch.conf");
        let text = format!(
            "# Written by distillwatch at every start.\n\
             listen_addresses = ''\n\
             unix_socket_directories = '{}'\n\
             unix_socket_permissions = 0700\n\
             port = {}\n\
             max_connections = 100\n\
             shared_buffers = '256MB'\n\
             max_wal_size = '2GB'\n\
             logging_collector = off\n",
            self.socket_dir.display().to_string().replace('\'', "''"),
            self.port
        );
        std::fs::write(&conf, text).map_err(|e| io("write", &conf, e))?;
        self.own(&conf)?;
        let main = self.pgdata.join("postgresql.conf");
        let current = std::fs::read_to_string(&main).map_err(|e| io("read", &main, e))?;
        if !current.contains("include_if_exists = 'distillwatch.conf'") {
            let appended = format!("{current}\ninclude_if_exists = 'distillwatch.conf'\n");
            std::fs::write(&main, appended).map_err(|e| io("write", &main, e))?;
        }
        Ok(())
    }

    fn create_database(&self) -> Result<(), ClusterError> {
        let psql = |sql: &str| {
            let mut cmd = self.command("psql");
            cmd.arg("-h").arg(&self.socket_dir).arg("-p").arg(self.port.to_string()).args([
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
                "-XAtq",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ]);
            run(cmd, "psql", &self.log_path())
        };
        let exists =
            psql(&format!("SELECT 1 FROM pg_database WHERE datname = '{}'", self.database.replace('\'', "''")))?;
        if String::from_utf8_lossy(&exists.stdout).trim() != "1" {
            let created = psql(&format!("CREATE DATABASE \"{}\"", self.database.replace('"', "\"\"")));
            // A concurrent start may have created it first.
            if let Err(e) = created
                && !e.to_string().contains("already exists")
            {
                return Err(e);
            }
        }
        Ok(())
    }

    fn pg_ctl(&self, args: &[&str], log: Option<&Path>) -> Result<Output, ClusterError> {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D").arg(&self.pgdata).args(args);
        if let Some(log) = log {
            cmd.arg(log);
        }
        run(cmd, "pg_ctl", &self.log_path())
    }

    fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(tool));
        if tool == "psql" && !self.bin.join("psql").exists() {
            cmd = Command::new("psql");
        }
        // The server account may not be able to enter our working directory.
        cmd.current_dir("/");
        cmd.env("LC_ALL", "C").env_remove("PGDATA").env_remove("PGHOST").env_remove("PGPORT");
        if let Some(account) = self.run_as {
            use std::os::unix::process::CommandExt;
            cmd.uid(account.uid).gid(account.gid);
        }
        cmd
    }

    fn own(&self, path: &Path) -> Result<(), ClusterError> {
        if let Some(account) = self.run_as {
            std::os::unix::fs::chown(path, Some(account.uid), Some(account.gid)).map_err(|e| io("chown", path, e))?;
        }
        Ok(())
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if self.started_here
            && let Err(e) = self.stop()
        {
            tracing::warn!(error = %e, "could not stop the embedded PostgreSQL cluster");
        }
    }
}

fn run(mut cmd: Command, tool: &str, log: &Path) -> Result<Output, ClusterError> {
    let output = cmd.output().map_err(|e| io("run", Path::new(tool), e))?;
    if output.status.success() {
        return Ok(output);
    }
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    if text.trim().is_empty() {
        text = String::from_utf8_lossy(&output.stdout).into_owned();
    }
    let tail: Vec<&str> = text.lines().rev().take(8).collect();
    Err(ClusterError::Tool {
        tool: tool.to_owned(),
        status: output.status.to_string(),
        output: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
        log: log.to_owned(),
    })
}

/// The folder with `initdb`, `pg_ctl` and `postgres`: the configured one, then
/// the newest `/usr/lib/postgresql/<version>/bin`, then `pg_config --bindir`,
/// then `PATH`.
fn find_binaries(configured: Option<&Path>) -> Result<PathBuf, ClusterError> {
    let has_all = |dir: &Path| ["initdb", "pg_ctl", "postgres"].iter().all(|t| dir.join(t).is_file());
    let mut looked = Vec::new();
    if let Some(dir) = configured {
        if has_all(dir) {
            return Ok(dir.to_owned());
        }
        looked.push(dir.display().to_string());
        return Err(ClusterError::BinariesNotFound { looked: looked.join(", ") });
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    looked.push("/usr/lib/postgresql/*/bin".to_owned());
    if let Some((_, dir)) = versions.into_iter().rev().find(|(_, dir)| has_all(dir)) {
        return Ok(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        looked.push(dir.display().to_string());
        if has_all(&dir) {
            return Ok(dir);
        }
    }
    for dir in ["/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin", "/usr/bin"] {
        looked.push(dir.to_owned());
        if has_all(Path::new(dir)) {
            return Ok(PathBuf::from(dir));
        }
    }
    Err(ClusterError::BinariesNotFound { looked: looked.join(", ") })
}

fn effective_uid() -> u32 {
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or_else(|_| {
        Command::new("id")
            .arg("-u")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(u32::MAX)
    })
}

fn postgres_account() -> Result<Account, ClusterError> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() > 3 && fields[0] == "postgres")
                .then(|| Some(Account { uid: fields[2].parse().ok()?, gid: fields[3].parse().ok()? }))?
        })
        .ok_or(ClusterError::NoServiceAccount)
}

/// `<data>/pg`, unless the server account cannot reach it: then a folder under
/// `/var/lib/distillwatch/clusters` named after the data folder.
fn choose_pgdata(data_dir: &Path, run_as: Option<Account>) -> Result<PathBuf, ClusterError> {
    let local = data_dir.join("pg");
    let Some(account) = run_as else {
        mkdir(&local, 0o700)?;
        return Ok(local);
    };
    if reachable_by(data_dir, account) {
        mkdir(&local, 0o700)?;
        std::os::unix::fs::chown(&local, Some(account.uid), Some(account.gid)).map_err(|e| io("chown", &local, e))?;
        return Ok(local);
    }
    let hash = hex::encode(&Sha256::digest(data_dir.as_os_str().as_encoded_bytes())[..8]);
    let base = PathBuf::from("/var/lib/distillwatch/clusters");
    std::fs::create_dir_all(&base).map_err(|e| io("create", &base, e))?;
    let pgdata = base.join(hash);
    mkdir(&pgdata, 0o700)?;
    std::os::unix::fs::chown(&pgdata, Some(account.uid), Some(account.gid)).map_err(|e| io("chown", &pgdata, e))?;
    let note = data_dir.join("CLUSTER_LOCATION");
    let text = format!(
        "The PostgreSQL cluster of this data folder runs as the postgres account, which cannot\n\
         enter this folder, so it lives in:\n{}\n",
        pgdata.display()
    );
    std::fs::write(&note, text).map_err(|e| io("write", &note, e))?;
    Ok(pgdata)
}

/// Whether `account` can enter every folder on the way to `dir` and write in it.
fn reachable_by(dir: &Path, account: Account) -> bool {
    let mut ok = true;
    for ancestor in dir.ancestors() {
        let Ok(meta) = std::fs::metadata(ancestor) else { return false };
        let mode = meta.permissions().mode();
        let allowed = if meta.uid() == account.uid {
            mode & 0o100 != 0
        } else if meta.gid() == account.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        ok &= allowed;
    }
    ok
}

/// A socket folder whose socket path fits the 107-byte limit of Unix sockets.
fn choose_socket_dir(pgdata: &Path, run_as: Option<Account>) -> Result<PathBuf, ClusterError> {
    // Beside the data directory, not in it: initdb wants an empty directory.
    let name = pgdata.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let beside = pgdata.with_file_name(format!("{name}-run"));
    let dir = if beside.join(".s.PGSQL.5432").as_os_str().len() < 100 {
        beside
    } else {
        let hash = hex::encode(&Sha256::digest(pgdata.as_os_str().as_encoded_bytes())[..8]);
        std::env::temp_dir().join(format!("distillwatch-{hash}"))
    };
    mkdir(&dir, 0o700)?;
    if let Some(account) = run_as {
        std::os::unix::fs::chown(&dir, Some(account.uid), Some(account.gid)).map_err(|e| io("chown", &dir, e))?;
    }
    Ok(dir)
}

fn mkdir(path: &Path, mode: u32) -> Result<(), ClusterError> {
    if !path.exists() {
        std::fs::create_dir_all(path).map_err(|e| io("create", path, e))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| io("chmod", path, e))?;
    }
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf, ClusterError> {
    std::path::absolute(path).map_err(|e| io("resolve", path, e))
}

fn io(what: &'static str, path: &Path, source: std::io::Error) -> ClusterError {
    ClusterError::Io { what, path: path.to_owned(), source }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_the_socket_folder_as_the_host() {
        assert_eq!(percent_encode("/var/run/x y"), "%2Fvar%2Frun%2Fx%20y");
    }

    #[test]
    fn a_missing_installation_says_what_to_install() {
        let err = find_binaries(Some(Path::new("/nonexistent"))).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("apt-get install postgresql-15"), "{text}");
        assert!(text.contains("/nonexistent"), "{text}");
        assert!(text.contains("DATABASE_URL"), "{text}");
    }

    /// Starts a real cluster in a temporary folder (as `postgres` when run as
    /// root, from a folder only root can enter), connects, and stops it.
    #[test]
    fn starts_reuses_and_stops_a_real_cluster() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let config =
            ClusterConfig { data_dir: tmp.path().join("data"), pg_bin: None, database: "dwtest".into(), port: None };
        let mut first = LocalCluster::start(&config).unwrap();
        assert!(first.started_here());
        let second = LocalCluster::start(&config).unwrap();
        assert!(!second.started_here(), "a running cluster is reused");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let pool = crate::connect(second.connect_options(), 1).await.unwrap();
            crate::ping(&pool).await.unwrap();
            let url_pool = sqlx::PgPool::connect(&second.database_url()).await.unwrap();
            crate::ping(&url_pool).await.unwrap();
        });
        drop(second);
        assert!(first.is_running(), "the reusing handle does not stop it");
        first.stop().unwrap();
        assert!(!first.is_running());
        // Data survives a restart.
        let again = LocalCluster::start(&config).unwrap();
        assert!(again.started_here());
        let pgdata = again.pgdata().to_owned();
        again.remove().unwrap();
        assert!(!pgdata.exists());
    }
}
