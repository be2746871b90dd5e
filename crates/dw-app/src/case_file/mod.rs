//! Case files: one flag with everything an analyst, a lawyer or a partner's
//! trust-and-safety team needs to act on it without access to the service
//! (signals, example prompts with the answers served, timeline, linked
//! accounts, notes and decisions), as JSON, CSV or a self-contained HTML page.

use dw_domain::SubjectKind;
use dw_domain::csv::safe_field;
use dw_store::account_views::{self, EventView};
use dw_store::audit_log::{self, NewEntry};
use dw_store::flags::{Flag, HistoryEntry};
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{Actor, App, AppError};

mod html;

pub use html::{content_security_policy, escape};

/// At most this many example events (with their answers) in a case file.
pub const MAX_EXAMPLES: usize = 12;

/// The formats a case file is exported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseFormat {
    /// One JSON document.
    Json,
    /// One table: `section,name,value,detail`, formulas defused.
    Csv,
    /// One self-contained HTML page (no script, no external resource).
    Html,
}

impl CaseFormat {
    /// The format of a name (`json`, `csv`, `html`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "json" => Some(CaseFormat::Json),
            "csv" => Some(CaseFormat::Csv),
            "html" => Some(CaseFormat::Html),
            _ => None,
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            CaseFormat::Json => "json",
            CaseFormat::Csv => "csv",
            CaseFormat::Html => "html",
        }
    }

    /// The media type.
    pub fn media_type(self) -> &'static str {
        match self {
            CaseFormat::Json => "application/json",
            CaseFormat::Csv => "text/csv; charset=utf-8",
            CaseFormat::Html => "text/html; charset=utf-8",
        }
    }
}

/// A flag with everything behind it.
#[derive(Debug, Clone, Serialize)]
pub struct CaseFile {
    /// When the file was made.
    #[serde(with = "time::serde::rfc3339")]
    pub exported_at: OffsetDateTime,
    /// Who made it.
    pub exported_by: String,
    /// The flag.
    pub flag: Value,
    /// Its evidence bundle (signals, activity, link).
    pub evidence: Value,
    /// Example events with the answers served (an account's flag).
    pub examples: Vec<EventView>,
    /// Every audit's and analyst's action on the flag, oldest first.
    pub history: Vec<Value>,
}

impl App {
    /// The case file of a flag, on record in the audit log as `actor`'s export.
    pub async fn case_file(&self, id: i64, format: CaseFormat, actor: &Actor) -> Result<CaseFile, AppError> {
        self.assemble_case(id, actor, "flag.export", Some(json!({"format": format.extension()}))).await
    }

    /// The case file of a flag for reading on screen (the console's case
    /// page), on record in the audit log as `actor`'s read of the flag.
    pub async fn case_view(&self, id: i64, actor: &Actor) -> Result<CaseFile, AppError> {
        self.assemble_case(id, actor, "flag.read", None).await
    }

