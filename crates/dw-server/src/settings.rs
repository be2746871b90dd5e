//! Layered configuration: defaults, then a TOML file, then environment
//! variables (`DISTILLWATCH__SECTION__KEY`, and `DATABASE_URL`), then flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Every setting of the service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// HTTP server.
    pub server: ServerSettings,
    /// Database.
    pub database: DatabaseSettings,
    /// Ingest limits.
    pub ingest: IngestSettings,
    /// Data retention.
    pub retention: RetentionSettings,
    /// Logging.
    pub log: LogSettings,
    /// The embedding engine.
    pub embed: EmbedSettings,
    /// Detection: level thresholds, the flag decision, detector parameters.
    pub detect: dw_app::DetectConfig,
    /// Audit jobs: workers in `serve`, and the schedule.
    pub audit: AuditSettings,
    /// The leased jobs (audits, attribution and distillation-test runs).
    pub jobs: JobsSettings,
    /// Where flag events are sent (`serve` sends them).
    #[serde(default)]
    pub webhooks: dw_app::WebhookConfig,
    /// The analyst console's sessions.
    #[serde(default)]
    pub console: ConsoleSettings,
}

/// `[console]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// A session with no request for this many minutes has ended.
    pub session_idle_minutes: u64,
    /// A session ends this many hours after sign-in, however busy.
    pub session_hours: u64,
    /// Sign-in attempts allowed per client address per minute.
    pub sign_in_attempts_per_minute: u32,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self { session_idle_minutes: 30, session_hours: 12, sign_in_attempts_per_minute: 10 }
    }
}

/// `[jobs]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsSettings {
    /// Claims of one job before a lease that runs out fails it for good
    /// (each such claim's worker died or was killed holding it).
    pub max_attempts: u32,
    /// Jobs (audits and reference runs) waiting at most; an analyst's
    /// request for another is answered 429 until some have run.
    pub max_queued: u32,
    /// How long a worker's claim on a job lasts without a heartbeat (every
    /// third of it), in seconds: a job whose worker died is claimed again
    /// this long after the worker's last heartbeat.
    pub lease_seconds: u64,
}

/// `[audit]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Workers `serve` runs (claiming queued audits, then attribution and
    /// distillation-test runs); 0 runs none.
    pub workers: usize,
    /// The longest window an analyst may ask one audit for, in days (the
    /// CLI's `audit` is the operator's, and takes any).
    pub max_window_days: u32,
    /// Queue an audit every this many hours (0: no schedule).
    pub schedule_every_hours: u32,
    /// Each scheduled audit covers the last this many days.
    pub schedule_days: u32,
    /// How often idle workers look for queued work, in seconds.
    pub poll_seconds: u64,
    /// Threads of the pool audits and attribution compute on, apart from
    /// the threads that serve requests; 0 (the default) takes one per core.
    #[serde(default)]
    pub compute_threads: usize,
}

/// `[embed]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedSettings {
    /// Whether `serve` loads the embedding model (also when
    /// `audit_per_account_day` is above 0): reference runs then compare by
    /// meaning and uploaded reference outputs are embedded.
    #[serde(default)]
    pub enabled: bool,
    /// Where `model fetch` puts models.
    pub models_dir: PathBuf,
    /// A model folder to use instead of the default all-MiniLM-L6-v2 in
    /// `models_dir` (any BERT-shaped sentence-transformers folder).
    pub model: Option<PathBuf>,
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Truncation length in tokens; absent takes the model's (256 for MiniLM).
    pub max_tokens: Option<usize>,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// Embedding jobs waiting at most; more are refused as overloaded.
    pub queue: usize,
    /// Events per account an embedding job takes on CPU (stratified over time).
    pub per_account_budget: u32,
    /// Prompts per account and day an audit embeds on CPU for its coverage
    /// signals (everything on a GPU); 0, the default, audits without them
    /// (they are reported, not weighed: see `docs/signals.md`).
    pub audit_per_account_day: u32,
    /// How stored vectors are encoded: `f16` (half the space) or `f32`.
    pub store_dtype: String,
    /// The encoder's dense-layer arithmetic on the CPU: `float32` (vectors as
    /// sentence-transformers') or `int8` (faster; cosine ≥ 0.995 to float32).
    pub precision: String,
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on (`127.0.0.1:8080`; port 0 picks a free port).
    pub bind: SocketAddr,
    /// Seconds to wait for in-flight requests on shutdown.
    pub shutdown_grace_seconds: u64,
    /// A PEM certificate chain (leaf first): with `tls_key`, `serve` speaks
    /// only HTTPS.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// An address of its own for `/metrics` (then not served with the API).
    #[serde(default)]
    pub metrics_bind: Option<SocketAddr>,
    /// How long a request may take, whole, in seconds (503 past it).
    pub request_timeout_seconds: u64,
    /// How long an upload (events, traces, logs, reference items) may take,
    /// whole, in seconds.
    pub upload_timeout_seconds: u64,
    /// How long a connection may take to send a request's headers, and may
    /// stay idle between requests, in seconds (then it is closed).
    pub header_read_timeout_seconds: u64,
    /// Connections held open at once; past it, new ones wait to be accepted.
    pub max_connections: usize,
}

