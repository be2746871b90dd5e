//! `distillwatch reference test SUSPECT --control CONTROL` and `reference
//! attribute SUSPECT`: the distillation test and the attribution on stored
//! sets and served traffic, as readable reports (or JSON, printed by the
//! caller).

use std::fmt::Write as _;

use dw_app::{AttributionReport, DistillationReport, FingerprintReport, PanelReport};
use dw_detect::reference::{Conclusion, FeatureKind, MeasureResult};

/// The panel test's report as text for a terminal: the verdict, then where
/// the suspect and every control fall.
pub fn render_panel(report: &PanelReport) -> String {
    let mut out = String::new();
    let test = &report.test;
    let names: Vec<String> = report.controls.iter().map(|c| format!("{:?} (set {})", c.name, c.id)).collect();
    let _ = writeln!(
        out,
        "Distillation test against a panel: suspect {:?} (set {}) against {} controls: {}",
        report.suspect.name,
        report.suspect.id,
        report.controls.len(),
        names.join(", ")
    );
    let _ = writeln!(
        out,
        "Prompts answered by us, the suspect and every control: {}; measures: {}{}",
        test.items,
        if test.measures.is_empty() { "none".to_owned() } else { test.measures.join(", ") },
        report.embedding_model.as_deref().map_or(String::new(), |m| format!(" (embeddings: {m})"))
    );
    let verdict = match &test.conclusion {
        Conclusion::Rejected { p_value } => format!(
            "REJECTED at p = {}: the suspect stands out from how close the controls come to our answers",
            p(*p_value)
        ),
        Conclusion::NotRejected { p_value } => {
            format!("not rejected (p = {}): the suspect comes as close as an unrelated model may", p(*p_value))
        }
        Conclusion::Inconclusive { reason } => format!("inconclusive: {reason}"),
    };
    let _ = writeln!(out, "Result: {verdict}\n");
    if !test.controls.is_empty() {
        let _ = writeln!(out, "| model | role | closeness | t | one-sided p |");
        let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: |");
        let show = |s: &dw_detect::reference::Standing, role: &str| {
            format!(
                "| {} | {role} | {:.2} | {} | {} |",
                s.model,
                s.closeness,
                s.t.map_or("-".into(), |t| format!("{t:.2}")),
                s.p_value.map_or("-".into(), p)
            )
        };
        let _ = writeln!(out, "{}", show(&test.suspect, "suspect, against the controls"));
        for c in &test.controls {
            let _ = writeln!(out, "{}", show(c, "control, against the others"));
        }
        let _ = writeln!(
            out,
            "\n{} of {} controls stand out from the others at {}.\n",
            test.controls_rejected,
            test.controls.len(),
            test.alpha
        );
    }
    let _ = writeln!(out, "Method: {}.\n", test.method);
    if !report.accounts.is_empty() {
        let _ = writeln!(
            out,
            "Per account (by wording: the test on the suspect's prompts served to it, against each control in \
             turn; p is the largest of them, so an account stands out only if the suspect is closer than every \
             control; q: Benjamini-Hochberg across the {} account(s) served at least 30 of the prompts every \
             control answered):",
            report.accounts.len()
        );
        let _ = writeln!(out, "| account | items | p (largest) | q | the control it beat least | AUC (smallest) |");
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | --- | ---: |");
        for a in &report.accounts {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {:.2} |",
                a.account_id,
                a.items,
                p(a.p_value),
                p(a.q_value),
                a.closest_control,
                a.auc
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "{}", report.interpretation);
    out
}

/// The report as text for a terminal.
pub fn render(report: &DistillationReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Distillation test: suspect {:?} (set {}, {} items, {} with a prompt) against control {:?} (set {}, {} items)",
        report.suspect.name,
        report.suspect.id,
        report.suspect.items,
        report.suspect.items_with_prompt,
        report.control.name,
        report.control.id,
        report.control.items
    );
    let measures = match &report.embedding_model {
        Some(model) => format!("embedding cosine ({model}), word trigram overlap, format profile"),
        None => "word trigram overlap, format profile (no embedding model)".into(),
    };
    let _ = writeln!(
        out,
        "Aligned prompts (answered by us, the suspect and the control): {} ({} served exactly, {} near-identically)",
        report.test.aligned_items, report.aligned_exactly, report.aligned_near_identically
    );
    let _ = writeln!(out, "Measures: {measures}");
    let verdict = match &report.test.conclusion {
        Conclusion::Rejected { p_value } => format!(
            "REJECTED at p = {}: the suspect's answers are closer to ours than the control's, beyond chance",
            p(*p_value)
        ),
        Conclusion::NotRejected { p_value } => {
            format!(
                "not rejected (p = {}): no evidence that the suspect answers more like us than the control",
                p(*p_value)
            )
        }
        Conclusion::Inconclusive { reason } => format!("inconclusive: {reason}"),
    };
    let _ = writeln!(out, "Result: {verdict}\n");
    if let Some(combined) = &report.test.combined {
        let _ = writeln!(
            out,
            "| measure | items | suspect | control | mean difference | effect size | AUC | sign test p | permutation p |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for m in report.test.measures.iter().chain(std::iter::once(combined)) {
            let _ = writeln!(out, "{}", row(m));
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "Method: {}.\n", report.test.method);
    if !report.accounts.is_empty() || report.accounts_too_few > 0 {
        let _ = writeln!(
            out,
            "Per account (the test on the suspect's prompts served to it; q: Benjamini-Hochberg across the {} \
             account(s) tested; {} more served too few to test):",
            report.accounts.len(),
            report.accounts_too_few
        );
        if let Some(cap) = report.account_items_sampled {
            let _ = writeln!(
                out,
                "(By meaning, each account on at most {cap} of its items, a sample fixed by their event ids.)"
            );
        }
        if !report.accounts.is_empty() {
            let _ = writeln!(out, "| account | items | p | q | effect size | AUC |");
            let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: |");
            for a in &report.accounts {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {:.2} | {:.2} |",
                    a.account_id,
                    a.items,
                    p(a.p_value),
                    p(a.q_value),
                    a.effect_size,
                    a.auc
                );
            }
        }
        let _ = writeln!(out);
    }
    if !report.examples.is_empty() {
        let _ = writeln!(out, "Prompts where the suspect is closest to us relative to the control:");
        for (i, e) in report.examples.iter().enumerate() {
            let _ = writeln!(
                out,
                "{}. served to {} ({}): {}{}\n   ours:    {}\n   suspect: {}  [trigram {:.2}{}]\n   control: {}  [trigram {:.2}{}]",
                i + 1,
                e.account_id,
                e.event_id,
                clip(&e.prompt, 100),
                e.suspect_prompt.as_ref().map_or(String::new(), |asked| format!(
                    "\n   (near-identical to the suspect's prompt, similarity {:.2}: {})",
                    e.prompt_similarity,
                    clip(asked, 80)
                )),
                clip(&e.completion, 160),
                clip(&e.suspect_output, 160),
                e.suspect.ngram_overlap,
                e.suspect.embedding_cosine.map_or(String::new(), |c| format!(", cosine {c:.2}")),
                clip(&e.control_output, 160),
                e.control.ngram_overlap,
                e.control.embedding_cosine.map_or(String::new(), |c| format!(", cosine {c:.2}")),
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "{}", report.interpretation);
    out
}

/// The fingerprint test's report as text for a terminal: the verdict, every
/// model's share of our fingerprint, then the habits behind it with their
/// rates and an example of each.
pub fn render_fingerprint(report: &FingerprintReport) -> String {
    let mut out = String::new();
    let test = &report.test;
    let names: Vec<String> = report.controls.iter().map(|c| format!("{:?} (set {})", c.name, c.id)).collect();
    let _ = writeln!(
        out,
        "Fingerprint test: suspect {:?} (set {}, {} answers) against {} control(s): {}",
        report.suspect.name,
        report.suspect.id,
        test.suspect.items,
        report.controls.len(),
        names.join(", ")
    );
    let _ = writeln!(
        out,
        "Our habits learned from {} served completions ({} of them held out to set the scale)",
        report.served_read, test.ours_held_out
    );
    let verdict = match &test.conclusion {
        Conclusion::Rejected { p_value } if test.degrees_of_freedom.is_some() => format!(
            "REJECTED at p = {}: the suspect's answers carry more of our fingerprint than unrelated models' do",
            p(*p_value)
        ),
        Conclusion::Rejected { p_value } => format!(
            "REJECTED at p = {}: the suspect's answers carry more of our fingerprint than every control's (with fewer \
             than three controls this cannot say: more than unrelated models)",
            p(*p_value)
        ),
        Conclusion::NotRejected { p_value } => {
            format!(
                "not rejected (p = {}): the suspect carries no more of our fingerprint than the controls",
                p(*p_value)
            )
        }
        Conclusion::Inconclusive { reason } => format!("inconclusive: {reason}"),
    };
    let _ = writeln!(out, "Result: {verdict}\n");
    if !test.controls.is_empty() {
        let _ = writeln!(
            out,
            "| model | answers | share of our fingerprint | suspect's share on the same habits | suspect above it, p | t | one-sided p |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        let opt = |v: Option<f64>, f: fn(f64) -> String| v.map_or("-".to_owned(), f);
        let _ = writeln!(
            out,
            "| {} (suspect) | {} | {:.2} | - | - | {} | {} |",
            test.suspect.model,
            test.suspect.items,
            test.suspect.share,
            opt(test.suspect.t, |t| format!("{t:.2}")),
            opt(test.suspect.p_value, p)
        );
        for c in &test.controls {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {} | {} | {} | {} |",
                c.model,
                c.items,
                c.share,
                opt(c.suspect_share, |s| format!("{s:.2}")),
                opt(c.suspect_above_p, p),
                opt(c.t, |t| format!("{t:.2}")),
                opt(c.p_value, p)
            );
        }
        let _ = writeln!(out);
    }
    if !test.evidence.is_empty() {
        let _ = writeln!(
            out,
            "Habits of ours the suspect carries most beyond the controls (share of answers using each):\n"
        );
        let _ = writeln!(out, "| habit | ours | suspect | controls |");
        let _ = writeln!(out, "| --- | ---: | ---: | --- |");
        for f in &test.evidence {
            let controls: Vec<String> =
                f.control_rates.iter().map(|r| format!("{} {:.0}%", r.model, 100.0 * r.rate)).collect();
            let _ = writeln!(
                out,
                "| {} | {:.0}% | {:.0}% | {} |",
                habit(f.kind, &f.feature),
                100.0 * f.ours_rate,
                100.0 * f.suspect_rate,
                controls.join(", ")
            );
        }
        let _ = writeln!(out);
        for f in test.evidence.iter().take(3) {
            let _ = writeln!(out, "{}:", habit(f.kind, &f.feature));
            if let Some(e) = &f.ours_example {
                let _ = writeln!(out, "  ours:    {}", clip(e, 200));
            }
            if let Some(e) = &f.suspect_example {
                let _ = writeln!(out, "  suspect: {}", clip(e, 200));
            }
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "{}", report.interpretation);
    out
}

/// A feature in words.
fn habit(kind: FeatureKind, feature: &str) -> String {
    match kind {
        FeatureKind::Phrase => format!("the words \"{feature}\""),
        FeatureKind::Opening => format!("opens with \"{feature}\""),
        FeatureKind::Closing => format!("ends with \"{feature}\""),
        FeatureKind::Layout => feature.to_owned(),
    }
}

/// The attribution as text for a terminal.
pub fn render_attribution(report: &AttributionReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Attribution of suspect set {:?} (set {}, {} items): {} completions read; {} of its items ({:.1}%) reproduce \
         a completion we served, to {} account(s)",
        report.set.name,
        report.set.id,
        report.set.items,
        report.completions_read,
        report.items_matched,
        100.0 * report.share_explained,
        report.accounts_matched
    );
    let _ = writeln!(
        out,
        "A match: at least {} shared eight-word runs (runs quoted from our prompt left out) and at least {:.0}% of either text.",
        report.thresholds.min_shared,
        100.0 * report.thresholds.min_containment
    );
    match (&report.embedding_model, report.aligned_pairs, report.aligned_pairs_found, report.embedding_seconds) {
        (Some(model), Some(pairs), Some(found), Some(seconds)) => {
            let capped = if found > pairs { format!(" (the first {pairs} of {found})") } else { String::new() };
            let candidates = report.candidate_pairs.unwrap_or(0);
            let _ = writeln!(
                out,
                "Or our answer and the suspect's within cosine {:.2} ({model}), for a prompt (exactly or \
                 near-identically) the set's item carries ({pairs} such pairs compared{capped}) or when they share a \
                 few long runs whatever the prompt ({candidates} more pairs); embedded in {seconds:.1} s.\n",
                report.semantic_match
            );
        }
        _ => {
            let _ = writeln!(out, "Compared by wording only (no embedding model).\n");
        }
    }
    if !report.accounts.is_empty() {
        let _ = writeln!(
            out,
            "| account | cluster | completions | matched by wording | by meaning | items matched | share of set |"
        );
        let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: | ---: | ---: |");
        for a in &report.accounts {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {:.1}% |",
                a.account_id,
                a.cluster_id.as_deref().unwrap_or("-"),
                a.completions,
                a.matched_completions,
                a.semantic_matches,
                a.matched_items,
                100.0 * a.share_of_set
            );
        }
        let _ = writeln!(out);
    }
    if !report.clusters.is_empty() {
        let _ = writeln!(out, "| cluster | accounts | items matched | share of set |");
        let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
        for c in &report.clusters {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1}% |",
                c.cluster_id,
                c.accounts.len(),
                c.matched_items,
                100.0 * c.share_of_set
            );
        }
        let _ = writeln!(out);
    }
    if let Some(top) = report.accounts.first().and_then(|a| a.matches.first().map(|m| (a, m))) {
        let (account, m) = top;
        let _ = writeln!(
            out,
            "Example ({}, {}): {} shared runs, {:.0}% of the suspect's output in ours, {:.0}% of ours in it\n  prompt:  {}\n  ours:    {}\n  suspect: {}",
            account.account_id,
            m.event_id,
            m.shared_runs,
            100.0 * m.reference_containment,
            100.0 * m.completion_containment,
            clip(&m.prompt, 100),
            clip(&m.completion, 160),
            clip(&m.suspect_output, 160)
        );
    }
    out
}

fn row(m: &MeasureResult) -> String {
    let mean = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}"));
    format!(
        "| {} | {} | {} | {} | {:+.3} | {:.2} | {:.2} | {} | {} |",
        m.measure,
        m.items,
        mean(m.mean_suspect),
        mean(m.mean_control),
        m.mean_difference,
        m.effect_size,
        m.auc,
        p(m.sign_test_p),
        p(m.permutation_p)
    )
}

fn p(value: f64) -> String {
    if value < 0.001 { format!("{value:.1e}") } else { format!("{value:.3}") }
}

/// One line of at most `chars` characters.
fn clip(text: &str, chars: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= chars { flat } else { format!("{}…", flat.chars().take(chars).collect::<String>()) }
}
