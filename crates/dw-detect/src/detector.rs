//! The signal detector over a window's population: percentiles need every
//! account's signals, so accounts are first reduced to their signals (while
//! the audit streams them) and then scored together.

use serde::Serialize;

use dw_domain::Contribution;

use crate::DetectConfig;
use crate::linking::{self, Footprint};
use crate::scoring::{self, ScoredSignal, Weights};
use crate::signals::Signal;
use crate::templates::DominantTemplate;

/// One account reduced to its signals.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountSignals {
    /// The account.
    pub account_id: String,
    /// Its requests in the window.
    pub requests: usize,
    /// Its signals, in the fixed order of [`crate::signals::account_signals`].
    pub signals: Vec<Signal>,
    /// Its infrastructure and software traces, for linking.
    pub footprint: Footprint,
    /// What the provider told us of it, when imported.
    pub attributes: Option<dw_domain::AccountAttributes>,
    /// For a platform account (one that passes its own end users along), its
    /// busiest end users, each reduced to its own signals.
    pub end_users: Vec<PartSignals>,
    /// Its request streams (requests sharing one system prompt and one set
    /// of parameters), when it has several, each reduced to its own signals.
    pub streams: Vec<PartSignals>,
    /// Its activity at a glance, for the evidence bundle, when asked for.
    pub evidence: Option<crate::evidence::Evidence>,
    /// Its dominant templates, shown with the other accounts they dominate.
    pub templates: Vec<crate::templates::DominantTemplate>,
}

/// A part of an account's traffic (an end user of a platform account, or a
/// request stream), reduced to its signals.
#[derive(Debug, Clone, PartialEq)]
pub struct PartSignals {
    /// The end user's id as the platform sent it, or the stream's signature.
    pub part: String,
    /// Its requests in the window.
    pub requests: usize,
    /// The share of its requests sent more than [`DETACHED_WINDOW_MS`] from
    /// any of the account's other requests.
    pub detached_share: f64,
    /// Its signals.
    pub signals: Vec<Signal>,
}

/// End users with fewer requests than this are not scored on their own: a
/// platform's typical user sends a handful.
pub const MIN_END_USER_REQUESTS: usize = 20;

/// Request streams with fewer requests than this are not scored on their own
/// (their share signals need as many: [`crate::signals::MIN_PART_REQUESTS_FOR_SHARE`]).
pub const MIN_STREAM_REQUESTS: usize = crate::signals::MIN_PART_REQUESTS_FOR_SHARE;

/// A stream that carries more than this share of the account's requests is
/// the account itself, already scored.
pub const MAX_STREAM_SHARE: f64 = 0.9;

/// A request is detached from the rest of its account when none of the
/// account's other requests (outside its part) came within this long of it.
pub const DETACHED_WINDOW_MS: i64 = 30 * 60 * 1000;

/// A stream stands apart from the rest of its account when at least this
/// share of its requests is detached, or when its own evidence outweighs the
/// account's. One that does not is the account's own behaviour seen through
/// a smaller window: it may raise the account to `medium` (worth a look, and
/// counted when a cluster's members corroborate each other), never to a flag
/// on its own.
pub const STREAM_APART_DETACHED_SHARE: f64 = 0.5;

impl AccountSignals {
    /// Replaces the account's signal of the same name: one computed apart
    /// from its requests (`reference_match`, from its completions against the
    /// suspects' outputs; `reference_test`, from the distillation test on the
    /// suspects' prompts it was served).
    pub fn set_signal(&mut self, signal: crate::signals::Signal) {
        if let Some(slot) = self.signals.iter_mut().find(|s| s.name == signal.name) {
            *slot = signal;
        }
    }

    /// Reduces an account's requests (in time order) to what scoring and
    /// linking need, and to its evidence when `with_evidence` (an analyst's
    /// audit; evaluations and scores files need none). `topics` are the
    /// window's ([`crate::topics::Topics::fit`]), when its prompts were embedded.
    pub fn from_requests(
        requests: &[dw_domain::RequestRecord],
        attributes: Option<dw_domain::AccountAttributes>,
        topics: Option<&crate::topics::Topics>,
        with_evidence: bool,
    ) -> Option<Self> {
        let first = requests.first()?;
        let structure = crate::signals::PromptStructure::of(requests);
        Some(Self {
            account_id: first.account_id.clone(),
            requests: requests.len(),
            signals: crate::signals::account_signals(
                requests,
                &structure,
                topics,
                attributes.as_ref(),
                crate::signals::MIN_REQUESTS_FOR_SHARE,
            ),
            footprint: Footprint::of(requests, &linking::wrappers(&structure.frames)),
            attributes,
            end_users: part_signals(requests, &structure, topics, |r| r.end_user.clone(), PartLimits::END_USERS),
            streams: part_signals(requests, &structure, topics, |r| Some(signature(r)), PartLimits::STREAMS),
            evidence: with_evidence.then(|| crate::evidence::account_evidence(requests, &structure)),
            templates: crate::templates::dominant_templates(&structure.templates, requests.len()),
        })
    }
}

