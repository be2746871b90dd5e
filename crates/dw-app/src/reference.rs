//! Reference sets: analysts upload a suspect model's outputs (or a
//! control's), which audits and the distillation test compare with what we
//! served.

use std::collections::{BTreeMap, HashMap};

use dw_detect::reference::{
    AccountTestEvidence, AlignedItem, Alignment, DistillationTest, MIN_CONTROLS, PanelItem, PanelTest, PromptAligner,
    Similarities, TestConfig, benjamini_hochberg, compared_opening, cosine, distillation_test, panel_test,
    similarities,
};
use dw_domain::{LineError, ReferenceItem};
use dw_store::audit_log::{self, NewEntry};
use dw_store::reference_sets::{self, NewReferenceSet, ReferenceSet};

use crate::alignment::{better, served_aligned};
use crate::{Actor, App, AppError};

/// The longest description or collection note accepted.
const MAX_NOTE_CHARS: usize = 10_000;

/// What storing a body of items came to.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReferenceItemsOutcome {
    /// The set the items went into.
    pub set_id: i64,
    /// Non-blank lines read.
    pub lines: u64,
    /// Items stored now.
    pub stored: u64,
    /// Valid items the set already held (same prompt and output).
    pub duplicates: u64,
    /// Invalid lines, by line and field.
    pub rejected: Vec<LineError>,
}

/// What a new set is called and says of itself.
#[derive(Debug, Clone)]
pub struct NewSet<'a> {
    /// Unique name.
    pub name: &'a str,
    /// The suspect model, in the analyst's words.
    pub description: &'a str,
    /// How the outputs were collected.
    pub collection: &'a str,
    /// A control: a model known not to be trained on our outputs.
    pub control: bool,
}