/// `[database]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// A PostgreSQL URL; when absent, the embedded local cluster is used.
    /// Also read from `DATABASE_URL`.
    #[serde(skip_serializing)]
    pub url: Option<SecretString>,
    /// Data folder of the embedded cluster.
    pub data_dir: PathBuf,
    /// Folder with PostgreSQL's `initdb`, `pg_ctl` and `postgres`.
    pub pg_bin: Option<PathBuf>,
    /// Database name in the embedded cluster.
    pub name: String,
    /// Pool size.
    pub max_connections: u32,
    /// How long one statement of a request `serve` answers may run, in
    /// seconds (0: no limit); background jobs (audits, reference runs) have none.
    pub statement_timeout_seconds: u64,
}

/// `[ingest]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    /// Largest single event, in bytes.
    pub max_event_bytes: usize,
    /// Largest request body after decompression, in bytes.
    pub max_body_bytes: usize,
    /// HTTP ingest requests processed at once; more get 429.
    pub max_concurrent_requests: usize,
    /// Of those, at most this many from one key; more get 429.
    pub max_concurrent_per_key: usize,
    /// Most items (lines, array elements, OTLP spans or log records) one
    /// request body may hold; more is a 413, nothing stored.
    pub max_items_per_body: usize,
    /// Most rejected items listed in one answer (the rest are counted).
    pub max_listed_errors: usize,
    /// How long an ingest request's body may take to arrive once it holds
    /// an ingest slot, in seconds (408 past it).
    pub body_read_timeout_seconds: u64,
    /// Events per transaction when loading files.
    pub file_batch_events: usize,
    /// Transactions in flight at once when loading files.
    pub file_writers: usize,
    /// How long half of an OTLP model call (a span exported without its
    /// messages, or its log records) waits for the other, and a call for the
    /// ancestor span that names its account, in seconds.
    pub otlp_join_wait_seconds: u64,
    /// Days before now an event's timestamp may be, over HTTP and in
    /// `distillwatch ingest` without `--backfill`.
    pub timestamp_past_days: u32,
    /// Days after now an event's timestamp may be.
    pub timestamp_future_days: u32,
    /// What is replaced in events' texts before they are stored: any of
    /// `email`, `phone`, `api_key`, `card` (none by default).
    #[serde(default)]
    pub redact: Vec<String>,
    /// An RFC 3339 instant that stands for now in that check; absent, the
    /// system clock (set it in tests, or to replay a past capture).
    #[serde(default, with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub clock: Option<time::OffsetDateTime>,
}

