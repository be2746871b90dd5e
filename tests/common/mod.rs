//! Helpers for whole-service tests: the real `distillwatch` binary, started as
//! a user would start it, on port 0.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_distillwatch")
}

/// The server the test suite runs against (started by `scripts/test.sh`).
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .expect("DATABASE_URL is not set: run the tests with scripts/test.sh, which starts a throwaway PostgreSQL")
}

/// A fresh database on the test server, dropped at the end of the test.
pub struct TestDb {
    pub url: String,
    name: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let server = server_url();
        let name = format!("dw_whole_{}", uuid::Uuid::new_v4().simple());
        let pool = sqlx::PgPool::connect(&server).await.expect("connect to the test server");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await.unwrap();
        pool.close().await;
        let url = replace_database(&server, &name);
        TestDb { url, name }
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.url).await.unwrap()
    }

    pub async fn drop_db(self) {
        let pool = sqlx::PgPool::connect(&server_url()).await.unwrap();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await.unwrap();
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// A `distillwatch` command with a clean environment: no inherited settings,
/// DATABASE_URL only when given.
pub fn command(database_url: Option<&str>, cwd: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(cwd);
    cmd.env_remove("DATABASE_URL").env_remove("RUST_LOG");
    for (key, _) in std::env::vars() {
        if key.starts_with("DISTILLWATCH__") {
            cmd.env_remove(key);
        }
    }
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    // The tests' events are dated November 2026: "now" is fixed after them,
    // so the timestamp window accepts them in any year.
    cmd.env("DISTILLWATCH__INGEST__CLOCK", TEST_NOW);
    cmd
}

/// What stands for now in the services the tests start (`ingest.clock`).
pub const TEST_NOW: &str = "2026-12-01T00:00:00Z";

/// Runs a command to completion, with stdin from `input` when given.
pub fn run(mut cmd: Command, input: Option<&[u8]>) -> Output {
    use std::io::Write;
    cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start distillwatch");
    if let Some(input) = input {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Creates a key with the CLI and returns its secret.
pub fn create_key(database_url: Option<&str>, cwd: &Path, role: &str) -> String {
    let mut cmd = command(database_url, cwd);
    cmd.args(["keys", "create", "--role", role, "--name", &format!("test {role}")]);
    let out = run(cmd, None);
    assert!(out.status.success(), "keys create failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A running `distillwatch serve`.
pub struct Service {
    child: Child,
    pub base: String,
    pub port: u16,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Service {
    /// Starts `serve --bind 127.0.0.1:0` and waits for its "listening" line.
    pub fn start(cmd: Command) -> Service {
        Self::start_with(cmd, "serve")
    }

    /// Starts `COMMAND --bind 127.0.0.1:0` (a command that serves) and waits
    /// for its "listening" line.
    pub fn start_with(mut cmd: Command, command: &str) -> Service {
        cmd.args([command, "--bind", "127.0.0.1:0"]);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start distillwatch serve");
        let stderr_text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr_text.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout_lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines_sink = stdout_lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("distillwatch listening on ") {
                    let _ = tx.send(url.to_owned());
                }
                lines_sink.lock().unwrap().push(line);
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                panic!("serve did not start: {}", stderr_text.lock().unwrap());
            }
        };
        let port = base.rsplit(':').next().unwrap().parse().unwrap();
        Service { child, base, port, stderr: stderr_text, stdout: stdout_lines }
    }

    /// What follows `prefix` on the first line of standard output that
    /// starts with it (printed before the "listening" line).
    pub fn stdout_after(&self, prefix: &str) -> Option<String> {
        self.stdout.lock().unwrap().iter().find_map(|line| line.strip_prefix(prefix).map(str::to_owned))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What the service has logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Kills the process with SIGKILL (no chance to finish anything) and
    /// waits for it to be gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit; returns the status and the logs.
    pub fn stop(self) -> (ExitStatus, String) {
        self.terminate();
        self.stop_after_signal()
    }

    /// Waits for the exit after a signal was sent.
    pub fn stop_after_signal(mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100)); // let the log reader drain
                return (status, self.stderr.lock().unwrap().clone());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("serve did not stop within 60 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Waits until audit `audit` is done (an analyst's `key` reading it through
/// the API); panics when it failed or took longer than `limit`.
pub async fn wait_for_audit(
    client: &reqwest::Client,
    service: &Service,
    key: &str,
    audit: i64,
    limit: Duration,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let state: serde_json::Value = client
            .get(service.url(&format!("/v1/audits/{audit}")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        match state["state"].as_str().unwrap() {
            "done" => return state,
            "failed" => panic!("the audit failed: {state}"),
            _ => assert!(started.elapsed() < limit, "the audit did not finish: {state}"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// `n` realistic events for account `acct_{i % accounts}`, ids prefixed by `tag`.
pub fn events(tag: &str, n: usize, accounts: usize) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| {
            serde_json::json!({
                "event_id": format!("{tag}-{i}"),
                "account_id": format!("acct_{}", i % accounts),
                "timestamp": format!("2026-11-{:02}T{:02}:{:02}:00Z", 1 + i % 27, i % 24, i % 60),
                "model": "gpt-x",
                "endpoint": "chat.completions",
                "request": {"messages": [{"role": "user", "content": format!("Explain topic {i} step by step.")}],
                            "temperature": 0.7, "max_tokens": 512},
                "response": {"content": format!("Answer {i}: ").repeat(20), "finish_reason": "stop"},
                "usage": {"prompt_tokens": 12, "completion_tokens": 200},
                "client": {"ip": format!("203.0.113.{}", i % 250), "user_agent": "OpenAI/Python 1.54.0"}
            })
        })
        .collect()
}

pub fn ndjson(events: &[serde_json::Value]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}
