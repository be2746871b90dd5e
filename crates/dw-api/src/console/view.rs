//! The console's pages as templates (askama, escaping by default) and the
//! small formatting they share: numbers for people, instants, ages, query
//! strings, and charts drawn on the server as SVG.

use std::fmt::Write as _;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use time::OffsetDateTime;
use time::macros::format_description;

/// What the header shows of the signed-in key.
pub(crate) struct Nav {
    pub(crate) name: String,
    pub(crate) role: String,
    pub(crate) admin: bool,
    pub(crate) csrf: String,
}

impl Nav {
    pub(crate) fn of(user: &super::SignedIn) -> Self {
        Nav {
            name: user.key.name.clone(),
            role: user.key.role.to_string(),
            admin: user.key.role == dw_domain::Role::Admin,
            csrf: user.csrf(),
        }
    }
}

/// One `<option>` of a filter.
pub(crate) struct Choice {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

/// The options of a filter, `current` selected.
pub(crate) fn choices(options: &[(&str, &str)], current: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|(value, label)| Choice {
            value: (*value).to_owned(),
            label: (*label).to_owned(),
            selected: *value == current,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console/error.html")]
pub(crate) struct ErrorPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) title: String,
    pub(crate) message: String,
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
pub(crate) struct SignInPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) problem: Option<String>,
}

pub(crate) struct QueueRow {
    pub(crate) id: i64,
    pub(crate) kind: String,
    pub(crate) subject: String,
    pub(crate) status: String,
    pub(crate) assignee: String,
    pub(crate) mine: bool,
    pub(crate) risk: String,
    pub(crate) level: String,
    pub(crate) age: String,
    pub(crate) reason: String,
}

#[derive(Template)]
#[template(path = "console/queue.html")]
pub(crate) struct QueuePage {
    pub(crate) nav: Option<Nav>,
    pub(crate) csrf: String,
    pub(crate) statuses: Vec<Choice>,
    pub(crate) levels: Vec<Choice>,
    pub(crate) kinds: Vec<Choice>,
    pub(crate) assignee: String,
    pub(crate) older_than_hours: String,
    pub(crate) shown: String,
    pub(crate) rows: Vec<QueueRow>,
    pub(crate) next: Option<String>,
}

#[derive(Template)]
#[template(path = "console/case.html")]
pub(crate) struct CasePage {
    pub(crate) nav: Option<Nav>,
    pub(crate) csrf: String,
    pub(crate) id: i64,
    pub(crate) kind: String,
    pub(crate) subject: String,
    pub(crate) subject_href: String,
    pub(crate) status: String,
    pub(crate) level: String,
    pub(crate) risk: String,
    pub(crate) assignee: String,
    pub(crate) mine: bool,
    pub(crate) opened: String,
    pub(crate) next_statuses: Vec<Choice>,
    /// The case file's sections, escaped where they were made.
    pub(crate) sections: String,
}

pub(crate) struct LogRow {
    pub(crate) at: String,
    pub(crate) actor: String,
    pub(crate) role: String,
    pub(crate) action: String,
    pub(crate) target: String,
    pub(crate) detail: String,
}

#[derive(Template)]
#[template(path = "console/audit_log.html")]
pub(crate) struct AuditLogPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) rows: Vec<LogRow>,
    pub(crate) next: Option<i64>,
}

pub(crate) struct ScoreView {
    pub(crate) audit: i64,
    pub(crate) risk: String,
    pub(crate) level: String,
    pub(crate) requests: String,
    pub(crate) cluster: Option<String>,
    pub(crate) contributions: Vec<(String, String)>,
}

pub(crate) struct EventRow {
    pub(crate) id: String,
    pub(crate) ts: String,
    pub(crate) model: String,
    pub(crate) prompt: String,
    pub(crate) completion: String,
    pub(crate) finish: String,
}