impl IngestSettings {
    /// The redaction `redact` names; an unknown kind is an error naming it.
    pub fn redaction(&self) -> anyhow::Result<dw_ingest::Redaction> {
        let kinds = self
            .redact
            .iter()
            .map(|name| name.parse::<dw_ingest::redact::Kind>().map_err(|e| anyhow::anyhow!("ingest.redact: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(dw_ingest::Redaction::new(kinds))
    }

    /// The timestamp window these settings describe.
    pub fn timestamp_policy(&self) -> dw_ingest::TimestampPolicy {
        dw_ingest::TimestampPolicy {
            past_days: self.timestamp_past_days,
            future_days: self.timestamp_future_days,
            clock: self.clock.map_or(dw_ingest::Clock::System, dw_ingest::Clock::Fixed),
        }
    }
}

/// `[retention]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Keep events for this many days; absent keeps them forever (default).
    pub days: Option<u32>,
    /// How often `serve` applies retention, in minutes.
    pub check_interval_minutes: u64,
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A tracing filter (`info`, `dw_api=debug,info`, ...).
    pub filter: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server: ServerSettings {
                bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
                shutdown_grace_seconds: 30,
                tls_cert: None,
                tls_key: None,
                metrics_bind: None,
                request_timeout_seconds: 60,
                upload_timeout_seconds: 300,
                header_read_timeout_seconds: 30,
                max_connections: 1024,
            },
            database: DatabaseSettings {
                url: None,
                data_dir: PathBuf::from(".distillwatch"),
                pg_bin: None,
                name: "distillwatch".into(),
                max_connections: 16,
                statement_timeout_seconds: 30,
            },
            ingest: IngestSettings {
                max_event_bytes: 1 << 20,
                max_body_bytes: 64 << 20,
                max_concurrent_requests: 8,
                max_concurrent_per_key: 4,
                max_items_per_body: 100_000,
                max_listed_errors: 100,
                body_read_timeout_seconds: 30,
                timestamp_past_days: 400,
                timestamp_future_days: 1,
                redact: Vec::new(),
                clock: None,
                file_batch_events: 10_000,
                file_writers: 2,
                otlp_join_wait_seconds: dw_app::DEFAULT_JOIN_WAIT_SECONDS,
            },
            retention: RetentionSettings { days: None, check_interval_minutes: 60 },
            log: LogSettings { format: LogFormat::Human, filter: "info,sqlx=warn".into() },
            embed: EmbedSettings {
                enabled: false,
                models_dir: PathBuf::from("models"),
                model: None,
                device: "cpu".into(),
                max_tokens: None,
                batch_size: 32,
                queue: 64,
                per_account_budget: 64,
                audit_per_account_day: 0,
                store_dtype: "f16".into(),
                precision: "float32".into(),
            },
            detect: dw_app::DetectConfig::default(),
            audit: AuditSettings {
                workers: 1,
                max_window_days: dw_app::DEFAULT_MAX_AUDIT_WINDOW_DAYS,
                schedule_every_hours: 0,
                schedule_days: 7,
                poll_seconds: 5,
                compute_threads: 0,
            },
            jobs: JobsSettings {
                max_attempts: dw_app::DEFAULT_MAX_JOB_ATTEMPTS,
                lease_seconds: dw_app::DEFAULT_LEASE.as_secs(),
                max_queued: dw_app::DEFAULT_MAX_QUEUED_JOBS,
            },
            webhooks: dw_app::WebhookConfig::default(),
            console: ConsoleSettings::default(),
        }
    }
}

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "distillwatch.toml";

impl Settings {
    /// Loads the layers. `overrides` are flags, as `section.key` pairs.
    pub fn load(config_file: Option<&Path>, overrides: &[(&str, figment::value::Value)]) -> anyhow::Result<Self> {
        Self::load_from(
            config_file,
            overrides,
            Env::prefixed("DISTILLWATCH__").split("__"),
            std::env::var("DATABASE_URL").ok(),
        )
    }

