//! The case file as a page for a reader outside the team: a summary in
//! plain words first, then the findings, the activity (charts as inline
//! SVG), the prompts with the answers served, the linked accounts, the
//! history, and the method with its limits. Numbers are written for people
//! (risks to two decimals, percentiles as whole numbers, counts with
//! thousands separators); the JSON and CSV exports keep full precision.
//!
//! Self-contained and script-free: one style element, allowed by its hash
//! in the page's Content-Security-Policy ([`content_security_policy`]),
//! nothing else loads. Everything the traffic wrote (prompts, answers, ids,
//! user agents) is escaped where it is shown and never becomes markup or a
//! link. It prints to PDF from a browser (print rules hide nothing).

use std::fmt::Write as _;

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{CaseFile, text, time_text};

/// The page's only style.
const STYLE: &str = "body{font:15px/1.5 Georgia,'Times New Roman',serif;color:#111;margin:2.5em auto;max-width:58em;\
padding:0 1.5em}h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;border-bottom:1px solid #999;\
margin-top:2em;padding-bottom:.2em}h3{font-size:1em;margin:1.2em 0 .3em}.meta{color:#444;margin-top:0}\
.summary{background:#f4f4f0;border-left:4px solid #555;padding:.6em 1.2em}table{border-collapse:collapse;\
margin:.6em 0 1em;width:100%}td,th{border:1px solid #bbb;padding:.3em .5em;vertical-align:top;text-align:left}\
th{background:#eee}td.n,th.n{text-align:right;white-space:nowrap}pre{white-space:pre-wrap;word-break:break-word;\
margin:0;font:13px/1.4 Menlo,Consolas,monospace}code{font:13px Menlo,Consolas,monospace}.muted{color:#555}\
svg{display:block;margin:.5em 0}svg text{font:11px sans-serif;fill:#333}svg rect.bar{fill:#3a5a80}\
svg.share{display:inline-block;margin:0 .5em 0 0;vertical-align:middle;background:#e4e7eb}\
.example{border:1px solid #bbb;margin:.8em 0;padding:.5em .8em;page-break-inside:avoid}\
@media print{body{margin:0;max-width:none;font-size:11pt}h2{page-break-after:avoid}tr{page-break-inside:avoid}\
.summary{border-left-color:#000}}";

/// The page's Content-Security-Policy: nothing loads, no script runs, only
/// its own style applies (by its hash).
pub fn content_security_policy() -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!("default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'")
}

/// Text for HTML: the five characters that could open markup escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A count with thousands separators: 12,345.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A signal's value for people: whole numbers with separators, the rest to
/// two decimals.
fn value(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => {
            if x < 0.0 {
                format!("-{}", count((-x) as u64))
            } else {
                count(x as u64)
            }
        }
        Some(x) => format!("{x:.2}"),
        None => "-".to_owned(),
    }
}

/// A risk to two decimals.
fn risk(v: &Value) -> String {
    v.as_f64().map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"))
}

/// A date and time, to the minute, in UTC.
fn when(v: &Value) -> String {
    let t = text(v);
    match (t.get(..10), t.get(11..16)) {
        (Some(day), Some(clock)) => format!("{day} {clock} UTC"),
        _ => t,
    }
}

/// What a signal measures, in words (its registry line), or its name.
fn what(name: &str) -> String {
    dw_detect::signals::registry::find(name).map_or_else(|| name.replace('_', " "), |d| d.doc.to_owned())
}

/// A signal of the bundle.
struct Finding<'a> {
    name: &'a str,
    value: &'a Value,
    detail: &'a str,
    percentile: Option<f64>,
    contribution: f64,
}

fn findings(signals: &Value) -> Vec<Finding<'_>> {
    let mut all: Vec<Finding<'_>> = signals
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| Finding {
            name: s["name"].as_str().unwrap_or_default(),
            value: &s["value"],
            detail: s["detail"].as_str().unwrap_or_default(),
            percentile: s["percentile"].as_f64(),
            contribution: s["contribution"].as_f64().unwrap_or(0.0),
        })
        .collect();
    all.sort_by(|a, b| b.contribution.total_cmp(&a.contribution).then(a.name.cmp(b.name)));
    all
}