#[derive(Template)]
#[template(path = "console/account.html")]
pub(crate) struct AccountPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) account_id: String,
    pub(crate) account_path: String,
    pub(crate) first_seen: String,
    pub(crate) last_seen: String,
    pub(crate) org: Option<String>,
    pub(crate) score: Option<ScoreView>,
    /// (what, flag id, status).
    pub(crate) flags: Vec<(String, i64, String)>,
    /// (audit, window end, risk, level, flagged).
    pub(crate) history: Vec<(i64, String, String, String, String)>,
    pub(crate) timeline_caption: String,
    /// Drawn here from numbers only.
    pub(crate) timeline_svg: String,
    pub(crate) events_caption: String,
    pub(crate) events: Vec<EventRow>,
    pub(crate) next: Option<String>,
}

pub(crate) struct AuditRow {
    pub(crate) id: i64,
    pub(crate) window: String,
    pub(crate) scope: String,
    pub(crate) state: String,
    pub(crate) found: String,
    pub(crate) requested_by: String,
    pub(crate) created: String,
}

#[derive(Template)]
#[template(path = "console/audits.html")]
pub(crate) struct AuditsPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) csrf: String,
    pub(crate) default_from: String,
    pub(crate) default_to: String,
    pub(crate) rows: Vec<AuditRow>,
    pub(crate) next: Option<i64>,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
pub(crate) struct AuditPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) a: AuditRow,
    pub(crate) running: bool,
    pub(crate) stage: String,
    pub(crate) error: Option<String>,
    pub(crate) summary: Vec<(String, String)>,
}

pub(crate) struct SetRow {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) items: String,
    pub(crate) with_prompt: String,
    pub(crate) description: String,
    pub(crate) created: String,
}

#[derive(Template)]
#[template(path = "console/reference_sets.html")]
pub(crate) struct SetsPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) csrf: String,
    pub(crate) rows: Vec<SetRow>,
}

pub(crate) struct RunRow {
    pub(crate) id: i64,
    pub(crate) kind: String,
    pub(crate) controls: String,
    pub(crate) state: String,
    pub(crate) created: String,
}

#[derive(Template)]
#[template(path = "console/reference_set.html")]
pub(crate) struct SetPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) csrf: String,
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) control: bool,
    pub(crate) items: String,
    pub(crate) with_prompt: String,
    pub(crate) description: String,
    pub(crate) collection: String,
    pub(crate) created: String,
    pub(crate) created_by: String,
    /// What an upload just did: a sentence, and the lines refused.
    pub(crate) uploaded: Option<(String, Vec<String>)>,
    /// Control sets to test against: (id, name).
    pub(crate) controls: Vec<(i64, String)>,
    pub(crate) runs: Vec<RunRow>,
}

#[derive(Template)]
#[template(path = "console/reference_job.html")]
pub(crate) struct RunPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) r: RunRow,
    pub(crate) set_id: i64,
    pub(crate) running: bool,
    pub(crate) error: Option<String>,
    /// The report as markup, every text in it escaped ([`report_html`]).
    pub(crate) report: String,
}

pub(crate) struct EdgeRow {
    pub(crate) number: String,
    pub(crate) words: String,
    pub(crate) members: String,
    pub(crate) kind: String,
    pub(crate) accounts: String,
}

pub(crate) struct MemberRow {
    pub(crate) id: String,
    pub(crate) path: String,
    pub(crate) risk: String,
    pub(crate) level: String,
    pub(crate) requests: String,
    pub(crate) signals: String,
}

#[derive(Template)]
#[template(path = "console/cluster.html")]
pub(crate) struct ClusterPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) cluster_id: String,
    pub(crate) audit: i64,
    pub(crate) members: String,
    pub(crate) flagged: String,
    pub(crate) requests: String,
    pub(crate) max_risk: String,
    pub(crate) mean_risk: String,
    pub(crate) flag: Option<i64>,
    pub(crate) reason: String,
    /// Drawn here; member ids and edges' words escaped in it.
    pub(crate) graph_svg: String,
    pub(crate) edge_rows: Vec<EdgeRow>,
    pub(crate) activity_caption: String,
    /// Drawn here from numbers only.
    pub(crate) activity_svg: String,
    pub(crate) member_rows: Vec<MemberRow>,
    pub(crate) signals: Vec<(String, String, String)>,
}

/// A rendered template as a response; a template that fails is a fault of
/// the service.
pub(crate) fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be drawn").into_response()
        }
    }
}