impl App {
    /// Creates a reference set, on record as `actor`'s; a taken name is a
    /// conflict.
    pub async fn create_reference_set(&self, new: &NewSet<'_>, actor: &Actor) -> Result<ReferenceSet, AppError> {
        check_name(new.name)?;
        for (field, text) in [("description", new.description), ("collection", new.collection)] {
            if text.chars().count() > MAX_NOTE_CHARS {
                return Err(AppError::Invalid(format!("{field}: at most {MAX_NOTE_CHARS} characters")));
            }
        }
        let mut tx = self.pool.begin().await?;
        let created = reference_sets::create(
            &mut tx,
            &NewReferenceSet {
                name: new.name,
                description: new.description.trim(),
                collection: new.collection.trim(),
                control: new.control,
                created_by: &actor.name,
            },
        )
        .await?
        .ok_or_else(|| AppError::Conflict(format!("name: a reference set named {:?} exists", new.name)))?;
        audit_log::append(
            &mut tx,
            &NewEntry {
                actor: &actor.name,
                role: &actor.role,
                action: "reference_set.create",
                target: &format!("reference_set:{}", created.id),
                before: None,
                after: serde_json::to_value(&created).ok(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Stores parsed items in a set, in one transaction: every valid item is
    /// stored (or found already there) or none is.
    pub async fn add_reference_items(
        &self,
        set_id: i64,
        items: &[ReferenceItem],
        rejected: Vec<LineError>,
        lines: u64,
        actor: &Actor,
    ) -> Result<ReferenceItemsOutcome, AppError> {
        let mut tx = self.pool.begin().await?;
        if reference_sets::by_id(&mut tx, set_id).await?.is_none() {
            return Err(AppError::NotFound(format!("reference set {set_id}")));
        }
        let (stored, duplicates) = reference_sets::add_items(&mut tx, set_id, items).await?;
        let outcome = ReferenceItemsOutcome { set_id, lines, stored, duplicates, rejected };
        audit_log::append(
            &mut tx,
            &NewEntry {
                actor: &actor.name,
                role: &actor.role,
                action: "reference_set.add_items",
                target: &format!("reference_set:{set_id}"),
                before: None,
                after: Some(serde_json::json!({
                    "lines": lines, "stored": stored, "duplicates": duplicates, "rejected": outcome.rejected.len()
                })),
            },
        )
        .await?;
        tx.commit().await?;
        metrics::counter!("distillwatch_reference_items_total").increment(stored);
        Ok(outcome)
    }

    /// Every reference set, newest first.
    pub async fn reference_sets(&self) -> Result<Vec<ReferenceSet>, AppError> {
        let mut conn = self.pool.acquire().await?;
        Ok(reference_sets::list(&mut conn).await?)
    }

    /// One set, by id.
    pub async fn reference_set(&self, id: i64) -> Result<ReferenceSet, AppError> {
        let mut conn = self.pool.acquire().await?;
        reference_sets::by_id(&mut conn, id).await?.ok_or_else(|| AppError::NotFound(format!("reference set {id}")))
    }

    /// One set, by name.
    pub async fn reference_set_named(&self, name: &str) -> Result<ReferenceSet, AppError> {
        let mut conn = self.pool.acquire().await?;
        reference_sets::by_name(&mut conn, name)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("reference set {name:?}")))
    }
}

/// A letter or digit, then letters, digits, `.`, `_` or `-`: at most 100
/// (what the table's check allows, said before the database says it worse).
fn check_name(name: &str) -> Result<(), AppError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(AppError::Invalid(format!(
            "name: {name:?} is not a set name (a letter or digit, then letters, digits, '.', '_' or '-', at most 100)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(account: &str, event: usize) -> AlignedPrompt {
        AlignedPrompt {
            prompt: format!("p{event}"),
            completion: format!("c{event}"),
            account_id: account.to_owned(),
            event_id: format!("ev-{event}"),
            suspect_item: event as i64,
            suspect_prompt: format!("p{event}"),
            suspect_output: format!("s{event}"),
            prompt_alignment: dw_detect::reference::Alignment { index: event, similarity: 1.0, exact: true },
            control_item: event as i64,
            control_output: format!("k{event}"),
        }
    }

    #[test]
    fn accounts_are_embedded_on_a_fixed_sample_and_not_at_all_when_too_few() {
        // a: 250 items, b: 40, c: 29 (too few to test), interleaved as the aligner lists them.
        let mut all = Vec::new();
        for i in 0..250 {
            all.push(served("a", i));
            if i < 40 {
                all.push(served("b", 1000 + i));
            }
            if i < 29 {
                all.push(served("c", 2000 + i));
            }
        }
        let sample = account_sample(&all, 30, 100);
        let count = |who: &str| sample.iter().filter(|a| a.account_id == who).count();
        assert_eq!((count("a"), count("b"), count("c")), (100, 40, 0));
        // In the input's order, and the same on every run.
        let position = |a: &AlignedPrompt| all.iter().position(|b| std::ptr::eq(a, b)).unwrap();
        assert!(sample.windows(2).all(|w| position(w[0]) < position(w[1])));
        let again = account_sample(&all, 30, 100);
        assert!(sample.iter().zip(&again).all(|(x, y)| std::ptr::eq(*x, *y)));
        // Not the first 100 in time (or item) order: spread over the account's items.
        let a_items: Vec<i64> = sample.iter().filter(|a| a.account_id == "a").map(|a| a.suspect_item).collect();
        let early = a_items.iter().filter(|i| **i < 125).count();
        assert!((30..=70).contains(&early), "{early} of 100 from the first half: {a_items:?}");
    }

    #[test]
    fn set_names_are_short_plain_words() {
        for good in ["suspect-x", "ctl.2026_11", "A", &"a".repeat(100)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-lead", "has space", "ünï", &"a".repeat(101), "a/b"] {
            let Err(AppError::Invalid(message)) = check_name(bad) else { panic!("{bad:?} accepted") };
            assert!(message.starts_with("name: "), "{message}");
        }
    }
}

/// The distillation test run on stored sets and served traffic, with what
/// an analyst needs to judge it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DistillationReport {
    /// The suspect set.
    pub suspect: ReferenceSet,
    /// The control set.
    pub control: ReferenceSet,
    /// The window our completions were taken from.
    #[serde(with = "time::serde::rfc3339")]
    pub from: time::OffsetDateTime,
    /// Its end (exclusive).
    #[serde(with = "time::serde::rfc3339")]
    pub to: time::OffsetDateTime,
    /// The embedding model behind `embedding_cosine`, when one was used.
    pub embedding_model: Option<String>,
    /// With the embedding measure, each account is tested on at most this
    /// many of its aligned items, a sample fixed by their event ids (the
    /// whole test on every best-aligned item); `null` without it (every item).
    pub account_items_sampled: Option<usize>,
    /// Aligned prompts that we served exactly as the suspect's item asks
    /// (case and whitespace aside).
    pub aligned_exactly: usize,
    /// Aligned prompts that we served near-identically (one holding the
    /// other with a greeting, a wrapper or punctuation around it:
    /// `dw_detect::reference::align`).
    pub aligned_near_identically: usize,
    /// The test.
    pub test: DistillationTest,
    /// The same test per account, on the suspect's prompts served to it
    /// (its best-aligned event for each), for every account served at least
    /// [`dw_detect::reference::MIN_ALIGNED_ITEMS`] of them; q-values by Benjamini-Hochberg across
    /// these accounts; the lowest p-value first.
    pub accounts: Vec<AccountTest>,
    /// Accounts served some of the suspect's prompts, too few to be tested.
    pub accounts_too_few: usize,
    /// The items where the suspect is closest to us relative to the control
    /// (at most [`EXAMPLES`]): our prompt and completion, both outputs, their
    /// similarities.
    pub examples: Vec<AlignedExample>,
    /// What the test can and cannot show.
    pub interpretation: String,
}

/// One aligned prompt as evidence.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlignedExample {
    /// Our prompt.
    pub prompt: String,
    /// The suspect's prompt, when we served it near-identically rather than
    /// exactly.
    pub suspect_prompt: Option<String>,
    /// Our prompt against the suspect's: 1 when equal, else the Jaccard
    /// similarity of their shingles.
    pub prompt_similarity: f64,
    /// Our completion.
    pub completion: String,
    /// The account and event it was served to.
    pub account_id: String,
    /// The event.
    pub event_id: String,
    /// The suspect's output.
    pub suspect_output: String,
    /// The control's output.
    pub control_output: String,
    /// The suspect's output against ours.
    pub suspect: Similarities,
    /// The control's output against ours.
    pub control: Similarities,
}

/// The distillation test on the prompts served to one account.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountTest {
    /// The account.
    pub account_id: String,
    /// The suspect's prompts served to it that the control also answered.
    pub items: usize,
    /// The combined permutation p-value.
    pub p_value: f64,
    /// Its Benjamini-Hochberg q-value across the accounts tested.
    pub q_value: f64,
    /// The combined effect size (mean over standard deviation of the
    /// per-item differences).
    pub effect_size: f64,
    /// The share of its items on which the suspect is the closer to ours.
    pub auc: f64,
}

/// A suspect item and the account and event it was served in.
type ServedItem<'a> = (i64, &'a str, &'a str);