    async fn assemble_case(
        &self,
        id: i64,
        actor: &Actor,
        action: &str,
        after: Option<Value>,
    ) -> Result<CaseFile, AppError> {
        let mut tx = self.pool.begin().await?;
        let flag = dw_store::flags::get(&mut tx, id).await?.ok_or_else(|| AppError::NotFound(format!("flag {id}")))?;
        let history = dw_store::flags::history_of(&mut tx, id).await?;
        let examples = if flag.subject_kind == SubjectKind::Account {
            account_views::events_by_id(&mut tx, &flag.subject_id, &example_ids(&flag.evidence)).await?
        } else {
            Vec::new()
        };
        audit_log::append(
            &mut tx,
            &NewEntry {
                actor: &actor.name,
                role: &actor.role,
                action,
                target: &format!("flag:{id}"),
                before: None,
                after,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(CaseFile {
            exported_at: OffsetDateTime::now_utc(),
            exported_by: actor.name.clone(),
            evidence: flag.evidence.clone(),
            flag: flag_summary(&flag),
            examples,
            history: history.iter().map(history_entry).collect(),
        })
    }
}

/// The events a flag's evidence points at: its sample prompts first, then
/// the signals' examples, each once, at most [`MAX_EXAMPLES`].
fn example_ids(evidence: &Value) -> Vec<String> {
    let samples = evidence["activity"]["sample_prompts"].as_array().into_iter().flatten().map(|s| &s["event_id"]);
    let from_signals = evidence["signals"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["examples"].as_array().into_iter().flatten());
    let mut ids: Vec<String> = Vec::new();
    for id in samples.chain(from_signals).filter_map(Value::as_str) {
        if ids.len() < MAX_EXAMPLES && !ids.iter().any(|known| known == id) {
            ids.push(id.to_owned());
        }
    }
    ids
}

fn time_text(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn flag_summary(f: &Flag) -> Value {
    json!({
        "id": f.id, "kind": f.subject_kind, "subject": f.subject_id, "status": f.status, "assignee": f.assignee,
        "risk": f.risk, "level": f.level, "fired": f.fired, "reason": f.reason,
        "opened_at": time_text(f.opened_at), "updated_at": time_text(f.updated_at),
        "first_audit_id": f.first_audit_id, "last_audit_id": f.last_audit_id,
        "decided_at": f.decided_at.map(time_text), "decided_by": f.decided_by, "decision_note": f.decision_note,
        "reopened_because": f.reopened_because,
    })
}

fn history_entry(h: &HistoryEntry) -> Value {
    json!({"at": time_text(h.at), "action": h.action, "audit_id": h.audit_id, "risk": h.risk,
           "actor": h.actor, "note": h.note})
}

/// A JSON value as a cell: strings as they are, the rest as JSON text.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl CaseFile {
    /// The file in `format`.
    pub fn render(&self, format: CaseFormat) -> String {
        match format {
            CaseFormat::Json => serde_json::to_string_pretty(self).unwrap_or_default(),
            CaseFormat::Csv => self.csv(),
            CaseFormat::Html => self.html(),
        }
    }

    /// Rows of `section,name,value,detail`: the flag's fields, its signals,
    /// examples (prompt, answer), hourly requests, linked accounts, history.
    fn rows(&self) -> Vec<[String; 4]> {
        let mut rows = vec![["section".into(), "name".into(), "value".into(), "detail".into()]];
        let row = |a: &str, b: String, c: String, d: String| [a.to_owned(), b, c, d];
        rows.push(row("case", "exported_at".into(), time_text(self.exported_at), self.exported_by.clone()));
        if let Some(flag) = self.flag.as_object() {
            for (k, v) in flag {
                rows.push(row("flag", k.clone(), text(v), String::new()));
            }
        }
        for s in self.evidence["signals"].as_array().into_iter().flatten() {
            let detail = format!(
                "{} (percentile {}, score {}, weight {}, contribution {})",
                text(&s["detail"]),
                text(&s["percentile"]),
                text(&s["score"]),
                text(&s["weight"]),
                text(&s["contribution"])
            );
            rows.push(row("signal", text(&s["name"]), text(&s["value"]), detail));
        }
        for e in &self.examples {
            rows.push(row("example", e.event_id.clone(), e.prompt.clone(), e.completion.clone().unwrap_or_default()));
        }
        for (hour, n) in self.evidence["activity"]["hourly"].as_object().into_iter().flatten() {
            rows.push(row("hourly", hour.clone(), text(n), String::new()));
        }
        let link = &self.evidence["link"];
        for account in link["linked_accounts"].as_array().into_iter().flatten() {
            rows.push(row("linked_account", text(account), text(&link["cluster_id"]), text(&link["reason"])));
        }
        for member in self.evidence["members"].as_array().into_iter().flatten() {
            rows.push(row("member", text(&member["account_id"]), text(&member["risk"]), text(&member["level"])));
        }
        for h in &self.history {
            let detail =
                [text(&h["actor"]), text(&h["note"])].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>();
            rows.push(row("history", text(&h["at"]), text(&h["action"]), detail.join(": ")));
        }
        rows
    }

    fn csv(&self) -> String {
        let mut out = String::new();
        for r in self.rows() {
            let cells: Vec<String> = r.iter().map(|c| safe_field(&c.replace(['\n', '\r'], " "))).collect();
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case() -> CaseFile {
        CaseFile {
            exported_at: OffsetDateTime::UNIX_EPOCH,
            exported_by: "key:dw_1 analyst".into(),
            flag: json!({"id": 7, "kind": "account", "subject": "acct_<b>", "status": "open", "risk": 0.9123456}),
            evidence: json!({
                "signals": [{"name": "single_turn_share", "value": 1.0, "detail": "all", "percentile": 99.0,
                             "score": 1.0, "weight": 1.2, "contribution": 0.3, "examples": ["e2", "e1"]}],
                "activity": {"hourly": {"2026-11-02T00:00:00Z": 3}, "sample_prompts": [{"event_id": "e1", "text": "x"}]},
                "link": {"cluster_id": "c-1", "linked_accounts": ["acct_2"], "reason": "2 accounts sending from …"}
            }),
            examples: vec![EventView {
                event_id: "e1".into(),
                ts: OffsetDateTime::UNIX_EPOCH,
                model: "m".into(),
                prompt: "=cmd|' /C calc'!A0".into(),
                system_prompt: None,
                completion: Some("<script>alert(1)</script>".into()),
                finish_reason: None,
                temperature: None,
                max_tokens: None,
                n: None,
                logprobs: None,
                prompt_tokens: None,
                completion_tokens: None,
                client_ip: None,
                user_agent: None,
            }],
            history: vec![
                json!({"at": "2026-11-03T00:00:00Z", "action": "escalated", "actor": "lead", "note": "-see legal"}),
            ],
        }
    }

    #[test]
    fn example_events_come_from_samples_then_signals_each_once() {
        assert_eq!(example_ids(&case().evidence), ["e1", "e2"]);
    }

    #[test]
    fn csv_defuses_formulas_and_keeps_one_record_per_line() {
        let csv = case().render(CaseFormat::Csv);
        assert!(csv.starts_with("section,name,value,detail\r\n"));
        assert!(csv.contains("example,e1,'=cmd|' /C calc'!A0,<script>alert(1)</script>\r\n"), "{csv}");
        assert!(csv.contains("history,2026-11-03T00:00:00Z,escalated,lead: -see legal\r\n"), "{csv}");
        assert!(csv.contains("signal,single_turn_share,1.0,"), "{csv}");
        for line in csv.lines() {
            assert_eq!(dw_domain::csv::split_record(line).unwrap().len(), 4, "{line}");
        }
    }

    #[test]
    fn html_is_self_contained_and_escapes_everything_it_shows() {
        let html = case().render(CaseFormat::Html);
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script"));
        assert!(html.contains("acct_&lt;b&gt;"));
        assert!(!html.contains("acct_<b>"));
        assert!(html.contains(&content_security_policy()), "no external resource can load, no script runs");
        for section in [
            "<h2>Summary</h2>",
            "<h2>Findings</h2>",
            "<h2>Activity</h2>",
            "<h2>Prompts and the answers served</h2>",
            "<h2>Linked accounts</h2>",
            "<h2>History</h2>",
            "<h2>Method and its limits</h2>",
        ] {
            assert!(html.contains(section), "{section}");
        }
        // The summary comes first and says in words what weighed most, with how rare it is.
        let summary = &html[html.find("<h2>Summary</h2>").unwrap()..html.find("<h2>Findings</h2>").unwrap()];
        assert!(summary.contains("The strongest evidence:"), "{summary}");
        assert!(summary.contains("higher than 99% of the window's accounts"), "{summary}");
        assert!(summary.contains("linked to 1 other accounts"), "{summary}");
        // Numbers for people: the risk to two decimals, never sixteen digits.
        assert!(html.contains("risk 0.91 of 1"), "{html}");
        assert!(!html.contains("0.9123456"), "{html}");
        // The hourly activity is a chart.
        assert!(html.contains("<svg") && html.contains("class=\"bar\""), "{html}");
        // The note in the history, escaped.
        assert!(html.contains("-see legal"));
    }

    #[test]
    fn a_clusters_file_reads_its_operator_and_lists_its_members() {
        let mut case = case();
        case.flag =
            json!({"id": 8, "kind": "cluster", "subject": "c-1", "status": "open", "risk": 0.97, "level": "critical"});
        case.evidence = json!({
            "cluster_id": "c-1",
            "reason": "3 linked accounts: 3 sending from 10.0.0.0/24 (3 of 900 accounts) <b>",
            "members": [{"account_id": "a1", "risk": 0.95, "level": "critical", "requests": 1234, "flagged": true}],
            "operator": {"signals": [{"name": "single_turn_share", "value": 0.98, "detail": "98 of 100",
                                      "percentile": 97.2, "contribution": 0.4}]}
        });
        case.examples.clear();
        let html = case.render(CaseFormat::Html);
        assert!(html.contains("run by one operator"), "{html}");
        assert!(html.contains("(3 of 900 accounts) &lt;b&gt;"), "{html}");
        assert!(html.contains("<h2>Members</h2>") && html.contains("1,234"), "{html}");
        assert!(html.contains("higher than 97% of the window's accounts"), "{html}");
    }
}
