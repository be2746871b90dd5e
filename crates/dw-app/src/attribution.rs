//! Attribution: which accounts were served the completions a suspect's
//! outputs reproduce. One pass over a window's completions against an
//! inverted index of the suspects' outputs ([`ReferenceIndex`]); audits use
//! it for the `reference_match` signal, analysts for the ranked report.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dw_detect::reference::{AccountMatches, LexicalMatch, MatchThresholds, PromptAligner, ReferenceIndex};
use dw_store::embeddings::{self, Field};
use dw_store::reference_sets::{self, ReferenceSet};
use time::OffsetDateTime;

use crate::alignment::served_aligned;
use crate::{App, AppError};

/// Matched completions kept as evidence per account.
pub const EXAMPLES_PER_ACCOUNT: usize = 5;

/// Accounts listed in a report, most matched first.
pub const MAX_ACCOUNTS: usize = 200;

/// Cosine at which our completion and the suspect's output for the same
/// prompt count as a match: above the closest two models' independent
/// answers to one Arena-Hard prompt came (0.967; `distillwatch reference
/// calibrate`). Meaning alone rarely tells reuse from two good answers, so
/// only near-paraphrases pass.
pub const SEMANTIC_MATCH: f64 = 0.98;

/// Aligned pairs compared by meaning at most (their texts are embedded):
/// every item's first served event, then every item's second, and so on.
pub const MAX_ALIGNED_PAIRS: usize = 20_000;

/// Candidate pairs compared by meaning at most: completions that share a few
/// long runs with an output without matching it by wording
/// ([`ReferenceIndex::candidates`]), whatever prompt they answered.
pub const MAX_CANDIDATE_PAIRS: usize = 20_000;

/// One account's matches.
#[derive(Debug, Default)]
struct Tally {
    completions: usize,
    lexical: usize,
    semantic: usize,
    items: BTreeSet<i64>,
}

/// Our completion and the suspect's output for one prompt, by meaning.
#[derive(Debug)]
struct AlignedPair {
    account_id: String,
    event_id: String,
    item: i64,
    cosine: f64,
}

/// The semantic comparison of a set against what we served.
#[derive(Debug)]
struct SemanticMatches {
    /// Aligned pairs, then candidate pairs.
    pairs: Vec<AlignedPair>,
    /// Of `pairs`, those aligned by prompt.
    aligned: usize,
    /// Aligned pairs found before the cap.
    found: usize,
    seconds: f64,
}

/// One pass of a window's completions against suspects' outputs.
#[derive(Debug, Default)]
pub(crate) struct ReferenceScan {
    /// The sets' names.
    pub(crate) sets: Vec<String>,
    /// Items indexed.
    pub(crate) items: usize,
    /// Per account: completions read and matched.
    pub(crate) per_account: HashMap<String, AccountMatches>,
    /// Per account, its best matches (at most [`EXAMPLES_PER_ACCOUNT`]) as
    /// (event id, match).
    pub(crate) examples: HashMap<String, Vec<(String, LexicalMatch)>>,
    /// When asked for: candidates for the comparison by meaning, as
    /// (account id, event id, item), in the order read, at most
    /// [`MAX_CANDIDATE_PAIRS`].
    pub(crate) candidates: Vec<(String, String, i64)>,
    /// Candidate pairs found before the cap.
    pub(crate) candidates_found: usize,
}

/// Completions matched on the compute pool at a time.
const SCAN_BATCH: usize = 256;

/// A served completion with its matches and, when asked, the near misses
/// worth comparing by meaning.
type Matched = (dw_store::reference_sets::ServedCompletion, Vec<LexicalMatch>, Vec<LexicalMatch>);

/// Matches a batch of served completions against the index (compute pool).
fn match_batch(
    index: &ReferenceIndex,
    served: Vec<dw_store::reference_sets::ServedCompletion>,
    candidates: bool,
) -> Vec<Matched> {
    let thresholds = MatchThresholds::default();
    served
        .into_iter()
        .map(|served| {
            let found = index.matches(&served.completion, Some(&served.prompt), &thresholds);
            let near = if candidates {
                index.candidates(&served.completion, Some(&served.prompt), &thresholds)
            } else {
                Vec::new()
            };
            (served, found, near)
        })
        .collect()
}