/// The per-account tests of [`DistillationReport::accounts`], and how many
/// accounts had too few items to test.
fn account_tests(
    by_account: &[&AlignedPrompt],
    item_of: impl Fn(&AlignedPrompt) -> AlignedItem,
    config: &TestConfig,
) -> (Vec<AccountTest>, usize) {
    let mut grouped: BTreeMap<&str, Vec<AlignedItem>> = BTreeMap::new();
    for a in by_account {
        grouped.entry(a.account_id.as_str()).or_default().push(item_of(a));
    }
    let too_few = grouped.values().filter(|items| items.len() < config.min_items).count();
    let mut tested: Vec<AccountTest> = grouped
        .into_iter()
        .filter(|(_, items)| items.len() >= config.min_items)
        .filter_map(|(account, items)| {
            let combined = distillation_test(&items, config).combined?;
            Some(AccountTest {
                account_id: account.to_owned(),
                items: items.len(),
                p_value: combined.permutation_p,
                q_value: 1.0,
                effect_size: combined.effect_size,
                auc: combined.auc,
            })
        })
        .collect();
    let q = benjamini_hochberg(&tested.iter().map(|t| t.p_value).collect::<Vec<_>>());
    for (t, q) in tested.iter_mut().zip(q) {
        t.q_value = q;
    }
    tested.sort_by(|a, b| a.p_value.total_cmp(&b.p_value).then(a.account_id.cmp(&b.account_id)));
    (tested, too_few)
}

/// The per-account paired tests by wording (no embedding) on one
/// suspect-control pair's aligned items, on the compute threads.
async fn lexical_account_tests(app: &App, by_account: Vec<AlignedPrompt>) -> Result<Vec<AccountTest>, AppError> {
    app.compute
        .run("per-account distillation tests", move || {
            let refs: Vec<&AlignedPrompt> = by_account.iter().collect();
            let item_of = |a: &AlignedPrompt| AlignedItem {
                item: a.suspect_item.to_string(),
                suspect: similarities(&a.completion, &a.suspect_output, None),
                control: similarities(&a.completion, &a.control_output, None),
            };
            account_tests(&refs, item_of, &TestConfig::default()).0
        })
        .await
}

/// The per-account paired tests an audit runs on its window, by wording:
/// every suspect set against every control set, each account served at
/// least [`dw_detect::reference::MIN_ALIGNED_ITEMS`] of the suspect's prompts
/// (that a control also answered) tested on them against each such control
/// in turn and combined as the panel report combines them
/// ([`PanelAccount`]: the suspect must be the closer against every control,
/// its p the largest), q-values by Benjamini-Hochberg across every account
/// and suspect; for each account its strongest test (the lowest q, then p).
/// With one control this is that control's test; with more, an account is
/// no longer attributed because one control happens to answer unlike us.
/// The window's served prompts are read once per suspect (whatever its
/// controls), and only those of the audit's accounts and model when it is
/// narrowed (`scope`). Returns how many (suspect, control) pairs were tested
/// (none without a suspect and a control set) and the accounts' tests.
pub(crate) async fn window_account_tests(
    app: &App,
    conn: &mut sqlx::PgConnection,
    from: time::OffsetDateTime,
    to: time::OffsetDateTime,
    scope: crate::alignment::ServedScope<'_>,
) -> Result<(usize, BTreeMap<String, AccountTestEvidence>), AppError> {
    let sets = reference_sets::list(conn).await?;
    let (controls, suspects): (Vec<&ReferenceSet>, Vec<&ReferenceSet>) = sets.iter().partition(|s| s.control);
    let names: Vec<&str> = controls.iter().map(|c| c.name.as_str()).collect();
    let mut tests: Vec<(&str, PanelAccount)> = Vec::new();
    let mut pairs = 0;
    for suspect in &suspects {
        if controls.is_empty() {
            break;
        }
        // The window's served prompts are read once per suspect, for all its controls.
        let side = suspect_side(conn, suspect.id, from, to, scope).await?;
        let mut rounds = Vec::with_capacity(controls.len());
        for control in &controls {
            pairs += 1;
            let Aligned { by_account, .. } = paired(conn, &side, control.id).await?;
            rounds.push(if by_account.is_empty() {
                Vec::new()
            } else {
                lexical_account_tests(app, by_account).await?
            });
        }
        tests.extend(panel_accounts(&rounds, &names, 1).into_iter().map(|a| (suspect.name.as_str(), a)));
    }
    let q = benjamini_hochberg(&tests.iter().map(|(_, a)| a.p_value).collect::<Vec<_>>());
    let count = tests.len();
    let mut strongest: BTreeMap<String, AccountTestEvidence> = BTreeMap::new();
    for ((suspect, a), q) in tests.into_iter().zip(q) {
        let evidence = AccountTestEvidence {
            suspect: suspect.to_owned(),
            control: a.closest_control,
            controls: a.controls,
            items: a.items,
            p_value: a.p_value,
            q_value: q,
            auc: a.auc,
            tests: count,
            by_meaning: false,
        };
        let account = a.account_id;
        let stronger = |held: &AccountTestEvidence| (evidence.q_value, evidence.p_value) < (held.q_value, held.p_value);
        if strongest.get(&account).is_none_or(stronger) {
            strongest.insert(account, evidence);
        }
    }
    Ok((pairs, strongest))
}

/// Examples in a report.
pub const EXAMPLES: usize = 10;

/// Said in every report.
const INTERPRETATION: &str = "The test asks whether, on prompts that we, the suspect and the control all answered, \
    the suspect's answers are closer to ours than the control's are, beyond chance. A rejection says they are: a \
    model trained on our outputs answers like us. It does not say why: a model that shares our training data, a \
    sibling or a later snapshot of a model we derive from, or one tuned to the same style may answer like us too, \
    and the control decides which of these the test rules out (pick one as close to the suspect as possible, with \
    no access to our outputs). Not rejecting is no proof of innocence: a student trained on a small share of our \
    outputs, or on prompts unlike these, may not show on them. Inconclusive means too few prompts align.";

