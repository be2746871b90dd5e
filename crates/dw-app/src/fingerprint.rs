//! The fingerprint test on stored sets and served traffic: does a suspect's
//! set carry the habits that tell our served answers from the controls',
//! whatever prompts its outputs answer ([`dw_detect::reference::fingerprint`])?

use dw_detect::reference::{Answer, FingerprintConfig, FingerprintPanel, FingerprintTest};
use dw_store::reference_sets::{self, ReferenceSet};

use crate::reference::{check_controls, control_set, stored_window, suspect_set};
use crate::{App, AppError};

/// Our served completions read by default: enough for a few hundred habits
/// to show, few enough to read in seconds.
pub const DEFAULT_SAMPLE: usize = 5_000;

/// The most served completions one test reads.
pub const MAX_SAMPLE: usize = 100_000;

/// What the fingerprint test found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FingerprintReport {
    /// The suspect set.
    pub suspect: ReferenceSet,
    /// The control sets, in the order given.
    pub controls: Vec<ReferenceSet>,
    /// Our completions from this instant.
    #[serde(with = "time::serde::rfc3339")]
    pub from: time::OffsetDateTime,
    /// Until this one, exclusive.
    #[serde(with = "time::serde::rfc3339")]
    pub to: time::OffsetDateTime,
    /// Our served completions read (a sample spread over the window; the
    /// same on every run).
    pub served_read: usize,
    /// The test: every model's share of our fingerprint, the decision, and
    /// the features behind it with examples.
    pub test: FingerprintTest,
    /// What a rejection does and does not show.
    pub interpretation: String,
}

const INTERPRETATION: &str = "The fingerprint test needs no prompt in common: it learns from our served answers \
    the phrases, openings, closings and layout habits that our answers use more often than the controls' do, and \
    asks whether the suspect's answers, to whatever prompts, carry more of them than unrelated models' answers do \
    (with three controls or more: whether the suspect stands out from the controls' own shares, each scored on \
    habits learned without it). A rejection says the suspect writes like us beyond what unrelated models do. It does \
    not say why: a student of ours does, and so may a model tuned on the same public data, a sibling, or one tuned \
    to the same house style; and a suspect whose prompts call for our habits (lists, code) gains from them, so \
    controls answering prompts like the suspect's are the fair comparison. Not rejecting is no proof of innocence.";

impl App {
    /// Runs the fingerprint test of `suspect` against `controls` (one or
    /// more distinct control sets), learning our habits from up to `sample`
    /// completions served in `[from, to)` (all stored traffic by default).
    pub async fn fingerprint_test(
        &self,
        suspect: i64,
        controls: &[i64],
        from: Option<time::OffsetDateTime>,
        to: Option<time::OffsetDateTime>,
        sample: usize,
    ) -> Result<FingerprintReport, AppError> {
        check_controls("fingerprint test", controls, 1)?;
        check_sample(i64::try_from(sample).unwrap_or(i64::MAX))?;
        let (from, to) = stored_window(from, to)?;
        let mut conn = self.pool.acquire().await?;
        let suspect_set = suspect_set(&mut conn, suspect).await?;
        let suspect_outputs = outputs_of(&mut conn, suspect).await?;
        let mut control_sets = Vec::with_capacity(controls.len());
        let mut control_outputs = Vec::with_capacity(controls.len());
        for id in controls {
            control_sets.push(control_set(&mut conn, *id).await?);
            control_outputs.push(outputs_of(&mut conn, *id).await?);
        }
        let served = reference_sets::sample_completions(&mut conn, from, to, sample as i64).await?;
        drop(conn);
        let served_read = served.len();
        let names: Vec<String> = control_sets.iter().map(|c| c.name.clone()).collect();
        let suspect_name = suspect_set.name.clone();
        // Reading and scoring every answer is CPU work: off the runtime's threads.
        let test = tokio::task::spawn_blocking(move || {
            let reduce = |texts: &[String]| texts.iter().map(|t| Answer::of(t)).collect::<Vec<_>>();
            let ours = reduce(&served);
            let controls: Vec<Vec<Answer>> = control_outputs.iter().map(|o| reduce(o)).collect();
            let pairs: Vec<(&str, &[Answer])> =
                names.iter().zip(&controls).map(|(n, a)| (n.as_str(), a.as_slice())).collect();
            let panel = FingerprintPanel::learn(&ours, &pairs, &[], &FingerprintConfig::default());
            panel.test(&suspect_name, &reduce(&suspect_outputs))
        })
        .await
        .map_err(|e| AppError::Internal(format!("the fingerprint test stopped: {e}")))?;
        Ok(FingerprintReport {
            suspect: suspect_set,
            controls: control_sets,
            from,
            to,
            served_read,
            test,
            interpretation: INTERPRETATION.to_owned(),
        })
    }
}

/// A sample size the test reads: `Invalid` outside 1 to [`MAX_SAMPLE`].
pub(crate) fn check_sample(sample: i64) -> Result<(), AppError> {
    if sample < 1 || sample > MAX_SAMPLE as i64 {
        return Err(AppError::Invalid(format!("sample: must be between 1 and {MAX_SAMPLE} ({sample} given)")));
    }
    Ok(())
}

/// Every output of a set, in item order.
async fn outputs_of(conn: &mut sqlx::PgConnection, set_id: i64) -> Result<Vec<String>, AppError> {
    Ok(reference_sets::outputs(conn, Some(set_id)).await?.into_iter().map(|(_, _, output)| output).collect())
}
