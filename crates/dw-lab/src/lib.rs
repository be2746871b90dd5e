//! The distillwatch lab: simulation-driven evaluation, the fits of the
//! signal weights and of the task-instruction classifier, the reference
//! test's calibration, and the demo's data.
//!
//! Everything here runs the service's own use cases (`dw-app`) on simulated
//! or public data; nothing here is the service. The binary (`dw-server`)
//! gives the lab a [`Host`] (a database server, the use cases' settings, its
//! file ingest) and an encoder when one is needed; the lab depends on nothing
//! above it.
//!
//! - [`population`]: `distillwatch simulate`, and populations loaded into an app;
//! - [`evaluate`]: `distillwatch eval` (suites, ablations, the frozen suite, floors);
//! - [`fit`]: `distillwatch weights fit`;
//! - [`classifier`]: `distillwatch classifier train`;
//! - [`calibration`]: `distillwatch reference calibrate`;
//! - [`demo`]: the demo's traffic, loaded into the demo's database.

pub mod calibration;
pub mod classifier;
pub mod demo;
pub mod embed_cache;
pub mod evaluate;
pub mod fit;
pub mod host;
pub mod population;

pub use host::{EventLoader, Host, Loaded, Throwaway};

/// A progress bar on stderr with `template`, or `None` when stderr is not a
/// terminal (batch jobs then print plain summaries).
pub fn progress_bar(len: u64, template: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let style = indicatif::ProgressStyle::with_template(template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(style);
    Some(bar)
}