/// Which parts of an account are scored on their own.
#[derive(Debug, Clone, Copy)]
struct PartLimits {
    /// Fewer requests than this are not scored.
    min_requests: usize,
    /// A part with more than this share of the account's requests is the account.
    max_share: f64,
    /// A part whose requests carry more distinct end users than this is
    /// skipped: a reseller's backend sends all its users' requests the same
    /// way, so such a stream is the platform's, not a script's (its end
    /// users are scored on their own).
    max_end_users: usize,
    /// Fewer requests than this leave a part's share signals uncomputed.
    min_share: usize,
}

impl PartLimits {
    const END_USERS: Self = Self {
        min_requests: MIN_END_USER_REQUESTS,
        max_share: 1.0,
        max_end_users: 1,
        min_share: crate::signals::MIN_REQUESTS_FOR_SHARE,
    };
    const STREAMS: Self = Self {
        min_requests: MIN_STREAM_REQUESTS,
        max_share: MAX_STREAM_SHARE,
        max_end_users: 1,
        min_share: crate::signals::MIN_PART_REQUESTS_FOR_SHARE,
    };
}

/// The parts of an account's traffic by `key` within `limits`, reduced to
/// their own signals, when the account has two parts or more.
///
/// A reseller or app that passes its end users along can hide one extractor
/// among many people; a script can share a key with a person. Parts are only
/// ever used to raise the account's risk: end-user ids and parameters are
/// the sender's to choose, so they never lower it.
fn part_signals(
    requests: &[dw_domain::RequestRecord],
    structure: &crate::signals::PromptStructure,
    topics: Option<&crate::topics::Topics>,
    key: impl Fn(&dw_domain::RequestRecord) -> Option<String>,
    limits: PartLimits,
) -> Vec<PartSignals> {
    let mut parts: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    let keys: Vec<Option<String>> = requests.iter().map(&key).collect();
    for (i, part) in keys.iter().enumerate() {
        if let Some(part) = part {
            parts.entry(part.clone()).or_default().push(i);
        }
    }
    if parts.len() < 2 {
        return Vec::new();
    }
    let detached = detached(requests, &keys);
    let most = (limits.max_share * requests.len() as f64).floor() as usize;
    let end_users = |own: &[usize]| {
        own.iter().filter_map(|i| requests[*i].end_user.as_deref()).collect::<std::collections::BTreeSet<_>>().len()
    };
    parts
        .into_iter()
        .filter(|(_, own)| own.len() >= limits.min_requests && own.len() <= most)
        .filter(|(_, own)| end_users(own) <= limits.max_end_users)
        .map(|(part, own)| {
            let detached_share = own.iter().filter(|i| detached[**i]).count() as f64 / own.len() as f64;
            let own_requests: Vec<dw_domain::RequestRecord> = own.iter().map(|i| requests[*i].clone()).collect();
            let structure = structure.of_part(&own, &own_requests);
            PartSignals {
                part,
                requests: own.len(),
                detached_share,
                signals: crate::signals::account_signals(&own_requests, &structure, topics, None, limits.min_share),
            }
        })
        .collect()
}

/// Per request (in time order), whether no request of another part (or of
/// none) came within [`DETACHED_WINDOW_MS`] of it. The nearest earlier
/// request of another part than request i's is request i-1 when their parts
/// differ, and otherwise request i-1's own nearest: one pass each way.
fn detached(requests: &[dw_domain::RequestRecord], keys: &[Option<String>]) -> Vec<bool> {
    let n = requests.len();
    let mut near = vec![false; n];
    let mut before: Vec<Option<usize>> = vec![None; n];
    for i in 1..n {
        before[i] = if keys[i - 1] != keys[i] { Some(i - 1) } else { before[i - 1] };
        if let Some(k) = before[i] {
            near[i] |= requests[i].ts_ms - requests[k].ts_ms < DETACHED_WINDOW_MS;
        }
    }
    let mut after: Vec<Option<usize>> = vec![None; n];
    for i in (0..n.saturating_sub(1)).rev() {
        after[i] = if keys[i + 1] != keys[i] { Some(i + 1) } else { after[i + 1] };
        if let Some(k) = after[i] {
            near[i] |= requests[k].ts_ms - requests[i].ts_ms < DETACHED_WINDOW_MS;
        }
    }
    near.iter().map(|n| !n).collect()
}

/// A request's signature: its system prompt and parameters as sent. A script
/// sends every request with the same ones; a person's client and a
/// developer's tests vary them.
fn signature(r: &dw_domain::RequestRecord) -> String {
    let system: String = r.system_prompt.as_deref().unwrap_or("").chars().take(60).collect();
    let show = |v: Option<String>| v.unwrap_or_else(|| "unset".into());
    format!(
        "system prompt {system:?}, max_tokens {}, temperature {}, n {}, logprobs {}",
        show(r.max_tokens.map(|v| v.to_string())),
        show(r.temperature.map(|v| v.to_string())),
        show(r.n.map(|v| v.to_string())),
        show(r.logprobs.map(|v| v.to_string()))
    )
}

