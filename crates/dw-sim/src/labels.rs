//! Reading ground truth (`labels.csv`) and audit verdicts (`scores.csv`).

use std::path::Path;

use dw_domain::AccountScore;
use dw_domain::score::SCORES_CSV_HEADER;

use crate::SimError;

pub use dw_domain::csv::field as csv_field;

/// The header of a labels file.
pub const LABELS_CSV_HEADER: &str = "account_id,label,kind,campaign";

/// One account's ground truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRow {
    /// The account.
    pub account_id: String,
    /// Whether any of its traffic is extraction.
    pub positive: bool,
    /// Its kind's name.
    pub kind: String,
    /// The operator behind it, for linked attack accounts.
    pub campaign: Option<String>,
}

/// Reads a labels file; errors name the file, line and column.
pub fn read_labels(path: &Path) -> Result<Vec<LabelRow>, SimError> {
    read_rows(path, LABELS_CSV_HEADER, |line| {
        let fields = dw_domain::csv::split_record(line)?;
        let [account_id, label, kind, campaign]: [String; 4] = fields
            .try_into()
            .map_err(|f: Vec<String>| format!("expected 4 columns ({LABELS_CSV_HEADER}), found {}", f.len()))?;
        let positive = match label.as_str() {
            "1" => true,
            "0" => false,
            other => return Err(format!("label: expected 0 or 1, found {other:?}")),
        };
        if account_id.is_empty() {
            return Err("account_id: empty".into());
        }
        Ok(LabelRow { account_id, positive, kind, campaign: Some(campaign).filter(|c| !c.is_empty()) })
    })
}

/// Reads a scores file as written by `distillwatch audit --output`.
pub fn read_scores(path: &Path) -> Result<Vec<AccountScore>, SimError> {
    read_rows(path, SCORES_CSV_HEADER, AccountScore::parse_csv_row)
}

fn check_header(path: &Path, header: Option<&str>, expected: &str) -> Result<(), SimError> {
    match header.map(|h| h.trim_start_matches('\u{feff}').trim_end()) {
        Some(h) if h == expected => Ok(()),
        other => Err(SimError::Data {
            path: path.to_path_buf(),
            message: format!("line 1: expected the header {expected:?}, found {:?}", other.unwrap_or("")),
        }),
    }
}

fn read_rows<T>(
    path: &Path,
    header: &str,
    mut parse: impl FnMut(&str) -> Result<T, String>,
) -> Result<Vec<T>, SimError> {
    let text = std::fs::read_to_string(path).map_err(|source| SimError::Io { path: path.to_path_buf(), source })?;
    let mut lines = text.lines().enumerate();
    check_header(path, lines.next().map(|(_, l)| l), header)?;
    let mut out = Vec::new();
    for (index, line) in lines.filter(|(_, l)| !l.trim().is_empty()) {
        let row = parse(line).map_err(|message| SimError::Data {
            path: path.to_path_buf(),
            message: format!("line {}: {message}", index + 1),
        })?;
        out.push(row);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_read_and_bad_rows_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.csv");
        std::fs::write(&path, "account_id,label,kind,campaign\na,1,farm_hosting,farm-1\nb,0,casual,\n").unwrap();
        let rows = read_labels(&path).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].positive && rows[0].campaign.as_deref() == Some("farm-1"));
        assert!(!rows[1].positive && rows[1].campaign.is_none());

        std::fs::write(&path, "account_id,label,kind,campaign\na,2,casual,\n").unwrap();
        let err = read_labels(&path).unwrap_err().to_string();
        assert!(err.ends_with("line 2: label: expected 0 or 1, found \"2\""), "{err}");

        std::fs::write(&path, "id,label\n").unwrap();
        assert!(read_labels(&path).unwrap_err().to_string().contains("line 1: expected the header"));
    }
}