impl App {
    /// Runs the distillation test of `suspect` against `control` on the
    /// prompts both answered and we served in `[from, to)` (all stored
    /// traffic by default), with embeddings when `embed` is given. Prompts
    /// align exactly or near-identically: the control's and ours, each with
    /// the suspect's; per suspect prompt the best control item and our best
    /// event are kept (exact first, then the most similar, then the first
    /// item, or the first served).
    pub async fn distillation_test(
        &self,
        suspect: i64,
        control: i64,
        from: Option<time::OffsetDateTime>,
        to: Option<time::OffsetDateTime>,
        embed: Option<&dw_embed::EmbedHandle>,
    ) -> Result<DistillationReport, AppError> {
        let (from, to) = stored_window(from, to)?;
        let mut conn = self.pool.acquire().await?;
        let suspect_set = suspect_set(&mut conn, suspect).await?;
        let control_set = control_set(&mut conn, control).await?;
        let Aligned { best: aligned, by_account } = aligned_prompts(&mut conn, suspect, control, from, to).await?;
        let config = TestConfig::default();
        // By meaning, the accounts are tested on a sample of their items (embedding every aligned event of a
        // week takes hours on a CPU): the accounts with too few items are not embedded at all.
        let by_account: Vec<&AlignedPrompt> = match embed {
            Some(_) => account_sample(&by_account, config.min_items, EMBEDDED_ITEMS_PER_ACCOUNT),
            None => by_account.iter().collect(),
        };
        // Cosines of the best-aligned answers and of the accounts' (sampled) ones, by item, account and event.
        let cosines: Option<BTreeMap<ServedItem<'_>, (f64, f64)>> = match embed {
            Some(handle) if !aligned.is_empty() || !by_account.is_empty() => {
                let key = |a: &AlignedPrompt| (a.suspect_item, a.account_id.clone(), a.event_id.clone());
                let mut wanted: Vec<&AlignedPrompt> = aligned.iter().chain(by_account.iter().copied()).collect();
                let mut seen = std::collections::HashSet::new();
                wanted.retain(|a| seen.insert(key(a)));
                let found = aligned_cosines(&mut conn, handle, &wanted).await?;
                Some(
                    wanted
                        .iter()
                        .zip(found)
                        .map(|(a, c)| ((a.suspect_item, a.account_id.as_str(), a.event_id.as_str()), c))
                        .collect(),
                )
            }
            _ => None,
        };
        drop(conn);
        let item_of = |a: &AlignedPrompt| {
            let key = (a.suspect_item, a.account_id.as_str(), a.event_id.as_str());
            let (s, c) = cosines.as_ref().and_then(|v| v.get(&key)).map_or((None, None), |(s, c)| (Some(*s), Some(*c)));
            AlignedItem {
                item: a.suspect_item.to_string(),
                suspect: similarities(&a.completion, &a.suspect_output, s),
                control: similarities(&a.completion, &a.control_output, c),
            }
        };
        let items: Vec<(AlignedItem, &AlignedPrompt)> = aligned.iter().map(|a| (item_of(a), a)).collect();
        let test_items: Vec<AlignedItem> = items.iter().map(|(i, _)| i.clone()).collect();
        let test = distillation_test(&test_items, &config);
        let (accounts, accounts_too_few) = account_tests(&by_account, item_of, &config);
        let mut ranked: Vec<&(AlignedItem, &AlignedPrompt)> = items.iter().collect();
        let lead = |i: &AlignedItem| {
            let gap = |m: Option<f64>, n: Option<f64>| m.zip(n).map_or(0.0, |(m, n)| m - n);
            gap(i.suspect.embedding_cosine, i.control.embedding_cosine) + i.suspect.ngram_overlap
                - i.control.ngram_overlap
        };
        ranked.sort_by(|a, b| lead(&b.0).total_cmp(&lead(&a.0)).then(a.1.suspect_item.cmp(&b.1.suspect_item)));
        let examples = ranked
            .into_iter()
            .take(EXAMPLES)
            .map(|(item, a)| AlignedExample {
                prompt: a.prompt.clone(),
                suspect_prompt: (!a.prompt_alignment.exact).then(|| a.suspect_prompt.clone()),
                prompt_similarity: a.prompt_alignment.similarity,
                completion: a.completion.clone(),
                account_id: a.account_id.clone(),
                event_id: a.event_id.clone(),
                suspect_output: a.suspect_output.clone(),
                control_output: a.control_output.clone(),
                suspect: item.suspect,
                control: item.control,
            })
            .collect();
        Ok(DistillationReport {
            suspect: suspect_set,
            control: control_set,
            from,
            to,
            embedding_model: embed.filter(|_| cosines.is_some()).map(|h| h.model_id().to_owned()),
            account_items_sampled: cosines.is_some().then_some(EMBEDDED_ITEMS_PER_ACCOUNT),
            aligned_exactly: aligned.iter().filter(|a| a.prompt_alignment.exact).count(),
            aligned_near_identically: aligned.iter().filter(|a| !a.prompt_alignment.exact).count(),
            test,
            accounts,
            accounts_too_few,
            examples,
            interpretation: INTERPRETATION.to_owned(),
        })
    }
}

