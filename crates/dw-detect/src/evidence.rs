//! What an analyst reads beside the signal table: when the account was
//! active, which parameters it sent, from where, and what its prompts look
//! like. Built from an account's requests while the audit streams them, so
//! it costs a few kilobytes an account.

use std::collections::BTreeMap;

use dw_domain::RequestRecord;
use serde::Serialize;

/// Characters of a prompt kept as a sample.
pub const SAMPLE_CHARS: usize = 300;

/// An account's activity at a glance.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Activity))]
pub struct Evidence {
    /// Requests per hour (UTC, RFC 3339 hour start), hours with none left out.
    pub hourly: BTreeMap<String, u32>,
    /// Requests by model.
    pub models: BTreeMap<String, u32>,
    /// Requests by `temperature` as sent (`unknown` when not logged).
    pub temperature: BTreeMap<String, u32>,
    /// Requests by `max_tokens` as sent.
    pub max_tokens: BTreeMap<String, u32>,
    /// Requests by `n` as sent.
    pub n: BTreeMap<String, u32>,
    /// Requests by `logprobs` as sent.
    pub logprobs: BTreeMap<String, u32>,
    /// The three most frequent user agents with their counts.
    pub user_agents: Vec<(String, u32)>,
    /// The three most frequent client networks (/24, IPv6 /48) with their counts.
    pub networks: Vec<(String, u32)>,
    /// Sample prompts: three from the account's most common frame, then the
    /// first and last prompt of the window.
    pub sample_prompts: Vec<SamplePrompt>,
    /// The account's largest templates (near-duplicate prompts), each with
    /// sample prompts.
    pub templates: Vec<TemplateSample>,
}

/// One of an account's templates, quoted as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplateSample {
    /// Its frame, the slot shown as `{…}`.
    pub frame: String,
    /// The account's prompts in it.
    pub prompts: usize,
    /// Their distinct slot fills.
    pub distinct_fills: usize,
    /// Up to three of them.
    pub samples: Vec<SamplePrompt>,
}

/// One prompt quoted as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SamplePrompt {
    /// The event.
    pub event_id: String,
    /// The prompt, cut to [`SAMPLE_CHARS`] characters.
    pub text: String,
}

/// What stands where a quoted prompt or frame was, once retention expired it.
pub const EXPIRED: &str = "[expired by retention]";

/// Takes the quoted text out of a stored evidence bundle (any depth: an
/// account's bundle, or a cluster's that holds its members'): every sample
/// prompt's `text` and every template's `frame` become [`EXPIRED`], and the
/// bundle says when (`excerpts_expired`). Counts, ids, networks and
/// parameters stay. Returns how many texts were taken out.
pub fn expire_excerpts(bundle: &mut serde_json::Value, on: &str) -> usize {
    fn walk(value: &mut serde_json::Value) -> usize {
        match value {
            serde_json::Value::Object(map) => {
                let mut expired = 0;
                let quoted = map.contains_key("event_id");
                for (key, child) in map.iter_mut() {
                    let is_text = (quoted && key == "text") || key == "frame";
                    if is_text && child.is_string() {
                        if child.as_str() != Some(EXPIRED) {
                            *child = serde_json::Value::String(EXPIRED.to_owned());
                            expired += 1;
                        }
                    } else {
                        expired += walk(child);
                    }
                }
                expired
            }
            serde_json::Value::Array(items) => items.iter_mut().map(walk).sum(),
            _ => 0,
        }
    }
    let expired = walk(bundle);
    if let Some(map) = bundle.as_object_mut() {
        map.insert("excerpts_expired".into(), serde_json::Value::String(on.to_owned()));
    }
    expired
}

fn count(map: &mut BTreeMap<String, u32>, key: String) {
    *map.entry(key).or_default() += 1;
}

fn known<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "unknown".to_owned(), |v| v.to_string())
}

fn top3(map: BTreeMap<String, u32>) -> Vec<(String, u32)> {
    let mut pairs: Vec<(String, u32)> = map.into_iter().collect();
    pairs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    pairs.truncate(3);
    pairs
}

fn sample(r: &RequestRecord) -> SamplePrompt {
    SamplePrompt { event_id: r.event_id.clone(), text: r.prompt.chars().take(SAMPLE_CHARS).collect() }
}

