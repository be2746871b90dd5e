//! `distillwatch weights fit`: the signal weights, the cluster model and the
//! request-stream model fitted on simulated traffic built from the fit half
//! of the data (never the evaluation seeds).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use dw_app::AuditWindow;
use dw_sim::SimConfig;

use crate::host::{Host, Throwaway};
use crate::population::{Population, load_population, write_simulation};

/// What `weights fit` needs.
#[derive(Debug, Clone)]
pub struct FitArgs {
    /// The data folder; only its fit half is used.
    pub data: PathBuf,
    /// Simulation seeds (never the evaluation suites' 1 to 3).
    pub seeds: Vec<u64>,
    /// Simulation scale.
    pub scale: f64,
    /// Where to write the fitted table.
    pub out: PathBuf,
    /// Where to write the Markdown report.
    pub report: Option<PathBuf>,
}

/// The version the fit writes.
pub const FITTED_VERSION: &str = "signals-v5";

/// Kinds whose extraction shows only through a link or a part of the
/// account (a farm member's own traffic is a few dozen ordinary requests a
/// day; a mixed account's or a reseller's is mostly someone else's): their
/// rows would teach the weights that ordinary traffic is extraction, so the
/// fit leaves them out and the cluster and part terms catch them.
const NOT_FIT_KINDS: [&str; 5] =
    ["farm_hosting", "farm_residential", "paraphrase_evader", "mixed_extraction", "reseller_with_extractors"];