impl App {
    /// The distillation test against a panel of controls
    /// ([`dw_detect::reference::panel`]): on the prompts that we, the suspect
    /// and every control answered, does the suspect stand out from how close
    /// the controls come? `Invalid` with fewer than three distinct control
    /// sets, or a set among them that is not a control.
    pub async fn panel_test(
        &self,
        suspect: i64,
        controls: &[i64],
        from: Option<time::OffsetDateTime>,
        to: Option<time::OffsetDateTime>,
        embed: Option<&dw_embed::EmbedHandle>,
    ) -> Result<PanelReport, AppError> {
        check_controls("panel test", controls, MIN_CONTROLS)?;
        let (from, to) = stored_window(from, to)?;
        let mut conn = self.pool.acquire().await?;
        let suspect_set = suspect_set(&mut conn, suspect).await?;
        let mut control_sets = Vec::with_capacity(controls.len());
        for id in controls {
            control_sets.push(control_set(&mut conn, *id).await?);
        }
        // For each control: (suspect item, our event) -> the suspect's and the control's similarities.
        type Pair = (Similarities, Similarities);
        let mut per_control: Vec<BTreeMap<(i64, String), Pair>> = Vec::with_capacity(controls.len());
        let mut embedded = false;
        let side = suspect_side(&mut conn, suspect, from, to, Default::default()).await?;
        let config = TestConfig::default();
        // Per account, by wording: its own items against each control in turn.
        let mut account_rounds: Vec<Vec<AccountTest>> = Vec::with_capacity(controls.len());
        for control in controls {
            let Aligned { best, by_account } = paired(&mut conn, &side, *control).await?;
            let tested = lexical_account_tests(self, by_account).await?;
            account_rounds.push(tested);
            let cosines = match embed {
                Some(handle) if !best.is_empty() => {
                    Some(aligned_cosines(&mut conn, handle, &best.iter().collect::<Vec<_>>()).await?)
                }
                _ => None,
            };
            embedded |= cosines.is_some();
            let pairs = best
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let (s, c) = cosines.as_ref().map_or((None, None), |v| (Some(v[i].0), Some(v[i].1)));
                    let pair = (
                        similarities(&a.completion, &a.suspect_output, s),
                        similarities(&a.completion, &a.control_output, c),
                    );
                    ((a.suspect_item, a.event_id.clone()), pair)
                })
                .collect();
            per_control.push(pairs);
        }
        drop(conn);
        let items: Vec<PanelItem> = per_control[0]
            .iter()
            .filter_map(|(key, (suspect, _))| {
                let controls = per_control.iter().map(|m| m.get(key).map(|p| p.1)).collect::<Option<Vec<_>>>()?;
                Some(PanelItem { suspect: *suspect, controls })
            })
            .collect();
        let names: Vec<&str> = control_sets.iter().map(|c| c.name.as_str()).collect();
        let test = panel_test(&suspect_set.name, &names, &items, config.min_items, config.alpha);
        let accounts = panel_accounts(&account_rounds, &names, names.len());
        Ok(PanelReport {
            suspect: suspect_set,
            controls: control_sets,
            from,
            to,
            embedding_model: embed.filter(|_| embedded).map(|h| h.model_id().to_owned()),
            test,
            accounts,
            interpretation: PANEL_INTERPRETATION.to_owned(),
        })
    }
}

/// What the panel test found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PanelReport {
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
    /// The model the answers were embedded with, when they were.
    pub embedding_model: Option<String>,
    /// The test: every model's closeness, the suspect's standing and each
    /// control's against the others.
    pub test: PanelTest,
    /// The accounts served at least 30 of the suspect's prompts that every
    /// control also answered, each tested on its own items against every
    /// control in turn (by wording), lowest p first ([`PanelAccount`]).
    pub accounts: Vec<PanelAccount>,
    /// What a rejection does and does not show.
    pub interpretation: String,
}

/// An account's test against the whole panel: on its own items, is the
/// suspect closer to what we served it than every control is? It is the
/// paired test against each control in turn; the account's p-value is the
/// largest of them (an intersection-union test: "closer than every control"
/// holds at the level only if each comparison does, and needs no correction
/// across controls), its q-value Benjamini-Hochberg across the accounts.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PanelAccount {
    /// The account.
    pub account_id: String,
    /// Its items with the control that has the fewest in common with it.
    pub items: usize,
    /// The largest of its per-control p-values.
    pub p_value: f64,
    /// Its Benjamini-Hochberg q-value across the accounts tested.
    pub q_value: f64,
    /// The control the suspect beat least on its items (the largest p).
    pub closest_control: String,
    /// How many controls it was tested against (every control of the panel
    /// report; in an audit, every control set that answered at least 30 of
    /// the suspect's prompts served to it).
    pub controls: usize,
    /// The smallest of its per-control AUCs (the share of items on which
    /// the suspect is the closer to ours).
    pub auc: f64,
}

/// Accounts tested against at least `least` controls (`rounds[c]`: the
/// tests against control `c`; an account is missing from a round when it
/// had too few items with that control), combined into [`PanelAccount`]s
/// over the controls each was tested against; the others are left out.
fn panel_accounts(rounds: &[Vec<AccountTest>], names: &[&str], least: usize) -> Vec<PanelAccount> {
    let mut combined: BTreeMap<&str, (usize, PanelAccount)> = BTreeMap::new();
    for (c, round) in rounds.iter().enumerate() {
        for t in round {
            let entry = combined.entry(t.account_id.as_str()).or_insert_with(|| {
                (
                    0,
                    PanelAccount {
                        account_id: t.account_id.clone(),
                        items: t.items,
                        p_value: t.p_value,
                        q_value: 1.0,
                        closest_control: names[c].to_owned(),
                        controls: 0,
                        auc: t.auc,
                    },
                )
            });
            entry.0 += 1;
            let account = &mut entry.1;
            account.items = account.items.min(t.items);
            account.auc = account.auc.min(t.auc);
            if t.p_value > account.p_value {
                account.p_value = t.p_value;
                account.closest_control = names[c].to_owned();
            }
        }
    }
    let mut accounts: Vec<PanelAccount> = combined
        .into_values()
        .filter(|(rounds_in, _)| *rounds_in >= least.max(1))
        .map(|(rounds_in, a)| PanelAccount { controls: rounds_in, ..a })
        .collect();
    let q = benjamini_hochberg(&accounts.iter().map(|a| a.p_value).collect::<Vec<_>>());
    for (a, q) in accounts.iter_mut().zip(q) {
        a.q_value = q;
    }
    accounts.sort_by(|a, b| a.p_value.total_cmp(&b.p_value).then(a.account_id.cmp(&b.account_id)));
    accounts
}

