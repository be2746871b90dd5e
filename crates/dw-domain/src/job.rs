//! Where a queued job stands: audits and reference runs share one leased
//! queue and these states.

use crate::names::named;

named!(
    /// Where a job stands.
    JobState, "job state", {
        /// Waiting for a worker.
        Queued => "queued",
        /// A worker holds it under a lease.
        Running => "running",
        /// Finished, its result published.
        Done => "done",
        /// Given up (its error says why).
        Failed => "failed",
    }
);

impl JobState {
    /// Whether it has ended (done or failed).
    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_an_unknown_one_lists_them() {
        for &s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        assert_eq!(
            "paused".parse::<JobState>().unwrap_err().to_string(),
            "unknown job state \"paused\" (expected queued, running, done, failed)"
        );
        assert_eq!(JobState::ALL.iter().filter(|s| s.is_finished()).count(), 2);
    }
}