/// The evidence of one account, from its requests in time order and their
/// structure ([`crate::signals::PromptStructure`]).
pub fn account_evidence(requests: &[RequestRecord], structure: &crate::signals::PromptStructure) -> Evidence {
    let frames = &structure.frames;
    let mut evidence = Evidence::default();
    let mut agents = BTreeMap::new();
    let mut networks = BTreeMap::new();
    let mut hours: BTreeMap<i64, u32> = BTreeMap::new();
    let mut by_frame: BTreeMap<&(String, String), Vec<usize>> = BTreeMap::new();
    for (i, (r, frame)) in requests.iter().zip(frames).enumerate() {
        *hours.entry(r.ts_ms.div_euclid(3_600_000) * 3600).or_default() += 1;
        count(&mut evidence.models, r.model.clone());
        count(&mut evidence.temperature, known(r.temperature.map(|t| (f64::from(t) * 100.0).round() / 100.0)));
        count(&mut evidence.max_tokens, known(r.max_tokens));
        count(&mut evidence.n, known(r.n));
        count(&mut evidence.logprobs, known(r.logprobs));
        count(&mut agents, known(r.user_agent.as_deref()));
        count(&mut networks, r.client_ip.map_or_else(|| "unknown".to_owned(), crate::linking::network_of));
        by_frame.entry(frame).or_default().push(i);
    }
    // Hours are formatted once each, not once per request.
    evidence.hourly = hours
        .into_iter()
        .map(|(hour, n)| {
            let stamp = time::OffsetDateTime::from_unix_timestamp(hour)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                .unwrap_or_else(|| hour.to_string());
            (stamp, n)
        })
        .collect();
    evidence.user_agents = top3(agents);
    evidence.networks = top3(networks);
    if let Some((_, members)) = by_frame.iter().max_by(|a, b| a.1.len().cmp(&b.1.len()).then(b.0.cmp(a.0))) {
        evidence.sample_prompts.extend(members.iter().take(3).map(|i| sample(&requests[*i])));
    }
    for r in [requests.first(), requests.last()].into_iter().flatten() {
        if !evidence.sample_prompts.iter().any(|s| s.event_id == r.event_id) {
            evidence.sample_prompts.push(sample(r));
        }
    }
    evidence.templates = structure
        .templates
        .templates
        .iter()
        .take(crate::signals::TOP_TEMPLATES)
        .map(|t| TemplateSample {
            frame: t.frame_text(),
            prompts: t.members.len(),
            distinct_fills: t.distinct_fills,
            samples: t.members.iter().take(3).map(|m| sample(&requests[*m])).collect(),
        })
        .collect();
    evidence
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::test_support::request;

    #[test]
    fn the_evidence_of_a_small_account_is_stable() {
        let mut requests: Vec<RequestRecord> = (0..4)
            .map(|i| {
                let mut r =
                    request(i, i as i64 * 1_800_000, &format!("Translate the following text into German: part {i}"));
                r.temperature = Some(0.2);
                r.max_tokens = if i < 3 { Some(4096) } else { None };
                r.client_ip = Some("203.0.113.7".parse().unwrap());
                r.user_agent = Some("OpenAI/Python 1.50.0".into());
                r
            })
            .collect();
        requests[3].prompt = "What's the weather like?".into();
        let structure = crate::signals::PromptStructure::of(&requests);
        let evidence = serde_json::to_value(account_evidence(&requests, &structure)).unwrap();
        assert_eq!(
            evidence,
            serde_json::json!({
                "hourly": {"1970-01-01T00:00:00Z": 2, "1970-01-01T01:00:00Z": 2},
                "models": {"m": 4},
                "temperature": {"0.2": 4},
                "max_tokens": {"4096": 3, "unknown": 1},
                "n": {"unknown": 4},
                "logprobs": {"unknown": 4},
                "user_agents": [["OpenAI/Python 1.50.0", 4]],
                "networks": [["203.0.113.0/24", 4]],
                "sample_prompts": [
                    {"event_id": "e0", "text": "Translate the following text into German: part 0"},
                    {"event_id": "e1", "text": "Translate the following text into German: part 1"},
                    {"event_id": "e2", "text": "Translate the following text into German: part 2"},
                    {"event_id": "e3", "text": "What's the weather like?"}
                ],
                "templates": [{
                    "frame": "translate the following text into german: part {…}",
                    "prompts": 3,
                    "distinct_fills": 3,
                    "samples": [
                        {"event_id": "e0", "text": "Translate the following text into German: part 0"},
                        {"event_id": "e1", "text": "Translate the following text into German: part 1"},
                        {"event_id": "e2", "text": "Translate the following text into German: part 2"}
                    ]
                }]
            })
        );
    }

    #[test]
    fn retention_takes_the_quoted_text_out_and_keeps_the_rest() {
        let mut bundle = serde_json::json!({
            "signals": [{"name": "volume", "value": 0.9}],
            "evidence": {
                "networks": [["203.0.113.0/24", 12]],
                "sample_prompts": [{"event_id": "e1", "text": "my name is Jane, explain ..."}],
                "templates": [{"frame": "translate into german: {…}", "prompts": 3,
                               "samples": [{"event_id": "e2", "text": "translate into german: hello"}]}]
            },
            "members": [{"evidence": {"sample_prompts": [{"event_id": "e3", "text": "another"}]}}],
            "reason": "text that is the flag's own words stays"
        });
        assert_eq!(expire_excerpts(&mut bundle, "2026-12-07"), 4);
        let text = bundle.to_string();
        for gone in ["Jane", "german", "another"] {
            assert!(!text.contains(gone), "{gone} is still in {text}");
        }
        assert_eq!(bundle["evidence"]["sample_prompts"][0]["event_id"], "e1");
        assert_eq!(bundle["evidence"]["networks"][0][1], 12);
        assert_eq!(bundle["reason"], "text that is the flag's own words stays");
        assert_eq!(bundle["excerpts_expired"], "2026-12-07");
        assert_eq!(expire_excerpts(&mut bundle, "2026-12-08"), 0, "a second pass finds nothing");
    }
}