const PANEL_INTERPRETATION: &str = "The panel test asks whether, on prompts that we, the suspect and every control \
    answered, the suspect's answers are closer to ours than unrelated models' answers come, taking the controls as a \
    sample of unrelated models: a rejection says the suspect stands out from them, which one control cannot say \
    (unrelated models differ in closeness by style alone). It does not say why: a student of ours, a model of our \
    own lineage, or one sharing our base model can all stand out; choose controls of the same generation, and \
    report each control's own standing beside the suspect's.";

/// A test's control sets as given: `Invalid` when one is named twice or
/// fewer than `least` are.
pub(crate) fn check_controls(test: &str, controls: &[i64], least: usize) -> Result<(), AppError> {
    let distinct: std::collections::BTreeSet<i64> = controls.iter().copied().collect();
    if distinct.len() != controls.len() {
        return Err(AppError::Invalid("controls: a control set is named twice".into()));
    }
    if controls.len() < least {
        return Err(AppError::Invalid(format!(
            "controls: the {test} needs at least {least} control set{} ({} given)",
            if least == 1 { "" } else { "s" },
            controls.len()
        )));
    }
    Ok(())
}

/// A control set by id; `Invalid` when the set is a suspect's.
pub(crate) async fn control_set(conn: &mut sqlx::PgConnection, id: i64) -> Result<ReferenceSet, AppError> {
    let set =
        reference_sets::by_id(conn, id).await?.ok_or_else(|| AppError::NotFound(format!("reference set {id}")))?;
    if !set.control {
        return Err(AppError::Invalid(format!(
            "control: reference set {} ({:?}) is not a control set (upload the control's outputs with control: true)",
            set.id, set.name
        )));
    }
    Ok(set)
}

/// A prompt answered by us, a suspect and a control: one item of the
/// distillation test.
#[derive(Debug, Clone, PartialEq)]
struct AlignedPrompt {
    /// The prompt, as we served it.
    prompt: String,
    /// Our completion: for the best-aligned event, the first we served.
    completion: String,
    /// The account we served it to.
    account_id: String,
    /// The event.
    event_id: String,
    /// The suspect's item.
    suspect_item: i64,
    /// The suspect's prompt.
    suspect_prompt: String,
    /// The suspect's output.
    suspect_output: String,
    /// How our prompt aligned with the suspect's.
    prompt_alignment: Alignment,
    /// The control's item.
    control_item: i64,
    /// The control's output.
    control_output: String,
}

/// The distillation test's items: per prompt of the suspect's (its first
/// item for a repeated prompt), the control item that asks it best and the
/// event of `[from, to)` that asks it best (`best`, in the suspect's item
/// order); and per prompt and account served it, that account's event that
/// asks it best (`by_account`, the same order, accounts in order within a
/// prompt).
struct Aligned {
    best: Vec<AlignedPrompt>,
    by_account: Vec<AlignedPrompt>,
}

/// A suspect set's prompts and the served prompts of a window that align
/// with them: read once per suspect, whatever the controls it is then
/// paired with ([`paired`]).
struct SuspectSide {
    /// The suspect's items that have a prompt: (item id, prompt, output).
    items: Vec<(i64, String, String)>,
    /// Their prompts, indexed for alignment.
    aligner: PromptAligner,
    /// The served prompts aligned with them.
    served: Vec<crate::alignment::ServedAlignment>,
}

async fn suspect_side(
    conn: &mut sqlx::PgConnection,
    suspect: i64,
    from: time::OffsetDateTime,
    to: time::OffsetDateTime,
    scope: crate::alignment::ServedScope<'_>,
) -> Result<SuspectSide, AppError> {
    let items = reference_sets::prompted_items(conn, suspect).await?;
    let aligner = PromptAligner::new(items.iter().map(|(_, prompt, _)| prompt.as_str()));
    let served = served_aligned(conn, &aligner, from, to, scope).await?;
    Ok(SuspectSide { items, aligner, served })
}

/// The prompts we, the suspect and the control all answered: per suspect
/// prompt, the control's best item and our best event (`best`), and each
/// account's best event (`by_account`).
async fn paired(conn: &mut sqlx::PgConnection, side: &SuspectSide, control: i64) -> Result<Aligned, AppError> {
    let suspect_items = &side.items;
    let control_items = reference_sets::prompted_items(conn, control).await?;
    let mut partner: Vec<Option<(Alignment, usize)>> = vec![None; suspect_items.len()];
    for (c, (_, prompt, _)) in control_items.iter().enumerate() {
        if let Some(a) = side.aligner.align(prompt) {
            let slot = &mut partner[a.index];
            if slot.as_ref().is_none_or(|(b, _)| better(&a, b)) {
                *slot = Some((a, c));
            }
        }
    }
    let mut ours: Vec<Option<(Alignment, &str, &str)>> = vec![None; suspect_items.len()];
    let mut per_account: Vec<BTreeMap<&str, (Alignment, &str)>> = vec![BTreeMap::new(); suspect_items.len()];
    for served in &side.served {
        let a = served.alignment;
        if partner[a.index].is_none() {
            continue;
        }
        let mine = per_account[a.index].entry(served.account_id.as_str()).or_insert((a, served.event_id.as_str()));
        if better(&a, &mine.0) {
            *mine = (a, served.event_id.as_str());
        }
        let slot = &mut ours[a.index];
        if slot.as_ref().is_none_or(|(b, _, _)| better(&a, b)) {
            *slot = Some((a, served.account_id.as_str(), served.event_id.as_str()));
        }
    }
    let keys: Vec<(String, String)> = per_account
        .iter()
        .flat_map(|accounts| accounts.iter().map(|(account, (_, event))| ((*account).to_owned(), (*event).to_owned())))
        .collect();
    let texts = reference_sets::served_texts(conn, &keys).await?;
    let make = |i: usize, alignment: &Alignment, account_id: &str, event_id: &str| {
        let (_, c) = partner[i].as_ref()?;
        let served = texts.get(&(account_id.to_owned(), event_id.to_owned()))?;
        let (suspect_item, suspect_prompt, suspect_output) = suspect_items[i].clone();
        Some(AlignedPrompt {
            prompt: served.prompt.clone(),
            completion: served.completion.clone(),
            account_id: account_id.to_owned(),
            event_id: event_id.to_owned(),
            suspect_item,
            suspect_prompt,
            suspect_output,
            prompt_alignment: *alignment,
            control_item: control_items[*c].0,
            control_output: control_items[*c].2.clone(),
        })
    };
    let best = ours
        .iter()
        .enumerate()
        .filter_map(|(i, found)| found.as_ref().and_then(|(a, account, event)| make(i, a, account, event)))
        .collect();
    let by_account = per_account
        .iter()
        .enumerate()
        .flat_map(|(i, accounts)| accounts.iter().filter_map(move |(account, (a, event))| make(i, a, account, event)))
        .collect();
    Ok(Aligned { best, by_account })
}