/// One piece of evidence in a sentence: what it measures, the counts, how
/// rare it is in the window's population.
fn in_words(f: &Finding<'_>) -> String {
    let rarity = match f.percentile {
        Some(p) if p >= 50.0 => format!("; higher than {:.0}% of the window's accounts", p.floor()),
        Some(p) => format!("; at the {:.0}th percentile of the window's accounts", p.floor()),
        None => String::new(),
    };
    format!("{}: {}{}", escape(&what(f.name)), escape(f.detail), rarity)
}

impl CaseFile {
    pub(super) fn html(&self) -> String {
        let flag = &self.flag;
        let subject = text(&flag["subject"]);
        let title = format!("Case file: flag {} ({} {})", text(&flag["id"]), text(&flag["kind"]), subject);
        let mut out = String::new();
        let _ = write!(
            out,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\
             <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n\
             <p class=\"meta\">Status {}; level {}; risk {} of 1. Opened {}, last updated {}. Exported {} by {}.</p>\n",
            content_security_policy(),
            escape(&title),
            escape(&title),
            escape(&text(&flag["status"])),
            escape(&text(&flag["level"])),
            risk(&flag["risk"]),
            escape(&when(&flag["opened_at"])),
            escape(&when(&flag["updated_at"])),
            escape(&when(&time_text(self.exported_at).into())),
            escape(&self.exported_by)
        );
        out.push_str(&self.sections());
        out.push_str(METHOD);
        out.push_str("</body></html>\n");
        out
    }

