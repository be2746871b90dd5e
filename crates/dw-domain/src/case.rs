//! The vocabulary of cases: what a flag is about, where it stands in the
//! analysts' workflow, and what its history records.
//!
//! Every layer speaks these types: the detector proposes flags about a
//! [`SubjectKind`], the store keeps a [`FlagStatus`] and [`CaseAction`]s (as
//! their names, parsed back at its boundary), and the API shows them. Their
//! names are the stored and serialized form, so a name changed here is a
//! migration and an API change.

use crate::names::named;

named!(
    /// What a flag is about.
    SubjectKind, "subject kind", {
        /// One account.
        Account => "account",
        /// A cluster of linked accounts.
        Cluster => "cluster",
    }
);

named!(
    /// Where a flag stands in the analysts' workflow.
    FlagStatus, "status", {
        /// Waiting for an analyst.
        Open => "open",
        /// An analyst handed it on (to a senior analyst, to legal).
        Escalated => "escalated",
        /// An analyst found it benign.
        Dismissed => "dismissed",
        /// An analyst confirmed it.
        Confirmed => "confirmed",
    }
);

named!(
    /// What an entry of a flag's history records: an audit opened, updated or
    /// reopened it, or an analyst moved, assigned or annotated it.
    CaseAction, "action", {
        /// An audit opened it.
        Opened => "opened",
        /// An audit refreshed its risk and evidence.
        Updated => "updated",
        /// An audit (something changed) or an analyst opened it again.
        Reopened => "reopened",
        /// An analyst escalated it.
        Escalated => "escalated",
        /// An analyst dismissed it.
        Dismissed => "dismissed",
        /// An analyst confirmed it.
        Confirmed => "confirmed",
        /// An analyst assigned it (or took the assignee away).
        Assigned => "assigned",
        /// An analyst added a note.
        Noted => "noted",
    }
);

impl FlagStatus {
    /// The status of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        name.parse().ok()
    }

    /// Where an analyst may take a flag from here: an open flag is escalated,
    /// confirmed or dismissed; an escalated one confirmed or dismissed; a
    /// decided one (dismissed or confirmed) reopened.
    pub fn next(self) -> &'static [FlagStatus] {
        match self {
            FlagStatus::Open => &[FlagStatus::Escalated, FlagStatus::Confirmed, FlagStatus::Dismissed],
            FlagStatus::Escalated => &[FlagStatus::Confirmed, FlagStatus::Dismissed],
            FlagStatus::Dismissed | FlagStatus::Confirmed => &[FlagStatus::Open],
        }
    }

    /// Checks an analyst's move from `self` to `to`; the error says which
    /// moves there are.
    pub fn check_move(self, to: FlagStatus) -> Result<(), String> {
        if self.next().contains(&to) {
            return Ok(());
        }
        let allowed: Vec<&str> = self.next().iter().map(|s| s.as_str()).collect();
        Err(format!(
            "a flag that is {} cannot become {}: it can become {}",
            self.as_str(),
            to.as_str(),
            allowed.join(" or ")
        ))
    }

    /// The history action of an analyst's move to this status.
    pub fn action(self) -> CaseAction {
        match self {
            FlagStatus::Open => CaseAction::Reopened,
            FlagStatus::Escalated => CaseAction::Escalated,
            FlagStatus::Dismissed => CaseAction::Dismissed,
            FlagStatus::Confirmed => CaseAction::Confirmed,
        }
    }

    /// Whether an analyst has decided it (dismissed or confirmed).
    pub fn is_decided(self) -> bool {
        matches!(self, FlagStatus::Dismissed | FlagStatus::Confirmed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json_and_unknown_ones_list_the_names() {
        for &s in FlagStatus::ALL {
            assert_eq!(s.as_str().parse::<FlagStatus>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        for &k in SubjectKind::ALL {
            assert_eq!(k.to_string().parse::<SubjectKind>(), Ok(k));
            assert_eq!(serde_json::to_value(k).unwrap(), serde_json::json!(k.as_str()));
        }
        for &a in CaseAction::ALL {
            assert_eq!(a.as_str().parse::<CaseAction>(), Ok(a));
            assert_eq!(serde_json::from_value::<CaseAction>(serde_json::json!(a.as_str())).unwrap(), a);
        }
        assert_eq!(
            "closed".parse::<FlagStatus>().unwrap_err().to_string(),
            "unknown status \"closed\" (expected open, escalated, dismissed, confirmed)"
        );
        assert_eq!(
            "user".parse::<SubjectKind>().unwrap_err().to_string(),
            "unknown subject kind \"user\" (expected account, cluster)"
        );
    }

    #[test]
    fn analysts_move_flags_along_the_workflow_and_a_wrong_move_says_the_right_ones() {
        use FlagStatus::*;
        let allowed: Vec<(FlagStatus, FlagStatus)> = FlagStatus::ALL
            .iter()
            .flat_map(|&from| FlagStatus::ALL.iter().map(move |&to| (from, to)))
            .filter(|(from, to)| from.check_move(*to).is_ok())
            .collect();
        assert_eq!(
            allowed,
            vec![
                (Open, Escalated),
                (Open, Dismissed),
                (Open, Confirmed),
                (Escalated, Dismissed),
                (Escalated, Confirmed),
                (Dismissed, Open),
                (Confirmed, Open),
            ]
        );
        assert_eq!(
            Dismissed.check_move(Escalated).unwrap_err(),
            "a flag that is dismissed cannot become escalated: it can become open"
        );
        assert_eq!(
            Open.check_move(Open).unwrap_err(),
            "a flag that is open cannot become open: it can become escalated or confirmed or dismissed"
        );
        assert_eq!((Open.action(), Escalated.action()), (CaseAction::Reopened, CaseAction::Escalated));
        assert_eq!(FlagStatus::ALL.iter().filter(|s| s.is_decided()).count(), 2);
    }
}