/// [`paired`] for one suspect and one control, over every account and model.
async fn aligned_prompts(
    conn: &mut sqlx::PgConnection,
    suspect: i64,
    control: i64,
    from: time::OffsetDateTime,
    to: time::OffsetDateTime,
) -> Result<Aligned, AppError> {
    let side = suspect_side(conn, suspect, from, to, Default::default()).await?;
    paired(conn, &side, control).await
}

impl App {
    /// Embeds the outputs of set `set_id` that have no vector from the
    /// engine's model yet, `chunk` items at a time; each chunk's vectors are
    /// committed before the next is read, so an interrupted run resumes where
    /// it stopped. `progress(embedded so far)` is called after each chunk.
    /// Returns the vectors written.
    pub async fn embed_reference_set(
        &self,
        handle: &dw_embed::EmbedHandle,
        set_id: i64,
        chunk: usize,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, AppError> {
        let mut conn = self.pool.acquire().await?;
        let (mut after, mut written) = (0, 0);
        loop {
            let batch =
                reference_sets::unembedded_outputs(&mut conn, set_id, handle.model_id(), after, chunk.max(1) as i64)
                    .await?;
            let Some(&(last, _)) = batch.last() else { break };
            let (ids, texts): (Vec<i64>, Vec<String>) = batch.into_iter().unzip();
            let vectors = handle.embed_waiting(texts).await?;
            written += reference_sets::store_output_vectors(&mut conn, &ids, &vectors, handle.model_id()).await?;
            after = last;
            progress(written);
        }
        Ok(written)
    }
}

/// The vectors of items' outputs (`(id, output)`) by the engine's model: the
/// stored ones read, the others taken from `known` (a text the caller has
/// just embedded, by the same engine) or embedded, and stored for the next
/// time.
pub(crate) async fn output_vectors(
    conn: &mut sqlx::PgConnection,
    handle: &dw_embed::EmbedHandle,
    items: &[(i64, &str)],
    known: impl Fn(&str) -> Option<Vec<f32>>,
) -> Result<std::collections::HashMap<i64, Vec<f32>>, AppError> {
    let ids: Vec<i64> = items.iter().map(|(id, _)| *id).collect();
    let mut found = reference_sets::output_vectors(conn, &ids, handle.model_id()).await?;
    let mut missing: Vec<(i64, String)> = Vec::new();
    let mut reused: (Vec<i64>, Vec<Vec<f32>>) = (Vec::new(), Vec::new());
    let mut queued = std::collections::HashSet::new();
    for (id, output) in items {
        if found.contains_key(id) || !queued.insert(*id) {
            continue;
        }
        match known(output) {
            Some(vector) => {
                reused.0.push(*id);
                reused.1.push(vector);
            }
            None => missing.push((*id, (*output).to_owned())),
        }
    }
    for chunk in reused.0.chunks(512).zip(reused.1.chunks(512)) {
        reference_sets::store_output_vectors(conn, chunk.0, chunk.1, handle.model_id()).await?;
    }
    found.extend(reused.0.into_iter().zip(reused.1));
    for chunk in missing.chunks(512) {
        let (ids, texts): (Vec<i64>, Vec<String>) = chunk.iter().cloned().unzip();
        let vectors = handle.embed_waiting(texts).await?;
        reference_sets::store_output_vectors(conn, &ids, &vectors, handle.model_id()).await?;
        found.extend(ids.into_iter().zip(vectors));
    }
    Ok(found)
}

/// Each aligned prompt's cosines: the suspect's output and the control's,
/// each against the opening of our completion it is compared with.
async fn aligned_cosines(
    conn: &mut sqlx::PgConnection,
    handle: &dw_embed::EmbedHandle,
    aligned: &[&AlignedPrompt],
) -> Result<Vec<(f64, f64)>, AppError> {
    let outputs: Vec<(i64, &str)> = aligned
        .iter()
        .flat_map(|a| [(a.suspect_item, a.suspect_output.as_str()), (a.control_item, a.control_output.as_str())])
        .collect();
    let theirs = output_vectors(conn, handle, &outputs, |_| None).await?;
    // Each distinct opening embedded once: a popular prompt's answer is compared by many accounts' events.
    let mut distinct: HashMap<&str, usize> = HashMap::new();
    let mut openings: Vec<String> = Vec::new();
    let mut slots: Vec<(usize, usize)> = Vec::with_capacity(aligned.len());
    for a in aligned {
        let mut pair = [0; 2];
        for (k, output) in [&a.suspect_output, &a.control_output].into_iter().enumerate() {
            let text = compared_opening(&a.completion, output);
            pair[k] = *distinct.entry(text).or_insert_with(|| {
                openings.push(text.to_owned());
                openings.len() - 1
            });
        }
        slots.push((pair[0], pair[1]));
    }
    let mut ours = Vec::with_capacity(openings.len());
    for chunk in openings.chunks(512) {
        ours.extend(handle.embed_waiting(chunk.to_vec()).await?);
    }
    Ok(aligned
        .iter()
        .zip(slots)
        .map(|(a, (s, c))| (cosine(&theirs[&a.suspect_item], &ours[s]), cosine(&theirs[&a.control_item], &ours[c])))
        .collect())
}

/// The most items of one account embedded for its test by meaning.
pub const EMBEDDED_ITEMS_PER_ACCOUNT: usize = 100;

/// The accounts' aligned items worth embedding: none of an account with
/// fewer than `min_items` (it is not tested), at most `cap` of any other,
/// chosen by a hash of their event ids (a sample that does not follow time
/// or the suspect's item order, and the same on every run); in the input's
/// order.
fn account_sample(by_account: &[AlignedPrompt], min_items: usize, cap: usize) -> Vec<&AlignedPrompt> {
    let mut grouped: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, a) in by_account.iter().enumerate() {
        grouped.entry(a.account_id.as_str()).or_default().push(i);
    }
    let mut kept: Vec<usize> = Vec::new();
    for (_, mut items) in grouped.into_iter().filter(|(_, items)| items.len() >= min_items) {
        if items.len() > cap {
            items.sort_by_key(|&i| (id_hash(by_account[i].event_id.as_bytes()), i));
            items.truncate(cap);
        }
        kept.extend(items);
    }
    kept.sort_unstable();
    kept.into_iter().map(|i| &by_account[i]).collect()
}