    fn load_from(
        config_file: Option<&Path>,
        overrides: &[(&str, figment::value::Value)],
        env: Env,
        database_url: Option<String>,
    ) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match config_file {
            Some(path) => {
                anyhow::ensure!(path.is_file(), "config file {} does not exist", path.display());
                figment = figment.merge(Toml::file(path));
            }
            None => figment = figment.merge(Toml::file(DEFAULT_CONFIG_FILE)),
        }
        figment = figment.merge(env.lowercase(true));
        if let Some(url) = database_url.filter(|u| !u.trim().is_empty()) {
            figment = figment.merge(Serialized::default("database.url", url));
        }
        for (key, value) in overrides {
            figment = figment.merge(Serialized::default(key, value.clone()));
        }
        let settings: Settings = figment.extract().context("invalid setting")?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let console = &self.console;
        if console.session_idle_minutes == 0 || console.session_hours == 0 || console.sign_in_attempts_per_minute == 0 {
            anyhow::bail!(
                "console.session_idle_minutes, console.session_hours and console.sign_in_attempts_per_minute must be \
                 at least 1"
            );
        }
        if console.session_hours > 24 * 30 || console.session_idle_minutes > console.session_hours * 60 {
            anyhow::bail!(
                "console.session_hours is at most 720, and console.session_idle_minutes at most the session's length"
            );
        }
        anyhow::ensure!(self.database.max_connections >= 2, "database.max_connections must be at least 2");
        anyhow::ensure!(self.ingest.max_event_bytes >= 1024, "ingest.max_event_bytes must be at least 1024");
        anyhow::ensure!(
            self.ingest.max_body_bytes >= self.ingest.max_event_bytes,
            "ingest.max_body_bytes must be at least ingest.max_event_bytes"
        );
        anyhow::ensure!(self.ingest.max_concurrent_requests >= 1, "ingest.max_concurrent_requests must be at least 1");
        self.ingest.redaction()?;
        anyhow::ensure!(self.ingest.file_batch_events >= 1, "ingest.file_batch_events must be at least 1");
        anyhow::ensure!((1..=64).contains(&self.ingest.file_writers), "ingest.file_writers must be between 1 and 64");
        anyhow::ensure!(self.ingest.max_items_per_body >= 1, "ingest.max_items_per_body must be at least 1");
        anyhow::ensure!(
            (1..=3_600).contains(&self.ingest.body_read_timeout_seconds),
            "ingest.body_read_timeout_seconds must be between 1 and 3600"
        );
        anyhow::ensure!((1..=1_000).contains(&self.jobs.max_attempts), "jobs.max_attempts must be between 1 and 1000");
        anyhow::ensure!(
            (1..=3_600).contains(&self.server.header_read_timeout_seconds),
            "server.header_read_timeout_seconds must be between 1 and 3600"
        );
        anyhow::ensure!(
            (1..=1_000_000).contains(&self.server.max_connections),
            "server.max_connections must be between 1 and 1000000"
        );
        anyhow::ensure!(
            (3..=3_600).contains(&self.jobs.lease_seconds),
            "jobs.lease_seconds must be between 3 and 3600"
        );
        anyhow::ensure!(
            (1..=100_000).contains(&self.ingest.max_listed_errors),
            "ingest.max_listed_errors must be between 1 and 100000"
        );
        anyhow::ensure!(
            (1..=86_400).contains(&self.ingest.otlp_join_wait_seconds),
            "ingest.otlp_join_wait_seconds must be between 1 and 86400"
        );
        anyhow::ensure!(
            self.retention.days != Some(0),
            "retention.days must be at least 1 (leave it unset to keep everything)"
        );
        anyhow::ensure!(
            self.retention.check_interval_minutes >= 1,
            "retention.check_interval_minutes must be at least 1"
        );
        anyhow::ensure!(!self.database.name.is_empty(), "database.name must not be empty");
        self.embed.device.parse::<dw_embed::DeviceChoice>().map_err(|e| anyhow::anyhow!("embed.device: {e}"))?;
        anyhow::ensure!(self.embed.batch_size >= 1, "embed.batch_size must be at least 1");
        anyhow::ensure!(self.embed.queue >= 1, "embed.queue must be at least 1");
        anyhow::ensure!(self.embed.per_account_budget >= 1, "embed.per_account_budget must be at least 1");
        anyhow::ensure!(self.audit.schedule_days >= 1, "audit.schedule_days must be at least 1");
        anyhow::ensure!(self.audit.poll_seconds >= 1, "audit.poll_seconds must be at least 1");
        anyhow::ensure!(
            matches!(self.embed.store_dtype.as_str(), "f16" | "f32"),
            "embed.store_dtype must be f16 or f32"
        );
        anyhow::ensure!(
            matches!(self.embed.precision.as_str(), "float32" | "int8"),
            "embed.precision must be float32 or int8"
        );
        anyhow::ensure!(self.embed.max_tokens.is_none_or(|n| n >= 2), "embed.max_tokens must be at least 2");
        self.detect.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
        self.webhooks.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Jail;

    // figment's Jail fixes the closure's error type.
    #[allow(clippy::result_large_err)]
    fn load(jail_env: &[(&str, &str)], file: Option<&str>) -> anyhow::Result<Settings> {
        let mut result = None;
        Jail::expect_with(|jail| {
            for (k, v) in jail_env {
                jail.set_env(k, v);
            }
            let path = file.map(|text| {
                jail.create_file("custom.toml", text).expect("write config");
                PathBuf::from("custom.toml")
            });
            result = Some(Settings::load_from(
                path.as_deref(),
                &[],
                Env::prefixed("DISTILLWATCH__").split("__"),
                jail_env.iter().find(|(k, _)| *k == "DATABASE_URL").map(|(_, v)| (*v).to_owned()),
            ));
            Ok(())
        });
        result.expect("jail ran")
    }