/// The page of an error.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed".to_owned(),
        StatusCode::NOT_FOUND => "Not found".to_owned(),
        StatusCode::CONFLICT => "Not possible now".to_owned(),
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts".to_owned(),
        StatusCode::BAD_REQUEST => "Not understood".to_owned(),
        other => other.canonical_reason().unwrap_or("Error").to_owned(),
    };
    render(&ErrorPage { nav: None, title, message: message.to_owned() })
}

/// A risk for people: two decimals.
pub(crate) fn risk(r: f64) -> String {
    format!("{r:.2}")
}

/// A count with thousands separators.
pub(crate) fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An instant for people, to the minute, in UTC.
pub(crate) fn when(t: OffsetDateTime) -> String {
    t.format(format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).unwrap_or_default()
}

/// How long ago, roughly.
pub(crate) fn age(since: OffsetDateTime, now: OffsetDateTime) -> String {
    let s = (now - since).whole_seconds().max(0);
    match s {
        0..3600 => format!("{} min", s / 60),
        3600..172_800 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// A value for a query string or a path segment: every byte but the
/// unreserved ones percent-encoded.
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A query string of the pairs whose value is not empty.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&")
}

/// Text cut to `max` characters, marked when cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{} […]", &text[..end]),
        None => text.to_owned(),
    }
}