/// The verdict on one account with everything behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The score row.
    pub score: dw_domain::AccountScore,
    /// Requests in the window.
    pub requests: usize,
    /// Every signal with its percentile, score, weight and contribution.
    pub signals: Vec<ScoredSignal>,
    /// Why the account is linked to its cluster, when it is.
    pub link_reason: Option<String>,
    /// The riskiest of a platform account's end users, when it was scored.
    pub riskiest_end_user: Option<PartVerdict>,
    /// The riskiest of the account's request streams, when it has several.
    pub riskiest_stream: Option<PartVerdict>,
    /// Timeline, parameters, sources and sample prompts, when asked for.
    pub evidence: Option<crate::evidence::Evidence>,
    /// What the provider told us of the account, when imported.
    pub attributes: Option<dw_domain::AccountAttributes>,
    /// The decisive signal that flags the account on its own, in words, when
    /// one reached its threshold (`[detect.flags] decisive`).
    pub decisive: Option<String>,
    /// Its dominant templates that dominate other accounts of the window too.
    pub shared_templates: Vec<crate::templates::SharedTemplate>,
    /// Its cluster read as one actor, when the audit read it
    /// ([`crate::operator`]).
    pub operator: Option<crate::operator::OperatorVerdict>,
    /// Whether an edge of its own says one operator runs it and the rest of
    /// its cluster ([`crate::linking::Edge::operation`]): only such members
    /// are read, and raised, as one actor.
    #[serde(skip)]
    pub operated: bool,
    /// The edges that join its cluster, strongest first, at most
    /// [`MAX_STORED_EDGES`] (one list shared by every member), when it is
    /// linked.
    #[serde(skip)]
    pub cluster_edges: Option<std::sync::Arc<Vec<linking::NamedEdge>>>,
}

/// The edges of a cluster kept with its verdicts (the strongest first).
pub const MAX_STORED_EDGES: usize = 50;

/// A part of an account's traffic (an end user, a request stream), scored
/// on its own.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PartVerdict {
    /// The end user's id, or the stream's signature.
    pub part: String,
    /// Its requests.
    pub requests: usize,
    /// The share of its requests sent more than 30 minutes from any of the
    /// account's other requests.
    pub detached_share: f64,
    /// Its risk on its own signals.
    pub risk: f64,
    /// For a request stream: whether it stands apart from the rest of its
    /// account ([`STREAM_APART_DETACHED_SHARE`]); when it does not, its risk
    /// is held at `medium`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stands_apart: Option<bool>,
    /// Its largest contributions.
    pub top_signals: Vec<Contribution>,
    /// Each signal's transformed score (0 when not computed), for fitting.
    #[serde(skip)]
    pub scores: Vec<(&'static str, f64)>,
}

/// Which model turns a part's weighted sum into risk.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PartModel {
    /// The account model: an end user is scored as an account would be.
    Account,
    /// The request-stream model ([`Weights::stream_risk`]), beside the
    /// weighted sum of the whole account the stream belongs to.
    Stream {
        /// The whole account's weighted sum.
        account_sum: f64,
    },
}

/// What links an account to others, taken from its signals before scoring.
struct Keys {
    id: String,
    footprint: Footprint,
    /// Its payment fingerprint.
    payment: Option<String>,
    /// Its e-mail domain fingerprint with its opening time.
    registration: Option<(String, i64)>,
    /// Its dominant templates (evidence of what it shares, not an edge).
    templates: Vec<DominantTemplate>,
}