impl ReferenceScan {
    /// Takes a matched batch in, in stream order.
    fn absorb(&mut self, batch: Vec<Matched>) {
        for (served, found, near) in batch {
            for near in near {
                self.candidates_found += 1;
                if self.candidates.len() < MAX_CANDIDATE_PAIRS {
                    self.candidates.push((served.account_id.clone(), served.event_id.clone(), near.item));
                }
            }
            self.per_account.entry(served.account_id.clone()).or_default().record(&served.event_id, &found);
            if let Some(best) = found.into_iter().next() {
                let kept = self.examples.entry(served.account_id).or_default();
                if kept.len() < EXAMPLES_PER_ACCOUNT {
                    kept.push((served.event_id, best));
                }
            }
        }
    }
}

impl App {
    /// Reads the selection's completions against the outputs of `set` (every
    /// suspect set when `None`); `None` when there is nothing to match against.
    /// With `candidates`, also keeps the pairs worth comparing by meaning.
    pub(crate) async fn reference_scan(
        &self,
        conn: &mut sqlx::PgConnection,
        selection: dw_store::activity::Selection<'_>,
        set: Option<&ReferenceSet>,
        candidates: bool,
    ) -> Result<Option<ReferenceScan>, AppError> {
        use futures_util::{StreamExt, TryStreamExt};
        let outputs = reference_sets::outputs(conn, set.map(|s| s.id)).await?;
        if outputs.is_empty() {
            return Ok(None);
        }
        let sets: Vec<String> =
            outputs.iter().map(|(set, _, _)| set.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        let compute = &self.compute;
        let index = compute
            .run("reference index", move || {
                ReferenceIndex::build(outputs.iter().map(|(_, id, output)| (*id, output.as_str())))
            })
            .await?;
        let index = std::sync::Arc::new(index);
        let mut scan = ReferenceScan { sets, items: index.len(), ..ReferenceScan::default() };
        // Completions stream in (async) and are matched on the compute pool in
        // batches, a few in flight; results are taken in stream order.
        let mut stream = std::pin::pin!(reference_sets::stream_completions(conn, selection));
        let in_flight = 2 * compute.threads() + 2;
        let mut pending = futures_util::stream::FuturesOrdered::new();
        let mut batch = Vec::with_capacity(SCAN_BATCH);
        loop {
            let next = stream.try_next().await?;
            let end = next.is_none();
            batch.extend(next);
            if batch.len() == SCAN_BATCH || (end && !batch.is_empty()) {
                let served = std::mem::replace(&mut batch, Vec::with_capacity(SCAN_BATCH));
                let index = index.clone();
                pending.push_back(compute.spawn("reference matching", move || match_batch(&index, served, candidates)));
                while pending.len() >= in_flight {
                    if let Some(done) = pending.next().await {
                        scan.absorb(done?);
                    }
                }
            }
            if end {
                break;
            }
        }
        while let Some(done) = pending.next().await {
            scan.absorb(done?);
        }
        Ok(Some(scan))
    }

    /// Which accounts (and clusters, as the latest audit linked them) were
    /// served the completions that the outputs of suspect set `set_id`
    /// reproduce, in `[from, to)` (all stored traffic by default): most
    /// matched outputs first, each with the share of the set it explains and
    /// its matched triples.
    ///
    /// With `embed`, completions we served for the prompts the set's items
    /// carry, and completions that share a few long runs with an output
    /// without matching it by wording (whatever they answered), are also
    /// compared by meaning: a pair within [`SEMANTIC_MATCH`] cosine counts as
    /// a match too (a reworded copy that long runs miss), and every matched
    /// triple gets its cosine.
    pub async fn attribution(
        &self,
        set_id: i64,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
        embed: Option<&dw_embed::EmbedHandle>,
    ) -> Result<AttributionReport, AppError> {
        let (from, to) = crate::reference::stored_window(from, to)?;
        let mut conn = self.pool.acquire().await?;
        let set = crate::reference::suspect_set(&mut conn, set_id).await?;
        let selection = dw_store::activity::Selection::window(from, to);
        let scan = self.reference_scan(&mut conn, selection, Some(&set), embed.is_some()).await?.unwrap_or_default();
        let completions_read = scan.per_account.values().map(|m| m.completions as u64).sum();
        let total_items = set.items.max(1) as f64;
        // Per account: lexical matches (from the scan) and semantic ones.
        let mut per_account: BTreeMap<String, Tally> = BTreeMap::new();
        for (account, m) in scan.per_account.iter().filter(|(_, m)| m.matched > 0) {
            let tally = per_account.entry(account.clone()).or_default();
            tally.completions = m.completions;
            tally.lexical = m.matched;
            tally.items.extend(m.items.iter().copied());
        }
        let semantic = match embed {
            Some(handle) => Some(self.semantic_matches(&mut conn, handle, &set, from, to, &scan.candidates).await?),
            None => None,
        };
        let mut cosines: HashMap<(String, i64), f64> = HashMap::new();
        if let Some(found) = &semantic {
            for pair in &found.pairs {
                cosines.insert((pair.event_id.clone(), pair.item), pair.cosine);
                if pair.cosine < SEMANTIC_MATCH {
                    continue;
                }
                let tally = per_account.entry(pair.account_id.clone()).or_default();
                if tally.completions == 0 {
                    tally.completions = scan.per_account.get(&pair.account_id).map_or(0, |m| m.completions);
                }
                tally.semantic += 1;
                tally.items.insert(pair.item);
            }
        }
        let mut matched: Vec<(&String, &Tally)> = per_account.iter().collect();
        matched.sort_by(|a, b| {
            b.1.items
                .len()
                .cmp(&a.1.items.len())
                .then((b.1.lexical + b.1.semantic).cmp(&(a.1.lexical + a.1.semantic)))
                .then(a.0.cmp(b.0))
        });
        let all_items: BTreeSet<i64> = matched.iter().flat_map(|(_, m)| m.items.iter().copied()).collect();
        let accounts_matched = matched.len();
        matched.truncate(MAX_ACCOUNTS);

        // Texts for the evidence, in two queries.
        let keys: Vec<(String, String)> = matched
            .iter()
            .flat_map(|(a, _)| scan.examples.get(*a).into_iter().flatten().map(|(e, _)| ((*a).clone(), e.clone())))
            .collect();
        let served = reference_sets::served_texts(&mut conn, &keys).await?;
        let item_ids: Vec<i64> = matched
            .iter()
            .flat_map(|(a, _)| scan.examples.get(*a).into_iter().flatten().map(|(_, m)| m.item))
            .collect();
        let items = reference_sets::item_texts(&mut conn, &item_ids).await?;
        let latest = dw_store::account_views::latest_audit(&mut conn).await?;
        let names: Vec<String> = matched.iter().map(|(a, _)| (*a).clone()).collect();
        let cluster_of: HashMap<String, String> = match latest {
            Some(audit) => reference_sets::clusters_of(&mut conn, audit, &names).await?.into_iter().collect(),
            None => HashMap::new(),
        };

        let accounts: Vec<AccountAttribution> = matched
            .iter()
            .map(|(account, m)| AccountAttribution {
                account_id: (*account).clone(),
                completions: m.completions,
                matched_completions: m.lexical,
                semantic_matches: m.semantic,
                matched_items: m.items.len(),
                share_of_set: m.items.len() as f64 / total_items,
                cluster_id: cluster_of.get(*account).cloned(),
                matches: scan
                    .examples
                    .get(*account)
                    .into_iter()
                    .flatten()
                    .filter_map(|(event, found)| {
                        let ours = served.get(&((*account).clone(), event.clone()))?;
                        let theirs = items.get(&found.item)?;
                        Some(MatchedTriple {
                            event_id: event.clone(),
                            prompt: ours.prompt.clone(),
                            completion: ours.completion.clone(),
                            item: found.item,
                            suspect_prompt: theirs.prompt.clone(),
                            suspect_output: theirs.output.clone(),
                            shared_runs: found.shared,
                            reference_containment: found.reference_containment,
                            completion_containment: found.completion_containment,
                            embedding_cosine: cosines.get(&(event.clone(), found.item)).copied(),
                        })
                    })
                    .collect(),
            })
            .collect();
        let mut clusters: BTreeMap<String, (Vec<String>, BTreeSet<i64>)> = BTreeMap::new();
        for (account, m) in &matched {
            if let Some(cluster) = cluster_of.get(*account) {
                let entry = clusters.entry(cluster.clone()).or_default();
                entry.0.push((*account).clone());
                entry.1.extend(m.items.iter().copied());
            }
        }
        let mut clusters: Vec<ClusterAttribution> = clusters
            .into_iter()
            .map(|(cluster_id, (accounts, items))| ClusterAttribution {
                cluster_id,
                accounts,
                matched_items: items.len(),
                share_of_set: items.len() as f64 / total_items,
            })
            .collect();
        clusters.sort_by(|a, b| b.matched_items.cmp(&a.matched_items).then(a.cluster_id.cmp(&b.cluster_id)));
        Ok(AttributionReport {
            share_explained: all_items.len() as f64 / total_items,
            items_matched: all_items.len(),
            set,
            from,
            to,
            thresholds: MatchThresholds::default(),
            semantic_match: SEMANTIC_MATCH,
            embedding_model: embed.map(|h| h.model_id().to_owned()),
            aligned_pairs: semantic.as_ref().map(|s| s.aligned),
            aligned_pairs_found: semantic.as_ref().map(|s| s.found),
            candidate_pairs: semantic.as_ref().map(|s| s.pairs.len() - s.aligned),
            candidate_pairs_found: semantic.as_ref().map(|_| scan.candidates_found),
            embedding_seconds: semantic.as_ref().map(|s| s.seconds),
            completions_read,
            accounts_matched,
            accounts,
            clusters,
        })
    }
}

impl App {
    /// Embeds our completions for the prompts the set's items carry (served
    /// exactly or near-identically: [`crate::alignment`]) and the items'
    /// outputs, and the lexical scan's `candidates`, and measures each pair's
    /// cosine: aligned pairs first, then the candidates not aligned already.
    async fn semantic_matches(
        &self,
        conn: &mut sqlx::PgConnection,
        handle: &dw_embed::EmbedHandle,
        set: &ReferenceSet,
        from: OffsetDateTime,
        to: OffsetDateTime,
        candidates: &[(String, String, i64)],
    ) -> Result<SemanticMatches, AppError> {
        let started = std::time::Instant::now();
        let items = reference_sets::prompted_items(conn, set.id).await?;
        let aligner = PromptAligner::new(items.iter().map(|(_, prompt, _)| prompt.as_str()));
        // Every item of an aligned prompt (a set may answer one prompt more
        // than once). Under the cap, every item's first event (in time
        // order) comes before any item's second, and so on: a prompt served
        // thousands of times cannot crowd out the rest of the set.
        let mut same_prompt: HashMap<usize, Vec<usize>> = HashMap::new();
        for item in 0..items.len() {
            same_prompt.entry(aligner.first_of(item)).or_default().push(item);
        }
        let aligned = served_aligned(conn, &aligner, from, to, Default::default()).await?;
        let mut seen_per_item: HashMap<usize, usize> = HashMap::new();
        let mut ranked: Vec<(usize, usize, &crate::alignment::ServedAlignment)> = aligned
            .iter()
            .flat_map(|s| same_prompt.get(&s.alignment.index).into_iter().flatten().map(move |&item| (item, s)))
            .map(|(item, s)| {
                let rank = seen_per_item.entry(item).or_default();
                *rank += 1;
                (*rank, item, s)
            })
            .collect();
        ranked.sort_by_key(|(rank, item, _)| (*rank, *item));
        let mut by_prompt: Vec<(usize, &crate::alignment::ServedAlignment)> =
            ranked.into_iter().map(|(_, item, s)| (item, s)).collect();
        let found = by_prompt.len();
        by_prompt.truncate(MAX_ALIGNED_PAIRS);
        // (account, event, item id): the aligned pairs, then the candidates.
        let mut wanted: Vec<(String, String, i64)> =
            by_prompt.iter().map(|(item, s)| (s.account_id.clone(), s.event_id.clone(), items[*item].0)).collect();
        let aligned_pairs = wanted.len();
        let seen: std::collections::HashSet<(String, i64)> =
            wanted.iter().map(|(_, event, item)| (event.clone(), *item)).collect();
        wanted.extend(candidates.iter().filter(|(_, event, item)| !seen.contains(&(event.clone(), *item))).cloned());

        let keys: Vec<(String, String)> = wanted.iter().map(|(a, e, _)| (a.clone(), e.clone())).collect();
        let completions = reference_sets::served_texts(conn, &keys).await?;
        let mut outputs: HashMap<i64, String> = items.iter().map(|(id, _, output)| (*id, output.clone())).collect();
        let missing: Vec<i64> = wanted.iter().map(|(_, _, item)| *item).filter(|i| !outputs.contains_key(i)).collect();
        outputs
            .extend(reference_sets::item_texts(conn, &missing).await?.into_iter().map(|(id, item)| (id, item.output)));

        // Ours read from their stored vectors (an audit's sample or an earlier run's), the rest embedded once
        // per distinct text and stored for the next run; the items' outputs read from their stored vectors
        // (embedded and stored when missing).
        let model_id = handle.model_id();
        let stored = embeddings::vectors_of(conn, &keys, Field::Completion, model_id).await?;
        let mut texts: Vec<String> = Vec::new();
        let mut position: HashMap<String, usize> = HashMap::new();
        let mut served_by: Vec<Vec<(String, String)>> = Vec::new();
        let mut slots: Vec<(usize, Ours)> = Vec::with_capacity(wanted.len());
        let mut theirs: Vec<(i64, &str)> = Vec::with_capacity(wanted.len());
        let mut aligned_kept = 0;
        for (n, (account, event, item)) in wanted.iter().enumerate() {
            let (Some(ours), Some(output)) = (completions.get(&(account.clone(), event.clone())), outputs.get(item))
            else {
                continue;
            };
            aligned_kept += usize::from(n < aligned_pairs);
            let key = (account.clone(), event.clone());
            let slot = if stored.contains_key(&key) {
                Ours::Stored(key)
            } else {
                let at = *position.entry(ours.completion.clone()).or_insert_with(|| {
                    texts.push(ours.completion.clone());
                    served_by.push(Vec::new());
                    texts.len() - 1
                });
                if !served_by[at].contains(&key) {
                    served_by[at].push(key);
                }
                Ours::Embedded(at)
            };
            slots.push((n, slot));
            theirs.push((*item, output.as_str()));
        }
        let mut vectors = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(512) {
            vectors.extend(handle.embed_waiting(chunk.to_vec()).await?);
        }
        let dtype = self.content.as_ref().map_or(embeddings::VectorDtype::F32, |c| c.dtype);
        let fresh: Vec<((String, String), &Vec<f32>)> = served_by
            .iter()
            .zip(&vectors)
            .flat_map(|(keys, vector)| keys.iter().map(move |key| (key.clone(), vector)))
            .collect();
        for chunk in fresh.chunks(512) {
            let keys: Vec<(String, String)> = chunk.iter().map(|(key, _)| key.clone()).collect();
            let values: Vec<Vec<f32>> = chunk.iter().map(|(_, vector)| (*vector).clone()).collect();
            embeddings::store_for_events(conn, &keys, &values, Field::Completion, model_id, dtype).await?;
        }
        // An output that is word for word one of our completions (a suspect
        // serving ours) has the vector just computed.
        let known = |text: &str| position.get(text).map(|&at| vectors[at].clone());
        let their_vectors = crate::reference::output_vectors(conn, handle, &theirs, known).await?;
        let pairs = slots
            .into_iter()
            .map(|(n, slot)| {
                let (account_id, event_id, item) = wanted[n].clone();
                let ours = match &slot {
                    Ours::Stored(key) => &stored[key],
                    Ours::Embedded(at) => &vectors[*at],
                };
                let cosine = dw_detect::reference::cosine(ours, &their_vectors[&item]);
                AlignedPair { account_id, event_id, item, cosine }
            })
            .collect();
        Ok(SemanticMatches { pairs, aligned: aligned_kept, found, seconds: started.elapsed().as_secs_f64() })
    }
}

/// Where our completion's vector comes from.
enum Ours {
    /// Stored, for this `(account_id, event_id)`.
    Stored((String, String)),
    /// Embedded now: the index of its text.
    Embedded(usize),
}

/// The attribution of one suspect set.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttributionReport {
    /// The set.
    pub set: ReferenceSet,
    /// The window read.
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    /// Its end (exclusive).
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
    /// What a lexical match had to reach.
    pub thresholds: MatchThresholds,
    /// The cosine at which a completion and the suspect's output for the
    /// same prompt count as a match ([`SEMANTIC_MATCH`]).
    pub semantic_match: f64,
    /// The embedding model of the semantic comparison, when one ran.
    pub embedding_model: Option<String>,
    /// Completions we served for prompts the set's items carry, compared by
    /// meaning (when an embedding model ran).
    pub aligned_pairs: Option<usize>,
    /// Such completions found; more than `aligned_pairs` when the
    /// comparison stopped at [`MAX_ALIGNED_PAIRS`].
    pub aligned_pairs_found: Option<usize>,
    /// Completions sharing a few long runs with one of the set's outputs
    /// without matching it by wording, whatever prompt they answered,
    /// compared by meaning with that output (pairs not aligned already).
    pub candidate_pairs: Option<usize>,
    /// Candidate pairs the scan found, aligned ones included (compared once,
    /// as aligned pairs); it keeps at most [`MAX_CANDIDATE_PAIRS`].
    pub candidate_pairs_found: Option<usize>,
    /// Time spent reading, embedding and comparing both kinds of pairs, in
    /// seconds.
    pub embedding_seconds: Option<f64>,
    /// Completions read.
    pub completions_read: u64,
    /// The set's items reproducing a completion we served.
    pub items_matched: usize,
    /// Their share of the set.
    pub share_explained: f64,
    /// Accounts with a matched completion.
    pub accounts_matched: usize,
    /// The accounts, most matched items first (at most [`MAX_ACCOUNTS`]).
    pub accounts: Vec<AccountAttribution>,
    /// Their clusters in the latest audit, most matched items first.
    pub clusters: Vec<ClusterAttribution>,
}