/// Hourly requests as a bar chart (numbers and dates only: nothing from the
/// traffic's text goes into it).
pub(crate) fn hourly_svg(hours: &[(OffsetDateTime, i64)]) -> String {
    if hours.is_empty() {
        return "<p class=\"muted\">No requests in this window.</p>".into();
    }
    let (width, height, left, bottom) = (900.0_f64, 160.0_f64, 44.0_f64, 22.0_f64);
    let max = hours.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1) as f64;
    let bar = (width - left) / hours.len() as f64;
    let mut svg = format!(
        "<svg viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" aria-label=\"requests per hour\" \
         xmlns=\"http://www.w3.org/2000/svg\">"
    );
    let _ = write!(
        svg,
        "<text x=\"0\" y=\"12\">{}</text><text x=\"0\" y=\"{}\">0</text>",
        count(max as i64),
        height - bottom
    );
    for (i, (hour, n)) in hours.iter().enumerate() {
        let h = (*n as f64 / max) * (height - bottom - 16.0);
        let x = left + i as f64 * bar;
        let _ = write!(
            svg,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.2}\" height=\"{h:.1}\"><title>{}: {}</title></rect>",
            height - bottom - h,
            (bar - 0.5).max(0.5),
            when(*hour),
            count(*n)
        );
    }
    if let (Some((first, _)), Some((last, _))) = (hours.first(), hours.last()) {
        let _ = write!(
            svg,
            "<text x=\"{left}\" y=\"{}\">{}</text><text x=\"{width}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            height - 4.0,
            when(*first),
            height - 4.0,
            when(*last)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Edges drawn in a cluster's graph at most (the strongest).
pub(crate) const DRAWN_EDGES: usize = 12;

/// A cluster as a small graph: its members as circles on a ring, shaded by
/// risk and outlined when flagged; each edge (the strongest
/// [`DRAWN_EDGES`]) as a square inside the ring with a line to each member
/// it joins. Member ids and the edges' words are escaped titles.
pub(crate) fn cluster_svg(members: &[(String, f64, bool)], edges: &[(Vec<String>, String)]) -> String {
    if members.is_empty() {
        return String::new();
    }
    let size = 360.0_f64;
    let c = size / 2.0;
    let ring = if members.len() == 1 { 0.0 } else { c - 24.0 };
    let at = |i: usize, n: usize, r: f64| {
        let angle = std::f64::consts::TAU * i as f64 / n.max(1) as f64 - std::f64::consts::FRAC_PI_2;
        (c + r * angle.cos(), c + r * angle.sin())
    };
    let position: std::collections::HashMap<&str, (f64, f64)> =
        members.iter().enumerate().map(|(i, (id, _, _))| (id.as_str(), at(i, members.len(), ring))).collect();
    let mut svg = format!(
        "<svg viewBox=\"0 0 {size} {size}\" width=\"{size}\" role=\"img\" aria-label=\"cluster graph\" \
         xmlns=\"http://www.w3.org/2000/svg\">"
    );
    let drawn = edges.len().min(DRAWN_EDGES);
    let hub_ring = if drawn == 1 { 0.0 } else { ring * 0.45 };
    for (k, (joined, words)) in edges.iter().take(DRAWN_EDGES).enumerate() {
        let (hx, hy) = at(k, drawn, hub_ring);
        for member in joined {
            if let Some((x, y)) = position.get(member.as_str()) {
                let _ = write!(svg, "<line class=\"edge\" x1=\"{hx:.1}\" y1=\"{hy:.1}\" x2=\"{x:.1}\" y2=\"{y:.1}\"/>");
            }
        }
        let _ = write!(
            svg,
            "<rect class=\"hub\" x=\"{:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\"><title>{} ({} accounts)</title></rect>",
            hx - 6.0,
            hy - 6.0,
            escape(words),
            joined.len()
        );
        let _ = write!(svg, "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>", hx, hy + 4.0, k + 1);
    }
    for (id, risk, flagged) in members {
        let (x, y) = position[id.as_str()];
        let shade = ((1.0 - risk.clamp(0.0, 1.0)) * 4.0).round() as u8;
        let class = if *flagged { format!("node r{shade} flagged") } else { format!("node r{shade}") };
        let _ = write!(
            svg,
            "<circle class=\"{class}\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"9\"><title>{} (risk {})</title></circle>",
            escape(id),
            risk_of(*risk)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn risk_of(r: f64) -> String {
    risk(r)
}

/// A number for people: integers with separators, small p-values in
/// scientific notation, the rest to four decimals.
fn number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return count(i);
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if f != 0.0 && f.abs() < 0.001 {
        format!("{f:.2e}")
    } else {
        let text = format!("{f:.4}");
        let text = text.trim_end_matches('0');
        text.trim_end_matches('.').to_owned()
    }
}

/// A stored report (any JSON) as markup for reading: objects as two-column
/// tables, lists of objects as tables with a column per field, numbers for
/// people, long texts in boxes. Every text is escaped; nothing becomes a
/// link or markup.
pub(crate) fn report_html(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, 0);
    out
}

const MAX_ROWS: usize = 200;

fn write_value(out: &mut String, value: &serde_json::Value, depth: usize) {
    use serde_json::Value;
    match value {
        Value::Null => out.push_str("<span class=\"muted\">none</span>"),
        Value::Bool(b) => out.push_str(if *b { "yes" } else { "no" }),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) if s.contains('\n') || s.chars().count() > 160 => {
            let _ = write!(out, "<pre>{}</pre>", escape(&clip(s, 4000)));
        }
        Value::String(s) => out.push_str(&escape(s)),
        _ if depth >= 6 => {
            let _ = write!(out, "<code>{}</code>", escape(&clip(&value.to_string(), 400)));
        }
        Value::Array(items) if items.is_empty() => out.push_str("<span class=\"muted\">none</span>"),
        Value::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
            let texts: Vec<String> = items
                .iter()
                .take(MAX_ROWS)
                .map(|v| {
                    let mut cell = String::new();
                    write_value(&mut cell, v, depth + 1);
                    cell
                })
                .collect();
            out.push_str(&texts.join(", "));
            if items.len() > MAX_ROWS {
                let _ = write!(out, " … ({} more)", count((items.len() - MAX_ROWS) as i64));
            }
        }
        Value::Array(items) if items.iter().all(Value::is_object) => {
            let mut columns: Vec<&str> = Vec::new();
            for item in items.iter().take(MAX_ROWS) {
                for key in item.as_object().into_iter().flat_map(|o| o.keys()) {
                    if !columns.contains(&key.as_str()) {
                        columns.push(key);
                    }
                }
            }
            out.push_str("<table class=\"report-list\"><thead><tr>");
            for c in &columns {
                let _ = write!(out, "<th>{}</th>", escape(&c.replace('_', " ")));
            }
            out.push_str("</tr></thead><tbody>");
            for item in items.iter().take(MAX_ROWS) {
                out.push_str("<tr>");
                for c in &columns {
                    let cell = &item[*c];
                    let class = if cell.is_number() { " class=\"n\"" } else { "" };
                    let _ = write!(out, "<td{class}>");
                    write_value(out, cell, depth + 1);
                    out.push_str("</td>");
                }
                out.push_str("</tr>");
            }
            out.push_str("</tbody></table>");
            if items.len() > MAX_ROWS {
                let _ = write!(out, "<p class=\"muted\">… and {} more</p>", count((items.len() - MAX_ROWS) as i64));
            }
        }
        Value::Array(items) => {
            out.push_str("<ol>");
            for item in items.iter().take(MAX_ROWS) {
                out.push_str("<li>");
                write_value(out, item, depth + 1);
                out.push_str("</li>");
            }
            out.push_str("</ol>");
        }
        Value::Object(fields) => {
            out.push_str("<table class=\"report-fields\"><tbody>");
            for (key, field) in fields {
                let _ = write!(out, "<tr><th>{}</th><td>", escape(&key.replace('_', " ")));
                write_value(out, field, depth + 1);
                out.push_str("</td></tr>");
            }
            out.push_str("</tbody></table>");
        }
    }
}

/// Text for markup built by hand (the charts, the graph, reports): the
/// case file's escaping, one rule for every page.
pub(crate) use dw_app::escape_html as escape;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(-1_234_567), "-1,234,567");
        assert_eq!(risk(0.305_891_307), "0.31");
    }

    #[test]
    fn query_values_cannot_break_out_of_their_parameter() {
        assert_eq!(query(&[("a", "x y&z=<b>"), ("b", ""), ("c", "ü")]), "a=x%20y%26z%3D%3Cb%3E&c=%C3%BC");
        assert_eq!(encode("../../v1/keys"), "..%2F..%2Fv1%2Fkeys");
    }

    #[test]
    fn text_is_clipped_on_character_boundaries() {
        assert_eq!(clip("héllo wörld", 5), "héllo […]");
        assert_eq!(clip("short", 10), "short");
    }

    #[test]
    fn the_cluster_graph_joins_the_members_each_edge_names_and_escapes_its_texts() {
        let members =
            [("<script>alert(1)</script>".to_owned(), 0.9, true), ("b".into(), 0.1, false), ("c".into(), 0.5, false)];
        let edges = [
            (vec!["<script>alert(1)</script>".to_owned(), "b".into()], "one <b>client</b>".to_owned()),
            (vec!["b".to_owned(), "c".into(), "not a member".into()], "one /24".to_owned()),
        ];
        let svg = cluster_svg(&members, &edges);
        assert!(!svg.contains("<script>") && !svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;") && svg.contains("one &lt;b&gt;client&lt;/b&gt;"));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert_eq!(svg.matches("<rect class=\"hub\"").count(), 2);
        assert_eq!(svg.matches("<line").count(), 4, "a line per member an edge joins, none to strangers");
    }

    #[test]
    fn reports_read_as_tables_and_escape_every_text() {
        let report = serde_json::json!({
            "decision": "rejected",
            "p_value": 0.00012,
            "effect": 0.5661,
            "items": 12345,
            "accounts": [{"account_id": "<script>x</script>", "q_value": 0.004}, {"account_id": "b", "items": 31}],
            "phrases": ["as an AI", "<b>"],
        });
        let html = report_html(&report);
        assert!(!html.contains("<script>") && !html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(html.contains("1.20e-4") && html.contains("0.5661") && html.contains("12,345"), "{html}");
        assert!(html.contains("<th>account id</th><th>q value</th><th>items</th>"), "one column per field: {html}");
        assert_eq!(html.matches("<tr>").count(), 6 + 1 + 2, "six fields, a header, two accounts: {html}");
    }

    #[test]
    fn templates_escape_what_they_are_given() {
        let page = ErrorPage { nav: None, title: "t".into(), message: "<img src=x onerror=alert(1)>".into() };
        let html = page.render().unwrap();
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.contains("&#60;img src=x onerror=alert(1)&#62;") || html.contains("&lt;img"), "{html}");
    }
}
