//! The prompts we served that a reference set's items answer, exactly or
//! near-identically ([`dw_detect::reference::align`]): what the distillation
//! test and attribution by meaning compare answers on.

use dw_detect::reference::{Alignment, PromptAligner};
use dw_store::reference_sets;
use futures_util::TryStreamExt;
use time::OffsetDateTime;

use crate::AppError;

/// A served prompt aligned with one of a set's prompts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServedAlignment {
    /// How it aligned, and with which of the aligner's prompts.
    pub alignment: Alignment,
    /// The account served.
    pub account_id: String,
    /// The event.
    pub event_id: String,
}

/// Which served prompts a scan reads: every account and model, or an
/// audit's narrowing of them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ServedScope<'a> {
    /// Only these accounts, when given.
    pub accounts: Option<&'a [String]>,
    /// Only requests to this model, when given.
    pub model: Option<&'a str>,
}

/// Every prompt we answered in `[from, to)` that aligns with one of the
/// aligner's prompts, in time order. The window's prompts are streamed and
/// only the aligned ones kept.
pub(crate) async fn served_aligned(
    conn: &mut sqlx::PgConnection,
    aligner: &PromptAligner,
    from: OffsetDateTime,
    to: OffsetDateTime,
    scope: ServedScope<'_>,
) -> Result<Vec<ServedAlignment>, AppError> {
    let mut found = Vec::new();
    if aligner.is_empty() {
        return Ok(found);
    }
    let mut prompts =
        std::pin::pin!(reference_sets::stream_answered_prompts(conn, from, to, scope.accounts, scope.model));
    while let Some(served) = prompts.try_next().await? {
        if let Some(alignment) = aligner.align(&served.prompt) {
            found.push(ServedAlignment { alignment, account_id: served.account_id, event_id: served.event_id });
        }
    }
    Ok(found)
}

/// Whether `a` is a better alignment than `b`: exact before near-identical,
/// then the more similar. On a tie the one met first stays.
pub(crate) fn better(a: &Alignment, b: &Alignment) -> bool {
    (a.exact, a.similarity) > (b.exact, b.similarity)
}
