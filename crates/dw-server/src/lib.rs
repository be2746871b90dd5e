//! The `distillwatch` command: settings, telemetry and wiring.
//!
//! This is the only crate that reads the environment. [`main`] parses the
//! command line ([`cli`]), loads layered [`settings`] (defaults, then a TOML
//! file, then `DISTILLWATCH__SECTION__KEY` variables and `DATABASE_URL`, then
//! flags), starts [`telemetry`], opens the [`database`] (a server named by
//! `DATABASE_URL`, or the embedded local cluster) and runs one command:
//!
//! - `serve` ([`serve`]): the HTTP API until SIGINT/SIGTERM, then a graceful stop;
//! - `ingest` ([`ingest_files`]): JSONL files loaded with COPY in large batches;
//! - `keys`: create, list and revoke API keys;
//! - `model` and `embed` ([`embed_files`]): the embedding model and batch embedding;
//! - `audit` ([`audit_file`]): a batch audit, its scores file and evidence;
//! - `reference` ([`cli::reference`]): reference sets, attribution and the distillation test;
//! - `demo` ([`demo`]): a demo database, audited and served;
//! - `simulate`, `eval`, `weights fit`, `classifier train`, `reference calibrate`:
//!   the lab (`dw-lab`), given a host by [`lab`];
//! - `db`: start, stop, migrate, apply retention, print the URL.

pub mod audit_file;
pub mod cli;
pub mod database;
pub mod demo;
pub mod embed_files;
pub mod ingest_files;
pub mod lab;
pub mod reference_files;
pub mod reference_test;
pub mod serve;
pub mod settings;
pub mod telemetry;
pub mod tls;

use std::process::ExitCode;

use clap::Parser;

/// Runs the `distillwatch` command line and returns its exit code.
pub fn main() -> ExitCode {
    dw_app::install_tls_provider();
    let cli = cli::Cli::parse();
    let settings = match settings::Settings::load(cli.config.as_deref(), &cli.overrides()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("distillwatch: configuration error: {e:#}");
            return ExitCode::from(78); // EX_CONFIG
        }
    };
    if let Err(e) = telemetry::init(&settings.log) {
        eprintln!("distillwatch: cannot start logging: {e:#}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("distillwatch: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli, settings)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("distillwatch: {e:#}");
            ExitCode::FAILURE
        }
    }
}