    /// The file's sections, summary to history, as markup for a page that
    /// has its own head (everything from the traffic escaped).
    pub fn sections(&self) -> String {
        let flag = &self.flag;
        let evidence = &self.evidence;
        let cluster = text(&flag["kind"]) == "cluster";
        let subject = text(&flag["subject"]);
        let mut out = String::new();
        // The summary: what the subject did and the strongest evidence, in words.
        let signals = if cluster { &evidence["operator"]["signals"] } else { &evidence["signals"] };
        let found = findings(signals);
        out.push_str("<h2>Summary</h2>\n<div class=\"summary\">\n");
        if cluster {
            let members = evidence["members"].as_array().map_or(0, Vec::len);
            let _ = writeln!(
                out,
                "<p>Cluster <code>{}</code>: {} accounts that the audit found run by one operator, flagged at level {} \
                 (risk {} of 1). Why they are linked: {}</p>",
                escape(&subject),
                count(members as u64),
                escape(&text(&flag["level"])),
                risk(&flag["risk"]),
                escape(&text(&evidence["reason"]))
            );
        } else {
            let requests = evidence["requests"].as_u64().unwrap_or(0);
            let hours = hourly(evidence);
            let span = match (hours.first(), hours.last()) {
                (Some((first, _)), Some((last, _))) => {
                    format!(" between {} and {}", when(&first.clone().into()), when(&last.clone().into()))
                }
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "<p>Account <code>{}</code> sent {} requests in the audited window{}. The audit scored it {} of 1 (level \
                 {}) and flagged it.</p>",
                escape(&subject),
                count(requests),
                escape(&span),
                risk(&flag["risk"]),
                escape(&text(&flag["level"]))
            );
        }
        let strongest: Vec<&Finding<'_>> = found.iter().filter(|f| f.contribution > 0.0).take(3).collect();
        if !strongest.is_empty() {
            out.push_str("<p>The strongest evidence:</p>\n<ol>\n");
            for f in &strongest {
                let _ = writeln!(out, "<li>{}.</li>", in_words(f));
            }
            out.push_str("</ol>\n");
        }
        // A cluster's reason is its link, said above.
        let reason = text(&flag["reason"]);
        if !cluster && !reason.is_empty() {
            let _ = writeln!(out, "<p>The audit's reason: {}</p>", escape(&reason));
        }
        let link = &evidence["link"];
        if !cluster && !link.is_null() {
            let linked = link["linked_accounts"].as_array().map_or(0, Vec::len);
            let _ = writeln!(
                out,
                "<p>It is linked to {} other accounts (cluster <code>{}</code>): {}</p>",
                count(linked as u64),
                escape(&text(&link["cluster_id"])),
                escape(&text(&link["reason"]))
            );
        }
        out.push_str("</div>\n");

        // The findings: every signal, the ones that weighed first.
        let _ = writeln!(
            out,
            "<h2>Findings</h2>\n<p>Each measure the audit took{}, what it counted, how the {} compares with the window's \
             accounts (percentile), and how much it added to the risk.</p>",
            if cluster { " of the operator (its members' traffic read as one)" } else { "" },
            if cluster { "operator" } else { "account" }
        );
        out.push_str(
            "<table>\n<tr><th>measure</th><th class=\"n\">value</th><th>counted</th><th class=\"n\">percentile</th>\
             <th class=\"n\">added to the risk</th></tr>\n",
        );
        let (computed, not_computed): (Vec<&Finding<'_>>, Vec<&Finding<'_>>) =
            found.iter().partition(|f| !f.value.is_null());
        for f in &computed {
            let _ = writeln!(
                out,
                "<tr><td>{}<br><span class=\"muted\"><code>{}</code></span></td><td class=\"n\">{}</td><td>{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                escape(&what(f.name)),
                escape(f.name),
                value(f.value),
                escape(f.detail),
                f.percentile.map_or_else(|| "-".to_owned(), |p| format!("{:.0}", p.floor())),
                if f.contribution > 0.0 { format!("{:.2}", f.contribution) } else { "-".to_owned() }
            );
        }
        out.push_str("</table>\n");
        if !not_computed.is_empty() {
            out.push_str("<p class=\"muted\">Not computed (weighing nothing):</p>\n<ul class=\"muted\">\n");
            for f in &not_computed {
                let why = f.detail.strip_prefix("not computed: ").unwrap_or(f.detail);
                let _ = writeln!(out, "<li><code>{}</code>: {}</li>", escape(f.name), escape(why));
            }
            out.push_str("</ul>\n");
        }
        for (label, part) in
            [("request stream", &evidence["riskiest_stream"]), ("end user", &evidence["riskiest_end_user"])]
        {
            if part.is_object() {
                let _ = writeln!(
                    out,
                    "<p>Its riskiest {label}, <code>{}</code> ({} requests), scored {} on its own.</p>",
                    escape(&text(&part["part"])),
                    count(part["requests"].as_u64().unwrap_or(0)),
                    risk(&part["risk"])
                );
            }
        }

        // Activity: requests per hour as a chart, then the mixes of what was sent.
        let activity = &evidence["activity"];
        if activity.is_object() {
            out.push_str("<h2>Activity</h2>\n");
            let hours = hourly(evidence);
            if !hours.is_empty() {
                out.push_str("<h3>Requests per hour (UTC)</h3>\n");
                out.push_str(&hourly_chart(&hours));
            }
            for (key, label) in [
                ("models", "Models"),
                ("temperature", "Temperature"),
                ("max_tokens", "Largest answer asked for (max_tokens)"),
                ("n", "Answers per request (n)"),
                ("logprobs", "Token probabilities asked for (logprobs)"),
                ("user_agents", "Clients (user agents)"),
                ("networks", "Networks (/24 or /48)"),
            ] {
                let mix = mix_of(&activity[key]);
                if mix.is_empty() {
                    continue;
                }
                let total: u64 = mix.iter().map(|(_, n)| n).sum();
                let _ = writeln!(
                    out,
                    "<h3>{label}</h3>\n<table>\n<tr><th>value</th><th class=\"n\">requests</th><th class=\"n\">share</th></tr>"
                );
                for (v, n) in &mix {
                    // The share as a bar (numbers only go into it), then in figures.
                    let share = 100.0 * *n as f64 / total.max(1) as f64;
                    let _ = writeln!(
                        out,
                        "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\"><svg class=\"share\" \
                         width=\"100\" height=\"10\" role=\"img\" aria-label=\"{share:.0}%\"><rect class=\"bar\" \
                         width=\"{share:.1}\" height=\"10\"/></svg>{share:.0}%</td></tr>",
                        escape(v),
                        count(*n),
                    );
                }
                out.push_str("</table>\n");
            }
        }

        // Prompts with the answers served.
        if !self.examples.is_empty() {
            let _ = writeln!(
                out,
                "<h2>Prompts and the answers served</h2>\n<p>{} of the account's requests, those its evidence points at, \
                 as they were logged (shown as text).</p>",
                count(self.examples.len() as u64)
            );
            for e in &self.examples {
                let _ = writeln!(
                    out,
                    "<div class=\"example\"><p class=\"muted\">{} · {} · <code>{}</code></p>",
                    escape(&when(&time_text(e.ts).into())),
                    escape(&e.model),
                    escape(&e.event_id)
                );
                if let Some(system) = &e.system_prompt {
                    let _ = writeln!(out, "<h3>System prompt</h3><pre>{}</pre>", escape(system));
                }
                let _ = writeln!(out, "<h3>Prompt</h3><pre>{}</pre>", escape(&e.prompt));
                let answer = e.completion.as_deref().unwrap_or("(no answer text was logged)");
                let _ = writeln!(out, "<h3>Answer served</h3><pre>{}</pre></div>", escape(answer));
            }
        }

        // Linked accounts.
        let members = evidence["members"].as_array();
        if let Some(members) = members.filter(|m| !m.is_empty()) {
            out.push_str(
                "<h2>Members</h2>\n<table>\n<tr><th>account</th><th class=\"n\">risk</th><th>level</th>\
                 <th class=\"n\">requests</th><th>flagged</th></tr>\n",
            );
            for m in members {
                let _ = writeln!(
                    out,
                    "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                    escape(&text(&m["account_id"])),
                    risk(&m["risk"]),
                    escape(&text(&m["level"])),
                    count(m["requests"].as_u64().unwrap_or(0)),
                    if m["flagged"].as_bool() == Some(true) { "yes" } else { "no" }
                );
            }
            out.push_str("</table>\n");
        }
        if !cluster && !link.is_null() {
            let _ = writeln!(
                out,
                "<h2>Linked accounts</h2>\n<p>Cluster <code>{}</code>: {}</p>\n<ul>",
                escape(&text(&link["cluster_id"])),
                escape(&text(&link["reason"]))
            );
            for account in link["linked_accounts"].as_array().into_iter().flatten() {
                let _ = writeln!(out, "<li><code>{}</code></li>", escape(&text(account)));
            }
            out.push_str("</ul>\n");
        }

        // History.
        out.push_str(
            "<h2>History</h2>\n<table>\n<tr><th>when</th><th>what</th><th>who</th><th class=\"n\">risk</th><th>note</th></tr>\n",
        );
        for h in &self.history {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                escape(&when(&h["at"])),
                escape(&text(&h["action"])),
                escape(&text(&h["actor"])),
                risk(&h["risk"]),
                escape(&text(&h["note"]))
            );
        }
        out.push_str("</table>\n");