/// Scores a population, keeping the input order: each account on its own
/// signals, then each linked cluster on its members' evidence, a member's
/// risk rising to its cluster's when that is higher.
pub fn score_population(mut accounts: Vec<AccountSignals>, config: &DetectConfig, weights: &Weights) -> Vec<Verdict> {
    let width = accounts.first().map_or(0, |a| a.signals.len());
    let columns: Vec<Vec<Option<f64>>> = (0..width)
        .map(|i| {
            scoring::percentiles(&accounts.iter().map(|a| a.signals.get(i).and_then(|s| s.value)).collect::<Vec<_>>())
        })
        .collect();
    let keys: Vec<Keys> = accounts
        .iter_mut()
        .map(|a| {
            let attributes = a.attributes.as_ref();
            Keys {
                id: a.account_id.clone(),
                footprint: std::mem::take(&mut a.footprint),
                payment: attributes.and_then(|x| x.payment_fingerprint.clone()),
                registration: attributes.and_then(|x| Some((x.email_domain_fingerprint.clone()?, x.created_at_ms?))),
                templates: std::mem::take(&mut a.templates),
            }
        })
        .collect();
    let mut shared = crate::templates::shared_templates(
        &keys.iter().map(|k| (k.id.as_str(), k.templates.as_slice())).collect::<Vec<_>>(),
    )
    .into_iter();
    let mut verdicts: Vec<Verdict> = accounts
        .into_iter()
        .enumerate()
        .map(|(row, account)| {
            let with_percentiles: Vec<(Signal, Option<f64>)> = account
                .signals
                .into_iter()
                .enumerate()
                .map(|(i, s)| (s, columns.get(i).and_then(|c| c[row])))
                .collect();
            let (mut score, signals) =
                scoring::score_account(&account.account_id, with_percentiles, weights, &config.levels, &config.flags);
            // A decisive signal flags whatever the risk; the allowlist still wins.
            let decisive = config.flags.decisive_signal(signals.iter().map(|s| &s.signal));
            score.flagged |= decisive.is_some() && !config.flags.allowlist.contains(&score.account_id);
            let account_sum = weighted_sum(&signals);
            let riskiest_end_user = riskiest(account.end_users, config, weights, PartModel::Account);
            if let Some(user) = riskiest_end_user.as_ref().filter(|u| u.risk > score.risk) {
                raise(&mut score, user.risk, "riskiest_end_user", config);
            }
            let riskiest_stream = riskiest(account.streams, config, weights, PartModel::Stream { account_sum });
            if let Some(stream) = riskiest_stream.as_ref().filter(|s| s.risk > score.risk) {
                raise(&mut score, stream.risk, "riskiest_request_stream", config);
            }
            Verdict {
                score,
                requests: account.requests,
                signals,
                link_reason: None,
                riskiest_end_user,
                riskiest_stream,
                evidence: account.evidence,
                attributes: account.attributes,
                decisive,
                shared_templates: shared.next().unwrap_or_default(),
                operator: None,
                operated: false,
                cluster_edges: None,
            }
        })
        .collect();

    let linked: Vec<(&str, linking::LinkKeys<'_>)> = keys
        .iter()
        .map(|k| {
            let keys = linking::LinkKeys {
                footprint: Some(&k.footprint),
                payment: k.payment.as_deref(),
                registration: k.registration.as_ref().map(|(domain, opened)| (domain.as_str(), *opened)),
            };
            (k.id.as_str(), keys)
        })
        .collect();
    for cluster in linking::clusters(&linked) {
        let edges: Vec<linking::NamedEdge> = cluster
            .edges
            .iter()
            .take(MAX_STORED_EDGES)
            .map(|e| linking::NamedEdge {
                members: e.members.iter().map(|m| verdicts[*m].score.account_id.clone()).collect(),
                words: e.words.clone(),
                operation: e.operation,
            })
            .collect();
        let edges = std::sync::Arc::new(edges);
        let mean_evidence = cluster.members.iter().map(|m| weighted_sum(&verdicts[*m].signals)).sum::<f64>()
            / cluster.members.len() as f64;
        let mut cluster_risk = weights.cluster_risk(mean_evidence, cluster.members.len());
        let own: Vec<f64> = cluster.members.iter().map(|m| verdicts[*m].score.risk).collect();
        let mut reason = cluster.reason.clone();
        if corroborated(&own, &config.levels) {
            cluster_risk = cluster_risk.max(config.levels.high);
            reason.push_str(&format!(
                "; each of the {} accounts is at medium risk or above on its own evidence (corroborated)",
                own.len()
            ));
        }
        for member in &cluster.members {
            let own = cluster.member_reason(*member).map(|own| format!("; this account: {own}")).unwrap_or_default();
            let verdict = &mut verdicts[*member];
            verdict.score.cluster_id = Some(cluster.id.clone());
            verdict.operated = cluster.operated(*member);
            verdict.cluster_edges = Some(edges.clone());
            verdict.link_reason = Some(format!("{reason}{own}"));
            if cluster_risk > verdict.score.risk {
                raise(&mut verdict.score, cluster_risk, "linked_cluster", config);
            }
        }
    }
    verdicts
}

/// Members a cluster needs for [`corroborated`].
pub const CORROBORATION_MIN_MEMBERS: usize = 3;

/// Whether a linked cluster's members corroborate each other: at least
/// [`CORROBORATION_MIN_MEMBERS`] of them, every one at medium risk or above
/// on its own evidence (its signals, end users and request streams, before
/// the cluster). Accounts tied by a payment instrument, a registration burst
/// or a server that each look half-suspicious on their own are one operator's
/// campaign kept under the flag line, and the cluster rises to `high`;
/// households, teams and companies sharing a card have at most one such
/// member (docs/signals.md).
pub fn corroborated(own_risks: &[f64], levels: &crate::levels::LevelThresholds) -> bool {
    own_risks.len() >= CORROBORATION_MIN_MEMBERS && own_risks.iter().all(|r| *r >= levels.medium)
}

/// Raises a score to `risk` for `reason`, which heads its contributions.
pub(crate) fn raise(score: &mut dw_domain::AccountScore, risk: f64, reason: &str, config: &DetectConfig) {
    let raised_by = risk - score.risk;
    score.risk = risk;
    score.top_signals.insert(0, Contribution { signal: reason.into(), contribution: raised_by });
    score.top_signals.truncate(5);
    score.level = config.levels.level(risk);
    // Raising never unflags: a decisive signal's flag stands.
    score.flagged = score.flagged || config.flags.flags(&score.account_id, score.level);
}

fn riskiest(
    parts: Vec<PartSignals>,
    config: &DetectConfig,
    weights: &Weights,
    model: PartModel,
) -> Option<PartVerdict> {
    parts
        .into_iter()
        .map(|part| {
            let signals = part.signals.into_iter().map(|s| (s, None)).collect();
            let (mut score, scored) =
                scoring::score_account(&part.part, signals, weights, &config.levels, &config.flags);
            let mut stands_apart = None;
            let mut raw_risk = score.risk;
            if let PartModel::Stream { account_sum } = model {
                // Same weighted sum, the stream model's mapping; the signals keep their shares of the
                // evidence, and the stream's detachment from the rest of the account takes its own.
                let sum = weighted_sum(&scored);
                let risk = weights.stream_risk(sum, part.detached_share);
                let evidence = weights.stream_evidence_weight * sum;
                let detachment = weights.stream_detached_weight * part.detached_share;
                let total = evidence + detachment;
                let (of_signals, of_detachment) =
                    if total > 0.0 { (risk * evidence / total, risk * detachment / total) } else { (0.0, 0.0) };
                for c in &mut score.top_signals {
                    c.contribution *= if score.risk > 0.0 { of_signals / score.risk } else { 0.0 };
                }
                if of_detachment > 0.0 {
                    score
                        .top_signals
                        .push(Contribution { signal: "detached_share".into(), contribution: of_detachment });
                    score
                        .top_signals
                        .sort_by(|a, b| b.contribution.total_cmp(&a.contribution).then(a.signal.cmp(&b.signal)));
                }
                score.risk = risk;
                raw_risk = risk;
                let apart = part.detached_share >= STREAM_APART_DETACHED_SHARE || sum > account_sum;
                if !apart && score.risk > config.levels.medium {
                    let held = config.levels.medium / score.risk;
                    for c in &mut score.top_signals {
                        c.contribution *= held;
                    }
                    score.risk = config.levels.medium;
                }
                stands_apart = Some(apart);
            }
            let verdict = PartVerdict {
                part: part.part,
                requests: part.requests,
                detached_share: part.detached_share,
                risk: score.risk,
                stands_apart,
                top_signals: score.top_signals,
                scores: scored.iter().map(|s| (s.signal.name, s.score.unwrap_or(0.0))).collect(),
            };
            (verdict, raw_risk)
        })
        // Among streams held at `medium`, the one with the most evidence of its own is shown.
        .max_by(|(a, a_raw), (b, b_raw)| {
            a.risk.total_cmp(&b.risk).then(a_raw.total_cmp(b_raw)).then(b.part.cmp(&a.part))
        })
        .map(|(verdict, _)| verdict)
}

pub(crate) fn weighted_sum(signals: &[ScoredSignal]) -> f64 {
    signals.iter().map(|s| s.score.unwrap_or(0.0) * s.weight).sum()
}

#[cfg(test)]
mod tests {
    use dw_domain::RequestRecord;

    use super::*;
    use crate::signals::test_support::request;

    #[test]
    fn a_script_beside_a_person_in_sessions_keeps_its_own_clock() {
        const MIN: i64 = 60_000;
        const HOUR: i64 = 60 * MIN;
        let mut requests = Vec::new();
        // A person: six sessions of five requests two minutes apart, at 9:00 on each day.
        for day in 0..6 {
            for k in 0..5 {
                requests.push(request(requests.len(), day * 24 * HOUR + 9 * HOUR + k * 2 * MIN, "a question"));
            }
        }
        // The person changes a setting for one request inside a session.
        requests[7].temperature = Some(0.2);
        // A script on the same key: one request every 17 hours, with its own max_tokens.
        for k in 0..8 {
            let mut r = request(100 + k as usize, 3 * HOUR + k * 17 * HOUR, "Write a poem about the sea.");
            r.max_tokens = Some(4096);
            requests.push(r);
        }
        requests.sort_by_key(|r| r.ts_ms);
        let keys: Vec<Option<String>> = requests.iter().map(|r| Some(signature(r))).collect();
        let apart = detached(&requests, &keys);
        let share = |own: Vec<usize>| own.iter().filter(|i| apart[**i]).count() as f64 / own.len() as f64;
        // One of the script's requests falls in a session (day 4, 9:00); the other seven are apart.
        assert_eq!(share((0..requests.len()).filter(|i| requests[*i].max_tokens.is_some()).collect()), 7.0 / 8.0);
        // The changed setting sits inside its session.
        assert_eq!(share((0..requests.len()).filter(|i| requests[*i].temperature.is_some()).collect()), 0.0);
        // One account, one part: nothing else to be apart from, so every request is.
        let alone: Vec<Option<String>> = requests.iter().map(|_| Some("one".to_owned())).collect();
        assert!(detached(&requests, &alone).iter().all(|a| *a));
    }

    /// An account's requests: `per_day` a day for `days` days from `ip` as `agent`.
    fn account(id: &str, ip: &str, agent: &str, per_day: usize, days: usize, max_tokens: i32) -> Vec<RequestRecord> {
        (0..per_day * days)
            .map(|i| {
                let mut r = request(i, (i / per_day) as i64 * 86_400_000 + (i % per_day) as i64 * 600_000, "a task");
                r.account_id = id.into();
                r.prompt = format!("Write task number {i} about something different each time please.");
                r.client_ip = Some(ip.parse().unwrap());
                r.user_agent = Some(agent.into());
                r.max_tokens = Some(max_tokens);
                r
            })
            .collect()
    }

    /// Thirty accounts sending from one /24 with one client, 25 requests a day for 5 days.
    fn farm_population() -> Vec<AccountSignals> {
        (0..30)
            .map(|i| {
                let requests = account(&format!("farm{i:02}"), "203.0.113.9", "OpenAI/Python 1.50.0", 25, 5, 4096);
                AccountSignals::from_requests(&requests, None, None, false).unwrap()
            })
            .collect()
    }

    /// Four hundred accounts of a window that share nothing: each its own
    /// network and its own `max_tokens`, a few requests a day.
    fn background() -> Vec<AccountSignals> {
        (0..400)
            .map(|i| {
                let ip = format!("100.{}.{}.7", i / 200, i % 200);
                let requests = account(&format!("person{i:03}"), &ip, "OpenAI/Python 1.50.0", 5, 5, 100 + i);
                AccountSignals::from_requests(&requests, None, None, false).unwrap()
            })
            .collect()
    }

    #[test]
    fn a_farm_on_shared_infrastructure_is_linked_and_raised_and_a_lone_look_alike_is_not() {
        let mut population = farm_population();
        // Its client and parameters, on its own network: it shares the farm's software, not its infrastructure.
        population.push(
            AccountSignals::from_requests(
                &account("lone", "198.51.100.9", "OpenAI/Python 1.50.0", 25, 5, 4096),
                None,
                None,
                false,
            )
            .unwrap(),
        );
        population.extend(background());
        let verdicts = score_population(population, &DetectConfig::default(), &Weights::default());
        let farm = &verdicts[0];
        let lone = &verdicts[30];
        assert!(farm.score.flagged, "{:?}", farm.score);
        assert_eq!(farm.score.top_signals[0].signal, "linked_cluster");
        assert!(
            farm.link_reason.as_deref().unwrap().starts_with(
                "30 accounts sending from 203.0.113.0/24 (30 of 431 accounts) and setting max_tokens 4096 (31 of 431)"
            ),
            "{:?}",
            farm.link_reason
        );
        assert!(verdicts[..30].iter().all(|v| v.score.cluster_id == farm.score.cluster_id));
        assert!(lone.score.cluster_id.is_none() && !lone.score.flagged, "{:?}", lone.score);
        assert!(lone.score.risk < farm.score.risk);

        // An allowlisted member keeps its score and cluster but is not flagged.
        let mut config = DetectConfig::default();
        config.flags.allowlist.insert("farm03".into());
        let mut population = farm_population();
        population.push(
            AccountSignals::from_requests(&account("lone", "198.51.100.9", "x", 25, 5, 4096), None, None, false)
                .unwrap(),
        );
        population.extend(background());
        let allowed = &score_population(population, &config, &Weights::default())[3];
        assert_eq!(
            (allowed.score.risk, &allowed.score.cluster_id),
            (verdicts[3].score.risk, &verdicts[3].score.cluster_id)
        );
        assert!(!allowed.score.flagged);
        // Contributions are listed and never exceed the risk.
        let listed: f64 = lone.score.top_signals.iter().map(|c| c.contribution).sum();
        assert!(listed <= lone.score.risk + 1e-12);
    }

    #[test]
    fn a_cluster_whose_members_each_look_half_suspicious_corroborates_itself() {
        let levels = crate::levels::LevelThresholds::default();
        assert!(corroborated(&[0.5, 0.6, 0.74], &levels));
        assert!(!corroborated(&[0.6, 0.7], &levels), "two accounts are too few");
        assert!(!corroborated(&[0.9, 0.8, 0.7, 0.49], &levels), "every member, not most");

        // Accounts sharing one payment instrument, each from its own network; the
        // thresholds put one such account's own risk at medium.
        let member = |id: &str, ip: &str, card: &str| {
            let mut a =
                AccountSignals::from_requests(&account(id, ip, "OpenAI/Python 1.50.0", 25, 5, 4096), None, None, false)
                    .unwrap();
            a.attributes = Some(dw_domain::AccountAttributes {
                account_id: id.into(),
                payment_fingerprint: Some(card.into()),
                ..Default::default()
            });
            a
        };
        let own = score_population(
            vec![member("alone", "198.51.100.1", "pm_0")],
            &DetectConfig::default(),
            &Weights::default(),
        )[0]
        .score
        .risk;
        let config = DetectConfig {
            levels: crate::levels::LevelThresholds {
                low: own / 4.0,
                medium: own / 2.0,
                high: (own + 1.0) / 2.0,
                critical: (own + 3.0) / 4.0,
            },
            ..DetectConfig::default()
        };
        let card = |n: usize, card: &str| -> Vec<AccountSignals> {
            (0..n).map(|i| member(&format!("{card}-{i}"), &format!("198.51.{i}.1"), card)).collect()
        };
        let three = score_population(card(3, "pm_a"), &config, &Weights::default());
        let evidence = three.iter().map(|v| weighted_sum(&v.signals)).sum::<f64>() / 3.0;
        assert!(
            Weights::default().cluster_risk(evidence, 3) < config.levels.high,
            "the cluster model alone would not flag"
        );
        for v in &three {
            assert!(v.score.flagged && v.score.risk >= config.levels.high, "{:?}", v.score);
            assert_eq!(v.score.top_signals[0].signal, "linked_cluster");
            assert!(v.link_reason.as_deref().unwrap().contains("medium risk or above on its own evidence"));
        }
        let two = score_population(card(2, "pm_b"), &config, &Weights::default());
        assert!(two.iter().all(|v| !v.score.flagged && !v.link_reason.as_deref().unwrap().contains("corroborated")));
        // One member with little traffic stays under medium on its own: no corroboration.
        let quiet = || {
            let mut a = AccountSignals::from_requests(
                &account("quiet", "198.51.200.1", "Mozilla/5.0", 2, 1, 256),
                None,
                None,
                false,
            )
            .unwrap();
            a.attributes =
                Some(dw_domain::AccountAttributes { payment_fingerprint: Some("pm_c".into()), ..Default::default() });
            a
        };
        let alone = score_population(vec![quiet()], &config, &Weights::default())[0].score.risk;
        assert!(alone < config.levels.medium, "{alone}");
        let mut mixed = card(2, "pm_c");
        mixed.push(quiet());
        let mixed = score_population(mixed, &config, &Weights::default());
        assert!(mixed.iter().all(|v| !v.score.flagged), "{mixed:?}");
        assert!(mixed.iter().all(|v| !v.link_reason.as_deref().unwrap().contains("corroborated")));
    }

    #[test]
    fn an_extractor_behind_a_platform_account_raises_the_account() {
        // Forty people with a few conversational requests each, and one end user harvesting around the clock.
        let mut requests = Vec::new();
        for u in 0..40 {
            for k in 0..5 {
                let mut r = request(requests.len(), (u * 3_600_000 + k * 60_000) as i64, "hello there");
                r.prior_turns = Some(k as u32);
                r.end_user = Some(format!("person{u}"));
                requests.push(r);
            }
        }
        for (i, mut r) in account("platform", "203.0.113.9", "OpenAI/JS 4.70.0", 200, 3, 4096).into_iter().enumerate() {
            r.end_user = Some("u_harvest".into());
            r.event_id = format!("h{i}");
            requests.push(r);
        }
        requests.sort_by_key(|r| r.ts_ms);
        for r in &mut requests {
            r.account_id = "platform".into();
        }
        let verdicts = score_population(
            vec![AccountSignals::from_requests(&requests, None, None, false).unwrap()],
            &DetectConfig::default(),
            &Weights::default(),
        );
        let user = verdicts[0].riskiest_end_user.as_ref().unwrap();
        assert_eq!((user.part.as_str(), user.requests), ("u_harvest", 600));
        assert!(verdicts[0].score.flagged, "{:?}", verdicts[0].score);
        assert_eq!(verdicts[0].score.risk, user.risk);
        assert_eq!(verdicts[0].score.top_signals[0].signal, "riskiest_end_user");
    }

    #[test]
    fn a_script_sharing_a_key_with_a_person_is_scored_as_its_own_stream() {
        // A person's conversations, client defaults, and a script's single-turn tasks with one
        // system prompt and long answers, all from one key.
        let mut requests = Vec::new();
        for k in 0..120 {
            let mut r = request(k, k as i64 * 3_000_000, "so what do you think about my plan for the garden?");
            r.prior_turns = Some((k % 4) as u32);
            requests.push(r);
        }
        for k in 0..40 {
            let mut r = request(200 + k, k as i64 * 9_000_000 + 7, &format!("Write a limerick about topic {k}."));
            r.system_prompt = Some("You are a helpful assistant.".into());
            r.max_tokens = Some(4096);
            r.temperature = Some(0.8);
            requests.push(r);
        }
        requests.sort_by_key(|r| r.ts_ms);
        let account = AccountSignals::from_requests(&requests, None, None, false).unwrap();
        assert_eq!(account.streams.len(), 2, "{:?}", account.streams.iter().map(|s| &s.part).collect::<Vec<_>>());
        let verdict = &score_population(vec![account], &DetectConfig::default(), &Weights::default())[0];
        let stream = verdict.riskiest_stream.as_ref().unwrap();
        assert_eq!(stream.requests, 40);
        assert!(stream.part.contains("max_tokens 4096"), "{}", stream.part);
        assert_eq!(verdict.score.risk, stream.risk, "the account rises to its riskiest stream");
        assert_eq!(verdict.score.top_signals[0].signal, "riskiest_request_stream");

        // The same script's stream sent on behalf of many end users is a platform's, not scored as a stream.
        let mut platform = requests.clone();
        for (i, r) in platform.iter_mut().enumerate() {
            r.end_user = Some(format!("user{}", i % 7));
        }
        let account = AccountSignals::from_requests(&platform, None, None, false).unwrap();
        assert!(account.streams.is_empty(), "{:?}", account.streams.iter().map(|s| &s.part).collect::<Vec<_>>());

        // One stream only: nothing to split.
        let single = AccountSignals::from_requests(&requests[..10], None, None, false).unwrap();
        assert!(single.streams.is_empty() || single.streams.iter().all(|s| s.requests >= MIN_STREAM_REQUESTS));
    }

    #[test]
    fn a_stream_that_does_not_stand_apart_is_held_at_medium() {
        // One person, two clients in the same sessions: every third request comes from a client
        // that sets a long budget. Then the same requests with that client's on a clock of its own.
        let two_clients = |apart_ms: i64| {
            let mut requests = Vec::new();
            for day in 0..5i64 {
                for k in 0..40i64 {
                    let second = k % 3 == 0;
                    let ts = day * 86_400_000 + 10 * 3_600_000 + k * 60_000 + if second { apart_ms } else { 0 };
                    let mut r = request((day * 40 + k) as usize, ts, &format!("Tell me about subject {day}-{k}."));
                    if second {
                        r.max_tokens = Some(4096);
                    }
                    requests.push(r);
                }
            }
            requests.sort_by_key(|r| r.ts_ms);
            AccountSignals::from_requests(&requests, None, None, false).unwrap()
        };
        // A stream model eager enough that both streams would reach a flag on their evidence alone.
        let weights = Weights { stream_evidence_weight: 5.0, stream_offset: Some(1.0), ..Weights::default() };
        let config = DetectConfig::default();

        let inside = &score_population(vec![two_clients(0)], &config, &weights)[0];
        let stream = inside.riskiest_stream.as_ref().unwrap();
        assert!(stream.part.contains("max_tokens 4096"), "{}", stream.part);
        assert_eq!(stream.detached_share, 0.0);
        assert_eq!(stream.stands_apart, Some(false), "{stream:?}");
        assert_eq!(stream.risk, config.levels.medium, "held at medium: {stream:?}");
        assert!(!inside.score.flagged, "{:?}", inside.score);

        let outside = &score_population(vec![two_clients(12 * 3_600_000)], &config, &weights)[0];
        let stream = outside.riskiest_stream.as_ref().unwrap();
        assert_eq!(stream.detached_share, 1.0);
        assert_eq!(stream.stands_apart, Some(true), "{stream:?}");
        assert!(stream.risk > config.levels.high, "{stream:?}");
        assert!(outside.score.flagged, "{:?}", outside.score);
        assert_eq!(outside.score.top_signals[0].signal, "riskiest_request_stream");
    }

    #[test]
    fn a_decisive_signal_flags_a_low_risk_account_and_says_so() {
        let mut requests = account("quiet", "198.51.100.9", "OpenAI/Python 1.50.0", 12, 2, 256);
        for r in &mut requests {
            r.logprobs = Some(true);
        }
        let population = || vec![AccountSignals::from_requests(&requests, None, None, false).unwrap()];
        let plain = &score_population(population(), &DetectConfig::default(), &Weights::default())[0];
        assert!(!plain.score.flagged && plain.decisive.is_none(), "{:?}", plain.score);

        let mut config = DetectConfig::default();
        config.flags.decisive.insert("logprobs_share".into(), 0.9);
        let decided = &score_population(population(), &config, &Weights::default())[0];
        assert_eq!(decided.score.risk, plain.score.risk, "a decisive signal flags, it does not change the risk");
        assert!(decided.score.flagged);
        assert_eq!(decided.decisive.as_deref(), Some("logprobs_share 1.00 ≥ 0.90 (decisive)"));
        let candidate = &crate::flags::candidates(std::slice::from_ref(decided)).unwrap()[0];
        assert!(candidate.fired.contains(&"logprobs_share".to_owned()), "{:?}", candidate.fired);
        assert!(candidate.reason.contains("logprobs_share 1.00 ≥ 0.90 (decisive)"), "{}", candidate.reason);

        // The allowlist still wins.
        config.flags.allowlist.insert("quiet".into());
        assert!(!score_population(population(), &config, &Weights::default())[0].score.flagged);
    }

    #[test]
    fn the_same_population_scores_the_same_twice() {
        let build = || {
            (0..4)
                .map(|i| {
                    AccountSignals::from_requests(
                        &account(&format!("a{i}"), "203.0.113.9", "x", 30, 3, 512),
                        None,
                        None,
                        true,
                    )
                    .unwrap()
                })
                .collect::<Vec<_>>()
        };
        let a = score_population(build(), &DetectConfig::default(), &Weights::default());
        let b = score_population(build(), &DetectConfig::default(), &Weights::default());
        assert_eq!(a, b);
    }
}
