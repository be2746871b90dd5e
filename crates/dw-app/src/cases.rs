//! The analysts' case workflow: flags listed, read with their history,
//! moved along the workflow (escalated, confirmed, dismissed, reopened),
//! assigned and annotated, every change recorded in the audit log in the
//! same transaction.

use dw_domain::{FlagStatus as Status, RiskLevel, SubjectKind};
use dw_store::audit_log::{self, Entry, NewEntry};
use dw_store::flags::{Flag, FlagFilter, HistoryEntry};
use serde_json::json;

use crate::{App, AppError};

/// Who acts: a person or service behind an API key, or an operator at the
/// command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// How the audit log and the flag history name them (`key:<id> <name>`, `cli:<user>`).
    pub name: String,
    /// Their role (`analyst`, `admin`, ...).
    pub role: String,
}

/// An analyst's change to a flag: any of a move along the workflow, an
/// assignee (`Some(None)` takes the assignee away) and a note.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagChange {
    /// The status to move to.
    pub status: Option<Status>,
    /// The new assignee.
    pub assignee: Option<Option<String>>,
    /// A note, kept in the history (with the move, when there is one).
    pub note: Option<String>,
}

/// A note longer than this is refused (a case file is not a document store).
pub const MAX_NOTE_CHARS: usize = 10_000;

impl App {
    /// Applies an analyst's change to a flag, in one transaction with its
    /// audit-log entry, and returns the flag with its history. `NotFound`
    /// without such a flag, `Conflict` (saying which moves there are) for a
    /// move the workflow does not allow, `Invalid` for an empty change.
    pub async fn change_flag(
        &self,
        id: i64,
        change: &FlagChange,
        actor: &Actor,
    ) -> Result<(Flag, Vec<HistoryEntry>), AppError> {
        if change.status.is_none() && change.assignee.is_none() && change.note.is_none() {
            return Err(AppError::Invalid("give at least one of status, assignee and note".into()));
        }
        if let Some(note) = &change.note {
            if note.trim().is_empty() {
                return Err(AppError::Invalid("note: empty; leave it out instead".into()));
            }
            if note.chars().count() > MAX_NOTE_CHARS {
                return Err(AppError::Invalid(format!("note: longer than {MAX_NOTE_CHARS} characters")));
            }
        }
        if let Some(Some(assignee)) = &change.assignee
            && (assignee.trim().is_empty() || assignee.chars().count() > 200)
        {
            return Err(AppError::Invalid("assignee: 1 to 200 characters, or null to unassign".into()));
        }
        let mut tx = self.pool.begin().await?;
        let before =
            dw_store::flags::lock(&mut tx, id).await?.ok_or_else(|| AppError::NotFound(format!("flag {id}")))?;
        let from = before.status;
        let note = change.note.as_deref();
        if let Some(to) = change.status {
            from.check_move(to).map_err(|why| AppError::Conflict(format!("flag {id}: {why}")))?;
            dw_store::flags::set_status(&mut tx, id, to, &actor.name, note).await?;
            if to == Status::Escalated {
                self.notify(&mut tx, "flag.escalated", id).await?;
            }
        }
        if let Some(assignee) = &change.assignee
            && assignee.as_deref() != before.assignee.as_deref()
        {
            dw_store::flags::set_assignee(&mut tx, id, assignee.as_deref(), &actor.name).await?;
        }
        if let (None, Some(note)) = (change.status, note) {
            dw_store::flags::add_note(&mut tx, id, &actor.name, note).await?;
        }
        let after = dw_store::flags::get(&mut tx, id).await?.ok_or_else(|| AppError::NotFound(format!("flag {id}")))?;
        audit_log::append(
            &mut tx,
            &NewEntry {
                actor: &actor.name,
                role: &actor.role,
                action: "flag.update",
                target: &format!("flag:{id}"),
                before: Some(json!({"status": before.status, "assignee": before.assignee})),
                after: Some(json!({"status": after.status, "assignee": after.assignee, "note": note})),
            },
        )
        .await?;
        let history = dw_store::flags::history_of(&mut tx, id).await?;
        tx.commit().await?;
        metrics::counter!("distillwatch_flag_changes_total", "action" => change.status.map_or("annotate", |s| s.action().as_str()))
            .increment(1);
        Ok((after, history))
    }

    /// Flags, riskiest first, optionally of one status.
    pub async fn list_flags(&self, status: Option<Status>, limit: i64) -> Result<Vec<Flag>, AppError> {
        let filter = FlagFilter { status, limit, ..FlagFilter::default() };
        self.find_flags(&filter).await
    }