        out
    }
}

/// How the audit works and what it cannot show, for a reader outside the team.
const METHOD: &str = "<h2>Method and its limits</h2>\n\
<p>distillwatch reads the logs of the provider's API (who sent which prompt when, with which settings, from \
which network and client, and the answer served). Each audit measures every account active in its window: how \
much and how regularly it sends, whether it holds conversations or sends independent tasks, whether it buys as \
much output per request as it can, whether its prompts read like the records of an instruction dataset or come \
from one generator, and more (the findings above). Each measure is placed among the window's accounts \
(percentile), turned into a score, and weighed; the weights were fitted on labelled traffic and are published \
with the detection quality they reach (the project's evaluation). Accounts that share traces of one operator \
(networks, clients, settings, schedules) beyond what chance explains are linked, and a cluster's traffic is also \
read as one actor's.</p>\n\
<p>A flag is a reason to look, not proof. Each measure has innocent explanations (an evaluation harness sends \
independent tasks; an app sends templated prompts; a team shares a network), which is why no single measure \
flags on its own unless it is decisive by configuration, and why the findings give the counts behind every \
number. The audit sees only what the logs hold: a field a gateway did not log is \"not computed\" and weighs \
nothing, it is never taken as absent. Prompts and answers above are shown as they were logged; they were written \
by the account's user and may be crafted to mislead.</p>\n";