    #[test]
    fn defaults_then_file_then_environment() {
        let s = load(&[], None).unwrap();
        assert_eq!(s.server.bind.port(), 8080);
        assert!(s.database.url.is_none());
        assert_eq!(s.retention.days, None, "retention is off by default");

        let s = load(
            &[("DISTILLWATCH__INGEST__MAX_BODY_BYTES", "2000000")],
            Some("[ingest]\nmax_body_bytes = 1000000\nmax_event_bytes = 5000\n"),
        )
        .unwrap();
        assert_eq!(s.ingest.max_body_bytes, 2_000_000, "environment wins over the file");
        assert_eq!(s.ingest.max_event_bytes, 5000, "the file wins over defaults");

        let s = load(&[("DATABASE_URL", "postgres://x@y/z")], None).unwrap();
        assert!(s.database.url.is_some());
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = load(&[("DISTILLWATCH__SERVER__BIND", "not-an-address")], None).unwrap_err();
        assert!(format!("{err:#}").to_lowercase().contains("server.bind"), "{err:#}");
        let err = load(&[], Some("[ingest]\nmax_body_byte = 3\n")).unwrap_err();
        assert!(format!("{err:#}").contains("max_body_byte"), "{err:#}");
        let err = load(&[("DISTILLWATCH__RETENTION__DAYS", "0")], None).unwrap_err();
        assert!(format!("{err:#}").contains("retention.days"), "{err:#}");
    }

    #[test]
    fn console_sessions_are_configured_and_checked() {
        let s = load(&[], None).unwrap();
        assert_eq!((s.console.session_idle_minutes, s.console.session_hours), (30, 12));
        let s = load(&[("DISTILLWATCH__CONSOLE__SESSION_IDLE_MINUTES", "5")], Some("[console]\nsession_hours = 2\n"))
            .unwrap();
        assert_eq!((s.console.session_idle_minutes, s.console.session_hours), (5, 2));
        let api = crate::serve::api_config(&s);
        assert_eq!(api.console.sessions.idle, std::time::Duration::from_secs(300));
        assert!(!api.console.secure_cookies, "plain HTTP: no Secure cookies");
        let mut https = s.clone();
        https.server.tls_cert = Some(PathBuf::from("cert.pem"));
        https.server.tls_key = Some(PathBuf::from("key.pem"));
        assert!(crate::serve::api_config(&https).console.secure_cookies, "HTTPS: Secure cookies");
        let err = load(&[], Some("[console]\nsession_hours = 1\nsession_idle_minutes = 90\n")).unwrap_err();
        assert!(format!("{err:#}").contains("console.session_idle_minutes"), "{err:#}");
        let err = load(&[], Some("[console]\nsign_in_attempts_per_minute = 0\n")).unwrap_err();
        assert!(format!("{err:#}").contains("console.sign_in_attempts_per_minute"), "{err:#}");
    }

    #[test]
    fn detection_settings_come_from_the_file_and_are_checked() {
        let s = load(
            &[],
            Some("[detect.flags]\nflag_level = \"medium\"\nallowlist = [\"acct_partner\"]\n[detect.levels]\nhigh = 0.8\n"),
        )
        .unwrap();
        assert_eq!(s.detect.flags.flag_level, dw_domain::RiskLevel::Medium);
        assert!(s.detect.flags.allowlist.contains("acct_partner"));
        assert_eq!(
            (s.detect.levels.high, s.detect.levels.critical),
            (0.8, 0.9),
            "unset thresholds keep their defaults"
        );
        let err = load(&[], Some("[detect.levels]\nhigh = 0.95\n")).unwrap_err();
        assert!(format!("{err:#}").contains("detect.levels"), "{err:#}");
        let err = load(&[], Some("[detect.flags]\nflag_level = \"severe\"\n")).unwrap_err();
        assert!(format!("{err:#}").contains("flag_level"), "{err:#}");
        assert_eq!(s.detect.flags.decisive.get("reference_match"), Some(&0.2), "the design's decisive signal");
        let s = load(&[], Some("[detect.flags.decisive]\nreference_match = 0.3\nlogprobs_share = 0.95\n")).unwrap();
        assert_eq!(s.detect.flags.decisive.len(), 2);
        let err = load(&[], Some("[detect.flags.decisive]\nlogprob_share = 0.95\n")).unwrap_err();
        assert!(format!("{err:#}").contains("unknown signal \"logprob_share\""), "{err:#}");
    }
}
