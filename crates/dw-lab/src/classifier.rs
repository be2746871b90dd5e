//! `distillwatch classifier train`: fits the task-instruction classifier on
//! a data folder, validates it leaving one source out at a time, and writes
//! the weights (committed in `dw-detect`) and a Markdown report.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use dw_detect::content::InstructionClassifier;
use dw_detect::content::instruction::{Example, HeldOut, leave_one_source_out, pairwise_auc};
use dw_sim::corpus::{LabelledPrompt, PromptClass};

/// The model's version: bump it whenever the features or the data change.
pub const VERSION: &str = "instruction-v1";

/// The L2 penalties tried; the one with the best mean held-out accuracy wins.
pub const PENALTIES: [f64; 4] = [1.0, 10.0, 100.0, 1000.0];

/// The feature sets tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Features {
    /// Sentence embedding and lexical features.
    Both,
    /// Lexical features alone.
    Lexical,
}

impl Features {
    fn name(self) -> &'static str {
        match self {
            Features::Both => "embedding + lexical",
            Features::Lexical => "lexical only",
        }
    }
}

/// One feature set and penalty, validated.
#[derive(Debug, Clone)]
struct Trial {
    features: Features,
    l2: f64,
    mean: f64,
    auc: (f64, f64),
    held: Vec<HeldOut>,
}

/// What `classifier train` needs.
#[derive(Debug, Clone)]
pub struct TrainArgs {
    /// The data folder (`../shared/data`).
    pub data: PathBuf,
    /// Where to write the weights.
    pub out: PathBuf,
    /// Where to write the report.
    pub report: Option<PathBuf>,
    /// A `.npy` file keeping the prompts' vectors between runs.
    pub cache: Option<PathBuf>,
}

/// Runs the training; `encoder` loads the configured sentence encoder.
pub async fn train<F, Fut>(encoder: F, args: &TrainArgs) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<dw_embed::Encoder>>,
{
    let prompts = dw_sim::corpus::classifier_prompts(&args.data)?;
    anyhow::ensure!(!prompts.is_empty(), "{}: no prompts", args.data.display());
    let encoder = encoder().await?;
    let model_id = encoder.model_id().to_owned();
    let texts: Vec<String> = prompts.iter().map(|p| p.text.clone()).collect();
    let cache = args.cache.clone();
    let vectors =
        tokio::task::spawn_blocking(move || crate::embed_cache::embed_cached(&encoder, &texts, cache.as_deref()))
            .await??;
    let examples: Vec<Example<'_>> = prompts
        .iter()
        .zip(&vectors)
        .filter(|(p, _)| p.class != PromptClass::HumanWrittenTask)
        .map(|(p, v)| Example {
            text: &p.text,
            embedding: v,
            instruction: p.class == PromptClass::Instruction,
            source: &p.source,
        })
        .collect();
    let lexical_only: Vec<Example<'_>> = examples.iter().map(|e| Example { embedding: &[], ..*e }).collect();
    let mut trials = Vec::new();
    for (features, set) in [(Features::Both, &examples), (Features::Lexical, &lexical_only)] {
        for l2 in PENALTIES {
            let held = leave_one_source_out(set, l2);
            let mean = held.iter().map(|h| h.accuracy).sum::<f64>() / held.len().max(1) as f64;
            let auc = pairwise_auc(&held).unwrap_or((f64::NAN, f64::NAN));
            eprintln!(
                "{} l2 {l2}: mean held-out accuracy {mean:.4}, pairwise AUC {:.4} (worst {:.4})",
                features.name(),
                auc.0,
                auc.1
            );
            trials.push(Trial { features, l2, mean, auc, held });
        }
    }
    let best = trials
        .iter()
        .max_by(|a, b| a.mean.total_cmp(&b.mean).then(b.l2.total_cmp(&a.l2)))
        .cloned()
        .context("no penalty tried")?;
    let l2 = best.l2;
    let examples = if best.features == Features::Lexical { lexical_only } else { examples };
    let mut provenance: Vec<String> = prompts
        .iter()
        .filter(|p| p.class != PromptClass::HumanWrittenTask && !p.provenance.is_empty())
        .map(|p| p.provenance.clone())
        .collect();
    provenance.sort_unstable();
    provenance.dedup();
    let embedding_model = if best.features == Features::Lexical { "" } else { model_id.as_str() };
    let mut model = InstructionClassifier::train(&examples, l2, embedding_model, provenance).rounded(6);
    model.version = VERSION.to_owned();
    let aside: Vec<(&LabelledPrompt, &Vec<f32>)> =
        prompts.iter().zip(&vectors).filter(|(p, _)| p.class == PromptClass::HumanWrittenTask).collect();
    let aside_as_tasks =
        aside.iter().filter(|(p, v)| model.probability(&p.text, &v[..model.dim]).is_some_and(|q| q >= 0.5)).count();
    let json = serde_json::to_string(&model)? + "\n";
    std::fs::write(&args.out, json).with_context(|| format!("cannot write {}", args.out.display()))?;
    let report = report(&model, &trials, &best, aside.len(), aside_as_tasks, &args.data);
    if let Some(path) = &args.report {
        std::fs::write(path, &report).with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprint!("{report}");
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

fn report(
    model: &InstructionClassifier,
    trials: &[Trial],
    best: &Trial,
    aside: usize,
    aside_as_tasks: usize,
    data: &Path,
) -> String {
    let mut out = String::new();
    let inputs = if model.dim > 0 {
        format!("{} embedding dimensions of {} and ", model.dim, model.embedding_model)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "Classifier `{}`: {} ({inputs}{} lexical features), L2 penalty {}, the best mean held-out accuracy \
         of {:?} with and without the embedding; trained on {}.\n",
        model.version,
        best.features.name(),
        dw_detect::content::instruction::LEXICAL,
        best.l2,
        PENALTIES,
        data.display()
    );
    let _ = writeln!(out, "| held-out source | class | prompts | accuracy |");
    let _ = writeln!(out, "| --- | --- | ---: | ---: |");
    for h in &best.held {
        let class = if h.instruction { "generated task instruction" } else { "person's request" };
        let _ = writeln!(out, "| {} | {class} | {} | {:.3} |", h.source, h.prompts, h.accuracy);
    }
    let _ = writeln!(out, "| **mean over sources** | | | **{:.3}** |\n", best.mean);
    let _ = writeln!(
        out,
        "| features | L2 | mean held-out accuracy | worst source | pairwise held-out ROC AUC | worst pair |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: |");
    for t in trials {
        let worst = t.held.iter().map(|h| h.accuracy).fold(1.0f64, f64::min);
        let _ = writeln!(
            out,
            "| {} | {} | {:.3} | {worst:.3} | {:.3} | {:.3} |",
            t.features.name(),
            t.l2,
            t.mean,
            t.auc.0,
            t.auc.1
        );
    }
    let _ = writeln!(out);
    if aside > 0 {
        let _ = writeln!(
            out,
            "Human-written evaluation tasks (Self-Instruct's 252 user-oriented tasks; not trained on): \
             {aside_as_tasks} of {aside} ({:.1}%) read as task instructions.\n",
            100.0 * aside_as_tasks as f64 / aside as f64
        );
    }
    out
}