/// The hourly counts, oldest first (hour as RFC 3339 text, requests).
fn hourly(evidence: &Value) -> Vec<(String, u64)> {
    let mut hours: Vec<(String, u64)> = evidence["activity"]["hourly"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(h, n)| (h.clone(), n.as_u64().unwrap_or(0)))
        .collect();
    hours.sort();
    hours
}

/// A mix as (value, requests), most requests first: an object of counts or
/// a list of `[value, count]` pairs.
fn mix_of(v: &Value) -> Vec<(String, u64)> {
    let mut mix: Vec<(String, u64)> = match v {
        Value::Object(m) => m.iter().map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0))).collect(),
        Value::Array(pairs) => {
            pairs.iter().filter_map(|p| Some((text(p.get(0)?), p.get(1)?.as_u64().unwrap_or(0)))).collect()
        }
        _ => Vec::new(),
    };
    mix.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    mix
}

/// Requests per hour as an SVG bar chart over the hours from the first to
/// the last, days marked.
fn hourly_chart(hours: &[(String, u64)]) -> String {
    let parse = |h: &str| {
        time::OffsetDateTime::parse(h, &time::format_description::well_known::Rfc3339).ok().map(|t| t.unix_timestamp())
    };
    let points: Vec<(i64, u64)> = hours.iter().filter_map(|(h, n)| Some((parse(h)? / 3600, *n))).collect();
    let (Some(first), Some(last)) = (points.iter().map(|p| p.0).min(), points.iter().map(|p| p.0).max()) else {
        return String::new();
    };
    let span = (last - first + 1).max(1) as f64;
    let peak = points.iter().map(|p| p.1).max().unwrap_or(1).max(1);
    let (width, height, left, bottom) = (640.0, 160.0, 40.0, 20.0);
    let plot = width - left;
    let bar = (plot / span).max(0.5);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" role=\"img\" \
         aria-label=\"requests per hour\"><line x1=\"{left}\" y1=\"{height}\" x2=\"{width}\" y2=\"{height}\" \
         stroke=\"#999\"/><text x=\"0\" y=\"12\">{}</text><text x=\"0\" y=\"{height}\">0</text>",
        height + bottom,
        count(peak)
    );
    for (hour, n) in &points {
        let x = left + (hour - first) as f64 * plot / span;
        let h = (*n as f64 / peak as f64) * (height - 10.0);
        let _ = write!(
            svg,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\"/>",
            height - h
        );
    }
    // A mark and a date at each midnight (at most a dozen labels).
    let days = ((last - first) / 24 + 1).max(1);
    let every = ((days + 11) / 12).max(1);
    let mut day = first.div_euclid(24) * 24;
    let mut k = 0;
    while day <= last {
        if day >= first && k % every == 0 {
            let x = left + (day - first) as f64 * plot / span;
            let date = time::OffsetDateTime::from_unix_timestamp(day * 3600)
                .map(|t| format!("{:02}-{:02}", u8::from(t.month()), t.day()))
                .unwrap_or_default();
            let _ = write!(
                svg,
                "<line x1=\"{x:.1}\" y1=\"{height}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#999\"/><text x=\"{x:.1}\" y=\"{}\">{date}</text>",
                height + 4.0,
                height + bottom - 4.0
            );
        }
        day += 24;
        k += 1;
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_for_people() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(value(&serde_json::json!(2310.0)), "2,310");
        assert_eq!(value(&serde_json::json!(0.30589130709159623)), "0.31");
        assert_eq!(risk(&serde_json::json!(0.999986808967746)), "1.00");
        assert_eq!(when(&serde_json::json!("2026-11-02T13:04:05Z")), "2026-11-02 13:04 UTC");
    }

    #[test]
    fn the_style_is_the_only_one_the_policy_allows() {
        let csp = content_security_policy();
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
        assert!(csp.contains(&format!("style-src 'sha256-{hash}'")) && csp.starts_with("default-src 'none'"));
        assert!(!csp.contains("unsafe"), "{csp}");
    }
}