/// One account's share of a suspect set.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountAttribution {
    /// The account.
    pub account_id: String,
    /// Completions read.
    pub completions: usize,
    /// Those reproduced in the set (long shared runs).
    pub matched_completions: usize,
    /// Completions whose prompt an item carries and whose answer it matches
    /// by meaning (cosine at least [`SEMANTIC_MATCH`]).
    pub semantic_matches: usize,
    /// Distinct items of the set that reproduce them.
    pub matched_items: usize,
    /// Those items' share of the set.
    pub share_of_set: f64,
    /// Its cluster in the latest audit.
    pub cluster_id: Option<String>,
    /// Its best matches (at most [`EXAMPLES_PER_ACCOUNT`]).
    pub matches: Vec<MatchedTriple>,
}

/// Our prompt and completion, the suspect's output that reproduces it, and
/// how much they share.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatchedTriple {
    /// Our event.
    pub event_id: String,
    /// Our prompt.
    pub prompt: String,
    /// Our completion.
    pub completion: String,
    /// The reference item.
    pub item: i64,
    /// The prompt the suspect was given, when known.
    pub suspect_prompt: Option<String>,
    /// The suspect's output.
    pub suspect_output: String,
    /// Eight-word runs shared (runs quoted from our prompt left out).
    pub shared_runs: usize,
    /// The share of the suspect's output found in ours.
    pub reference_containment: f64,
    /// The share of ours found in the suspect's output.
    pub completion_containment: f64,
    /// The two texts' embedding cosine, when compared by meaning.
    pub embedding_cosine: Option<f64>,
}

/// A cluster's share of a suspect set.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterAttribution {
    /// The cluster.
    pub cluster_id: String,
    /// Its accounts with a match.
    pub accounts: Vec<String>,
    /// Distinct items they explain together.
    pub matched_items: usize,
    /// Those items' share of the set.
    pub share_of_set: f64,
}