/// `distillwatch weights fit`: simulates populations from the fit half of
/// the data, audits each over its whole window with the current table's
/// transforms, and fits the weights on the accounts' signal scores.
pub async fn fit_weights(host: &Host<'_>, args: &FitArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!args.seeds.is_empty(), "give at least one seed");
    anyhow::ensure!(args.seeds.iter().all(|s| *s > 3), "seeds 1 to 3 are the evaluation suites': fit on others");
    let corpus = dw_sim::corpus::Corpus::load_half(&args.data, Some(dw_sim::corpus::Half::Fit))
        .with_context(|| format!("cannot read the fit half of {}", args.data.display()))?;
    let prior = dw_detect::Weights::default();
    let scratch = tempfile::tempdir().context("cannot create a scratch folder")?;
    let mut rows = Vec::new();
    // Every account's signal scores, label and cluster, for the cluster term.
    let mut everyone: Vec<(Vec<f64>, bool, Option<String>)> = Vec::new();
    // Each account's riskiest request stream's signal scores and detached share, with its label.
    let mut streams: Vec<(Vec<f64>, f64, bool)> = Vec::new();
    let mut per_kind: std::collections::BTreeMap<String, usize> = Default::default();
    for (index, seed) in args.seeds.iter().enumerate() {
        let config = SimConfig { seed: *seed, scale: args.scale, ..SimConfig::default() };
        let sim = dw_sim::simulate(config, &corpus)?;
        let population = Population {
            name: format!("fit-{seed}"),
            events: scratch.path().join(format!("events-{seed}.jsonl")),
            labels: scratch.path().join(format!("labels-{seed}.csv")),
            accounts: Some(scratch.path().join(format!("accounts-{seed}.csv"))),
        };
        write_simulation(&sim, &population.events, &population.labels, population.accounts.as_deref())?;
        let kinds: HashMap<String, &'static str> = sim.accounts.iter().map(|a| (a.id.clone(), a.kind.name())).collect();
        let throwaway = Throwaway::create(host, index).await?;
        let app = host.app(throwaway.pool.clone());
        let verdicts = async {
            let (_, from, checkpoints) = load_population(&app, host.loader, &population).await?;
            let to = *checkpoints.last().context("no checkpoints")?;
            Ok::<_, anyhow::Error>(app.audit_verdicts(&AuditWindow::new(from, to)?).await?)
        }
        .await;
        throwaway.drop_with(host).await?;
        let verdicts = verdicts?;
        for v in &verdicts {
            let kind = kinds.get(&v.score.account_id).copied().unwrap_or("unknown");
            let scores: Vec<f64> = prior
                .signals
                .iter()
                .map(|w| {
                    let value = v.signals.iter().find(|s| s.signal.name == w.signal).and_then(|s| s.signal.value);
                    value.map_or(0.0, |x| w.transform.apply(x))
                })
                .collect();
            let attack = dw_sim::kinds::Kind::ALL.iter().any(|k| k.name() == kind && k.is_attack());
            let cluster = v.score.cluster_id.as_ref().map(|c| format!("{seed}/{c}"));
            everyone.push((scores.clone(), attack, cluster));
            // The stream model maps only streams that stand apart from their account: the others are
            // held at `medium` whatever it says (`dw_detect::detector::STREAM_APART_DETACHED_SHARE`).
            if let Some(stream) = v.riskiest_stream.as_ref().filter(|s| s.stands_apart == Some(true)) {
                let of = |name: &str| stream.scores.iter().find(|(n, _)| *n == name).map_or(0.0, |(_, s)| *s);
                streams.push((prior.signals.iter().map(|w| of(&w.signal)).collect(), stream.detached_share, attack));
            }
            if NOT_FIT_KINDS.contains(&kind) {
                continue;
            }
            *per_kind.entry(kind.to_owned()).or_default() += 1;
            rows.push(dw_detect::fit::FitRow { scores, attack });
        }
        eprintln!("seed {seed}: {} accounts audited", verdicts.len());
    }
    let options = dw_detect::fit::FitOptions::default();
    let (mut fitted, report) = dw_detect::fit::fit_weights(&prior, &rows, options, FITTED_VERSION);
    // The cluster term, on every linked account (farm members included).
    let fitted_weights: Vec<f64> = fitted.signals.iter().map(|w| w.weight).collect();
    let own = |scores: &[f64]| fitted_weights.iter().zip(scores).map(|(w, s)| w * s).sum::<f64>();
    let mut clusters: std::collections::BTreeMap<&str, Vec<(f64, bool)>> = Default::default();
    for (scores, attack, cluster) in &everyone {
        if let Some(cluster) = cluster {
            clusters.entry(cluster).or_default().push((own(scores), *attack));
        }
    }
    let members: Vec<dw_detect::fit::ClusterMember> = clusters
        .values()
        .flat_map(|m| {
            let mean = m.iter().map(|(e, _)| e).sum::<f64>() / m.len() as f64;
            m.iter().map(move |(_, attack)| dw_detect::fit::ClusterMember {
                mean_evidence: mean,
                size: m.len(),
                attack: *attack,
            })
        })
        .collect();
    let benign_accounts = everyone.iter().filter(|(_, attack, _)| !attack).count();
    let (linked_caught, linked_benign) =
        dw_detect::fit::fit_cluster_term(&mut fitted, &members, benign_accounts, options);
    // The stream model, on every account's riskiest stream that stands apart, with half the benign budget.
    let stream_rows: Vec<dw_detect::fit::StreamRow> = streams
        .iter()
        .map(|(scores, detached_share, attack)| dw_detect::fit::StreamRow {
            sum: own(scores),
            detached_share: *detached_share,
            attack: *attack,
        })
        .collect();
    let stream_options = dw_detect::fit::FitOptions { benign_flag_share: options.benign_flag_share / 2.0, ..options };
    let (streams_caught, streams_benign) =
        dw_detect::fit::fit_stream_term(&mut fitted, &stream_rows, benign_accounts, stream_options);
    std::fs::write(&args.out, serde_json::to_string_pretty(&fitted)? + "\n")
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let mut text = format!(
        "Weights `{}` fitted by `distillwatch weights fit` on the fit half of {} (seeds {:?}, scale {}): {} accounts \
         ({} extracting, {} benign; farm, evader, mixed and reseller-with-extractor accounts left out, see \
         `NOT_FIT_KINDS`), class-balanced logistic regression with L2 {} per row, non-negative weights, offset placed \
         so that at most {:.1}% of benign accounts reach risk {}.\n\n",
        fitted.version,
        args.data.display(),
        args.seeds,
        args.scale,
        rows.len(),
        report.attacks,
        report.benign,
        options.l2,
        100.0 * options.benign_flag_share,
        options.flag_risk
    );
    text.push_str("| signal | transform | prior weight | fitted weight |\n| --- | --- | ---: | ---: |\n");
    for (p, f) in prior.signals.iter().zip(&fitted.signals) {
        text.push_str(&format!("| `{}` | {:?} | {} | {:.3} |\n", p.signal, p.transform, p.weight, f.weight));
    }
    text.push_str(&format!(
        "\nOffset {:.3} (the logistic's own: {:.3}{}), slope {}. Linked clusters (three accounts or more): risk = \
         sigmoid({:.3} x members' mean weighted sum + {:.3} x log2(size) - {:.3}), fitted on the linked accounts; it \
         flags {linked_caught} of {} extracting linked accounts and {linked_benign} of {} benign ones on the fit \
         data. Request streams (each account's riskiest, when it has several and it stands apart from the \
         account): risk = sigmoid({:.3} x the stream's weighted sum + {:.3} x its detached share - {:.3}), with half \
         the benign budget; it flags {streams_caught} of {} extracting accounts and {streams_benign} of {} benign \
         ones on the fit data. Dropped for a negative weight: {}. Reported, never \
         weighed (`REPORTED_ONLY`): {}. Rows by kind: {}.\n",
        fitted.offset,
        -report.intercept,
        if report.offset_raised { "; raised to hold the benign budget" } else { "" },
        fitted.slope,
        fitted.cluster_evidence_weight,
        fitted.cluster_size_weight,
        fitted.cluster_offset.unwrap_or(fitted.offset),
        members.iter().filter(|m| m.attack).count(),
        members.iter().filter(|m| !m.attack).count(),
        fitted.stream_evidence_weight,
        fitted.stream_detached_weight,
        fitted.stream_offset.unwrap_or(fitted.offset),
        stream_rows.iter().filter(|r| r.attack).count(),
        stream_rows.iter().filter(|r| !r.attack).count(),
        if report.dropped.is_empty() { "none".to_owned() } else { report.dropped.join(", ") },
        dw_detect::scoring::REPORTED_ONLY.join(", "),
        per_kind.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
    ));
    if let Some(path) = &args.report {
        std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprint!("{text}");
    Ok(())
}