    /// Flags as the filter says, riskiest first (a page of them).
    pub async fn find_flags(&self, filter: &FlagFilter<'_>) -> Result<Vec<Flag>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(dw_store::flags::list(&mut conn, filter).await?)
    }

    /// A flag with its history.
    pub async fn flag(&self, id: i64) -> Result<Option<(Flag, Vec<HistoryEntry>)>, AppError> {
        let mut conn = self.pool.acquire().await?;
        let Some(flag) = dw_store::flags::get(&mut conn, id).await? else { return Ok(None) };
        let history = dw_store::flags::history_of(&mut conn, id).await?;
        Ok(Some((flag, history)))
    }

    /// A flag with its history, as `actor` reads it: its evidence quotes the
    /// account's prompts, so the read is on record in the audit log
    /// (`flag.read`), as an export is.
    pub async fn read_flag(
        &self,
        id: i64,
        actor: &crate::Actor,
    ) -> Result<Option<(Flag, Vec<HistoryEntry>)>, AppError> {
        let mut tx = self.pool.begin().await?;
        let Some(flag) = dw_store::flags::get(&mut tx, id).await? else { return Ok(None) };
        let history = dw_store::flags::history_of(&mut tx, id).await?;
        audit_log::append(
            &mut tx,
            &NewEntry {
                actor: &actor.name,
                role: &actor.role,
                action: "flag.read",
                target: &format!("flag:{id}"),
                before: None,
                after: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some((flag, history)))
    }

    /// How many flags there are of each status and level (for dashboards).
    pub async fn flag_counts(&self) -> Result<Vec<(Status, RiskLevel, i64)>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(dw_store::flags::counts(&mut conn).await?)
    }

    /// The audit log after entry `after`, oldest first, at most `limit`
    /// entries, optionally about one target (`flag:12`).
    pub async fn audit_log(
        &self,
        after: Option<i64>,
        target: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Entry>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(audit_log::page(&mut conn, after, target, limit).await?)
    }

    /// The audit log before entry `before` (`None`: from the newest), newest
    /// first, at most `limit`.
    pub async fn audit_log_newest(&self, before: Option<i64>, limit: i64) -> Result<Vec<Entry>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(audit_log::newest(&mut conn, before, limit).await?)
    }
}

/// One analyst decision as a label for re-fitting and evaluating the
/// detector (the evaluator's labels format: `account_id,label,kind,campaign`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionLabel {
    /// The account.
    pub account_id: String,
    /// True when confirmed as extraction, false when dismissed.
    pub extraction: bool,
    /// `analyst_confirmed` or `analyst_dismissed`, and whether it came from the
    /// account's own flag or its cluster's (`…_cluster`).
    pub kind: String,
    /// The cluster, for a decision on a cluster's flag (its members are one campaign).
    pub campaign: Option<String>,
}

impl App {
    /// Every analyst decision (confirmed or dismissed flags) as labels, one
    /// per account, by account: a decision on an account's own flag wins
    /// over one on its cluster's; a cluster's decision labels each member
    /// its evidence lists.
    pub async fn decision_labels(&self) -> Result<Vec<DecisionLabel>, AppError> {
        let mut labels: std::collections::BTreeMap<String, DecisionLabel> = Default::default();
        for status in [Status::Confirmed, Status::Dismissed] {
            let filter = FlagFilter { status: Some(status), limit: i64::MAX, ..FlagFilter::default() };
            for flag in self.find_flags(&filter).await? {
                let extraction = status == Status::Confirmed;
                let decided = if extraction { "analyst_confirmed" } else { "analyst_dismissed" };
                if flag.subject_kind == SubjectKind::Account {
                    labels.insert(
                        flag.subject_id.clone(),
                        DecisionLabel { account_id: flag.subject_id, extraction, kind: decided.into(), campaign: None },
                    );
                    continue;
                }
                let members = flag.evidence["members"].as_array().cloned().unwrap_or_default();
                for member in members.iter().filter_map(|m| m["account_id"].as_str()) {
                    let own = labels.get(member).is_some_and(|l| l.campaign.is_none());
                    if !own {
                        labels.insert(
                            member.to_owned(),
                            DecisionLabel {
                                account_id: member.to_owned(),
                                extraction,
                                kind: format!("{decided}_cluster"),
                                campaign: Some(flag.subject_id.clone()),
                            },
                        );
                    }
                }
            }
        }
        Ok(labels.into_values().collect())
    }
}
