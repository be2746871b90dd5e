//! `distillwatch reference ...`: reference sets from the command line
//! (load, list), the attribution and the distillation test on them, and
//! the test's calibration on public model outputs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::{cli_actor, with_app};
use crate::settings::Settings;

/// `distillwatch reference ...`
#[derive(Debug, Subcommand)]
pub enum ReferenceCommand {
    /// Load a suspect model's outputs (or a control's, with --control) into a
    /// reference set, creating the set when it does not exist.
    Add {
        /// The set's name: a letter or digit, then letters, digits, '.', '_' or '-'.
        name: String,
        /// One JSON object per line: {"prompt"?, "output", "model"?, "metadata"?} (plain, .gz or .zst; - for stdin).
        file: PathBuf,
        /// The outputs of a model known not to be trained on ours.
        #[arg(long)]
        control: bool,
        /// The suspect model, in your words (for a new set).
        #[arg(long, default_value = "")]
        description: String,
        /// How the outputs were collected (for a new set).
        #[arg(long, default_value = "")]
        collection: String,
        /// Store the items only: leave their outputs unembedded (attribution
        /// by meaning and the distillation test embed them when they first
        /// need them).
        #[arg(long)]
        lexical_only: bool,
    },
    /// List the reference sets.
    List,
    /// Which accounts (and clusters) were served the completions a suspect's
    /// outputs reproduce: most matched first, with the matched texts.
    Attribute {
        /// The suspect set's name.
        suspect: String,
        /// The window and the output.
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Test whether the suspect was trained on our outputs: on prompts that
    /// we, the suspect and the control all answered, are the suspect's
    /// answers closer to ours than the control's?
    Test {
        /// The suspect set's name.
        suspect: String,
        /// The control set's name; given three times or more, the panel
        /// test: does the suspect stand out from how close the controls come?
        #[arg(long, required = true)]
        control: Vec<String>,
        /// The window and the output.
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Test whether the suspect's outputs, to whatever prompts, carry the
    /// phrases, openings, closings and layout habits that tell our served
    /// answers from the controls' (no prompt in common needed); with three
    /// controls or more, whether the suspect stands out from them.
    Fingerprint {
        /// The suspect set's name.
        suspect: String,
        /// A control set's name (once or more; three or more for the panel).
        #[arg(long, required = true)]
        control: Vec<String>,
        /// Our served completions to learn from: a sample of at most this
        /// many, spread over the window.
        #[arg(long, default_value_t = dw_app::DEFAULT_FINGERPRINT_SAMPLE)]
        sample: usize,
        /// Our completions from this instant (RFC 3339 or YYYY-MM-DD; default: all stored).
        #[arg(long)]
        from: Option<String>,
        /// Until this instant, exclusive (default: all stored).
        #[arg(long)]
        to: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the distillation test on public outputs of models whose lineage
    /// is known (students of a model, its siblings, its snapshots) and report
    /// its power and its false-positive rate.
    Calibrate {
        /// A folder laid out like ../shared/data.
        #[arg(long, default_value = "../shared/data")]
        data: PathBuf,
        /// Keep the answers' vectors in this .npy file between runs.
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Where to write the Markdown report.
        #[arg(long)]
        markdown: Option<PathBuf>,
        /// Where to write the JSON report.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Leave the embedding measure out (no model needed).
        #[arg(long)]
        lexical_only: bool,
    },
}

/// What `reference attribute` and `reference test` read and print.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Our completions from this instant (RFC 3339 or YYYY-MM-DD; default: all stored).
    #[arg(long)]
    from: Option<String>,
    /// Until this instant, exclusive (default: all stored).
    #[arg(long)]
    to: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Compare by wording and layout only (no model needed): leave out the
    /// comparison by meaning.
    #[arg(long)]
    lexical_only: bool,
}

impl ReportArgs {
    /// The window, parsed; `None` bounds are all stored traffic.
    fn window(&self) -> anyhow::Result<(Option<time::OffsetDateTime>, Option<time::OffsetDateTime>)> {
        let parse = |flag: &str, value: &Option<String>| {
            value.as_deref().map(|t| crate::audit_file::parse_instant(flag, t)).transpose()
        };
        Ok((parse("--from", &self.from)?, parse("--to", &self.to)?))
    }

    /// The embedding engine, unless `--lexical-only`.
    async fn embedder(&self, settings: &Settings) -> anyhow::Result<Option<dw_embed::EmbedHandle>> {
        if self.lexical_only {
            return Ok(None);
        }
        let encoder = crate::embed_files::load_encoder(&settings.embed).await?;
        Ok(Some(dw_embed::EmbedHandle::spawn(encoder, settings.embed.queue)?))
    }

    /// Prints `report` as JSON or, for a terminal, as `render` writes it.
    fn print<R: serde::Serialize>(&self, report: &R, render: fn(&R) -> String) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(report)?);
        } else {
            print!("{}", render(report));
        }
        Ok(())
    }
}

