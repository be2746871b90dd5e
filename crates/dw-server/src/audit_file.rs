//! `distillwatch audit`: a batch audit of a window, its per-account scores
//! file and its flagged accounts' evidence.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use dw_app::App;
use dw_domain::AccountScore;
use dw_domain::score::SCORES_CSV_HEADER;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::settings::Settings;

/// Parses `--from`/`--to`/`--start` values: RFC 3339, or a date (its midnight, UTC).
pub fn parse_instant(flag: &str, value: &str) -> anyhow::Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(t);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, &format)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| anyhow::anyhow!("{flag} {value:?} is neither an RFC 3339 timestamp nor a date (YYYY-MM-DD)"))
}

/// `distillwatch audit`: queues an audit of the window, runs it here and
/// publishes it (its scores, and unless `--dry-run` its flags); writes one
/// CSV row per account (`-` writes to stdout) and the flagged accounts'
/// evidence when asked.
pub async fn audit(settings: &Settings, args: &AuditArgs) -> anyhow::Result<()> {
    let (from, to) = (parse_instant("--from", &args.from)?, parse_instant("--to", &args.to)?);
    let accounts = args.accounts.as_deref().map(read_account_list).transpose()?;
    let content = crate::embed_files::content_sampling(&settings.embed).await?;
    let db = crate::database::Database::open(&settings.database).await?;
    let mut app = App::new(db.pool.clone(), crate::cli::app_config(settings));
    if let Some(content) = content {
        app = app.with_content(content);
    }
    let spec = dw_app::AuditSpec {
        from,
        to,
        accounts,
        model: args.model.clone(),
        dry_run: args.dry_run,
        requested_by: "cli".into(),
    };
    let worker = format!("cli-{}", std::process::id());
    let outcome = async {
        let id = app.queue_audit(&spec).await?;
        app.run_audit(&worker, Some(id)).await?.with_context(|| format!("audit {id} was claimed by another worker"))
    }
    .await;
    db.close().await?;
    let outcome = outcome?;
    if let Some(output) = &args.output {
        let scores: Vec<AccountScore> = outcome.verdicts.iter().map(|v| v.score.clone()).collect();
        write_scores(&scores, output)?;
    }
    if let Some(path) = &args.evidence {
        write_evidence(&outcome.verdicts, path)?;
    }
    let s = &outcome.summary;
    let flags = if s.dry_run {
        "dry run: no flag opened, updated or reopened".to_owned()
    } else {
        format!(
            "flags: {} opened, {} updated, {} reopened, {} left dismissed",
            s.opened, s.updated, s.reopened, s.kept_dismissed
        )
    };
    eprintln!(
        "audit {} of [{}, {}) with {}: {} accounts, {} flagged, {} clusters with a flagged member; {flags}",
        outcome.audit_id, args.from, args.to, s.detector, s.accounts, s.flagged, s.clusters_flagged
    );
    Ok(())
}

/// `audit` options.
#[derive(Debug, Clone)]
pub struct AuditArgs {
    /// Window start.
    pub from: String,
    /// Window end (exclusive).
    pub to: String,
    /// The scores file (`-`: stdout).
    pub output: Option<PathBuf>,
    /// A file of account ids, one per line, to narrow the audit to.
    pub accounts: Option<PathBuf>,
    /// A model to narrow the audit to.
    pub model: Option<String>,
    /// Write the flagged accounts' evidence here (JSON Lines).
    pub evidence: Option<PathBuf>,
    /// Score and store the scores, but open, update and reopen no flag.
    pub dry_run: bool,
}

/// One JSON object per flagged account: the same evidence bundle its flag
/// stores (its score, every signal with value, counts, example events,
/// percentile, weight and contribution, its link with the linked accounts,
/// its riskiest end user, its attributes and its activity at a glance).
fn write_evidence(verdicts: &[dw_app::Verdict], path: &Path) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
    );
    for candidate in dw_app::flag_candidates(verdicts)?.iter().filter(|c| c.subject == dw_app::SubjectKind::Account) {
        serde_json::to_writer(&mut out, &candidate.evidence)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Account ids, one per line (blank lines and `#` comments skipped).
fn read_account_list(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let accounts: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect();
    anyhow::ensure!(!accounts.is_empty(), "{}: no account ids (one per line)", path.display());
    Ok(accounts)
}

fn write_scores(scores: &[AccountScore], output: &Path) -> anyhow::Result<()> {
    let mut out: Box<dyn Write> = if output.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(output).with_context(|| format!("cannot write {}", output.display()))?,
        ))
    };
    writeln!(out, "{SCORES_CSV_HEADER}")?;
    for score in scores {
        writeln!(out, "{}", score.csv_row())?;
    }
    out.flush()?;
    Ok(())
}