/// A hash of an id that no release of the standard library changes: FNV-1a,
/// 64 bits, then MurmurHash3's finalizer, so that ids differing in their last
/// characters (`ev-100`, `ev-101`, ...) scatter instead of sorting together.
fn id_hash(bytes: &[u8]) -> u64 {
    let mut h = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// `[from, to)` with its defaults: all stored traffic (events are refused
/// outside 1970 to 2200 at ingest).
pub(crate) fn stored_window(
    from: Option<time::OffsetDateTime>,
    to: Option<time::OffsetDateTime>,
) -> Result<(time::OffsetDateTime, time::OffsetDateTime), AppError> {
    let from = from.unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let to = to.unwrap_or(time::macros::datetime!(2201-01-01 0:00 UTC));
    if from >= to {
        return Err(AppError::Invalid("from: must be before to".into()));
    }
    Ok((from, to))
}

/// A suspect set by id: `NotFound`, or `Invalid` for a control set.
pub(crate) async fn suspect_set(conn: &mut sqlx::PgConnection, id: i64) -> Result<ReferenceSet, AppError> {
    let set =
        reference_sets::by_id(conn, id).await?.ok_or_else(|| AppError::NotFound(format!("reference set {id}")))?;
    if set.control {
        return Err(AppError::Invalid(format!(
            "reference set {} ({:?}) is a control set: name a suspect's outputs here",
            set.id, set.name
        )));
    }
    Ok(set)
}

#[cfg(test)]
mod panel_account_tests {
    use super::*;

    fn test(account: &str, items: usize, p_value: f64, auc: f64) -> AccountTest {
        AccountTest { account_id: account.into(), items, p_value, q_value: p_value, effect_size: 0.5, auc }
    }

    #[test]
    fn an_account_stands_out_only_by_its_weakest_comparison_and_only_against_every_control() {
        let rounds = vec![
            vec![test("a", 40, 0.0001, 0.9), test("b", 35, 0.0001, 0.8), test("c", 30, 0.0001, 0.9)],
            vec![test("a", 38, 0.0200, 0.7), test("b", 50, 0.0002, 0.85)],
            vec![test("a", 45, 0.0010, 0.8), test("b", 35, 0.0003, 0.9), test("c", 31, 0.0001, 0.9)],
        ];
        let accounts = panel_accounts(&rounds, &["x", "y", "z"], 3);
        let ids: Vec<&str> = accounts.iter().map(|a| a.account_id.as_str()).collect();
        assert_eq!(ids, ["b", "a"], "c lacks items with control y: not tested");
        let (b, a) = (&accounts[0], &accounts[1]);
        assert_eq!((b.p_value, b.items, b.auc, b.closest_control.as_str(), b.controls), (0.0003, 35, 0.8, "z", 3));
        assert_eq!((a.p_value, a.items, a.auc, a.closest_control.as_str(), a.controls), (0.02, 38, 0.7, "y", 3));
        assert_eq!(a.q_value, 0.02, "Benjamini-Hochberg: the largest p keeps its value");
        assert!((b.q_value - 0.0006).abs() < 1e-12, "{}", b.q_value);

        // As the audit combines them: every control an account was tested against, at least one.
        let accounts = panel_accounts(&rounds, &["x", "y", "z"], 1);
        let tested: Vec<(&str, usize, f64)> =
            accounts.iter().map(|a| (a.account_id.as_str(), a.controls, a.p_value)).collect();
        assert_eq!(tested, [("c", 2, 0.0001), ("b", 3, 0.0003), ("a", 3, 0.02)]);
        assert!(panel_accounts(&[Vec::new(), Vec::new()], &["x", "y"], 1).is_empty(), "nothing tested");
    }
}