/// Runs a `reference` command.
pub async fn run(command: ReferenceCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    match command {
        ReferenceCommand::Add { name, file, control, description, collection, lexical_only } => {
            // The engine first: a missing model is said before anything is stored.
            let handle = if lexical_only {
                None
            } else {
                let encoder = crate::embed_files::load_encoder(&settings.embed).await?;
                Some(dw_embed::EmbedHandle::spawn(encoder, settings.embed.queue)?)
            };
            let actor = cli_actor();
            let limits = dw_ingest::Limits {
                max_event_bytes: settings.ingest.max_event_bytes,
                max_body_bytes: settings.ingest.max_body_bytes,
                // A file of the operator's own: every line read, every rejection printed.
                max_items: usize::MAX,
                max_listed_errors: usize::MAX,
                timestamps: None,
            };
            let new =
                dw_app::NewReferenceSet { name: &name, description: &description, collection: &collection, control };
            let (set, created, summary, embedded) = with_app(settings, async |app| {
                let (set, created) = crate::reference_files::set_for(app, &new, &actor).await?;
                let summary = crate::reference_files::add(app, &set, &file, limits, &actor).await?;
                // Every output of the set the model has not embedded yet, this file's and earlier ones'.
                let embedded = match &handle {
                    Some(handle) => {
                        let started = std::time::Instant::now();
                        let n = app.embed_reference_set(handle, set.id, 256, |_| {}).await?;
                        Some((n, started.elapsed().as_secs_f64(), handle.model_id().to_owned()))
                    }
                    None => None,
                };
                anyhow::Ok((set, created, summary, embedded))
            })
            .await?;
            eprintln!(
                "{} {} set {:?} (id {}): {} lines, {} items stored, {} already held, {} lines rejected",
                if created { "created" } else { "added to" },
                if set.control { "control" } else { "suspect" },
                set.name,
                set.id,
                summary.lines,
                summary.stored,
                summary.duplicates,
                summary.rejected
            );
            if let Some((n, seconds, model)) = embedded {
                eprintln!("embedded {n} outputs with {model} in {seconds:.1} s");
            }
            Ok(if summary.rejected == 0 { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        ReferenceCommand::Test { suspect, control, report: args } => {
            let (from, to) = args.window()?;
            let handle = args.embedder(settings).await?;
            if let [control] = control.as_slice() {
                let report = with_app(settings, async |app| {
                    let suspect = app.reference_set_named(&suspect).await?;
                    let control = app.reference_set_named(control).await?;
                    Ok(app.distillation_test(suspect.id, control.id, from, to, handle.as_ref()).await?)
                })
                .await?;
                args.print(&report, crate::reference_test::render)?;
                return Ok(ExitCode::SUCCESS);
            }
            let report = with_app(settings, async |app| {
                let suspect = app.reference_set_named(&suspect).await?;
                let mut controls = Vec::with_capacity(control.len());
                for name in &control {
                    controls.push(app.reference_set_named(name).await?.id);
                }
                Ok(app.panel_test(suspect.id, &controls, from, to, handle.as_ref()).await?)
            })
            .await?;
            args.print(&report, crate::reference_test::render_panel)?;
            Ok(ExitCode::SUCCESS)
        }
        ReferenceCommand::Fingerprint { suspect, control, sample, from, to, json } => {
            let args = ReportArgs { from, to, json, lexical_only: true };
            let (from, to) = args.window()?;
            let report = with_app(settings, async |app| {
                let suspect = app.reference_set_named(&suspect).await?;
                let mut controls = Vec::with_capacity(control.len());
                for name in &control {
                    controls.push(app.reference_set_named(name).await?.id);
                }
                Ok(app.fingerprint_test(suspect.id, &controls, from, to, sample).await?)
            })
            .await?;
            args.print(&report, crate::reference_test::render_fingerprint)?;
            Ok(ExitCode::SUCCESS)
        }
        ReferenceCommand::Attribute { suspect, report: args } => {
            let (from, to) = args.window()?;
            let handle = args.embedder(settings).await?;
            let report = with_app(settings, async |app| {
                let set = app.reference_set_named(&suspect).await?;
                Ok(app.attribution(set.id, from, to, handle.as_ref()).await?)
            })
            .await?;
            args.print(&report, crate::reference_test::render_attribution)?;
            Ok(ExitCode::SUCCESS)
        }
        ReferenceCommand::List => {
            let sets = with_app(settings, async |app| Ok(app.reference_sets().await?)).await?;
            println!("id\tname\tkind\titems\titems_with_prompt\tcreated_at\tdescription");
            for set in sets {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    set.id,
                    set.name,
                    if set.control { "control" } else { "suspect" },
                    set.items,
                    set.items_with_prompt,
                    set.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                    set.description.replace(['\t', '\n'], " ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ReferenceCommand::Calibrate { data, cache, markdown, json, lexical_only } => {
            let args = dw_lab::calibration::CalibrateArgs { data, cache, markdown, json, lexical_only };
            dw_lab::calibration::calibrate(|| crate::embed_files::load_encoder(&settings.embed), &args).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
