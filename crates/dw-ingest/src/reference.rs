//! Reference-set items: one JSON object per line, `{prompt?, output, model?,
//! metadata?}`, validated with the rules and the errors of event ingest
//! (line numbers, field names, size limits, blank lines skipped but
//! counted).
//!
//! Unlike events, an item has no room for fields it does not define: a
//! misspelt `output` would otherwise store items with nothing to compare, so
//! an unknown field rejects its line and names the fields that exist.

use dw_domain::{LineError, ReferenceItem};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::validate::Limits;

/// The fields an item may have.
pub const REFERENCE_ITEM_FIELDS: [&str; 4] = ["prompt", "output", "model", "metadata"];

/// The longest `model` accepted.
const MAX_MODEL_LEN: usize = 512;

/// A parsed body of reference items.
#[derive(Debug, Default)]
pub struct ParsedReferenceItems {
    /// Valid items, in input order.
    pub items: Vec<ReferenceItem>,
    /// Invalid lines, in input order: the first [`Limits::max_listed_errors`].
    pub rejected: Vec<LineError>,
    /// Invalid lines beyond those listed.
    pub unlisted: u64,
    /// Non-blank lines seen.
    pub lines: u64,
    /// Why parsing stopped before the body's end, if it did.
    pub stopped: Option<crate::Stopped>,
}

/// Parses newline-delimited JSON items.
pub fn parse_reference_ndjson(body: &[u8], limits: &Limits) -> ParsedReferenceItems {
    let mut parsed = ParsedReferenceItems::default();
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if parsed.lines >= limits.max_items as u64 {
            parsed.stopped = Some(crate::Stopped::TooManyItems(limits.max_items));
            break;
        }
        if parsed.items.is_empty() && parsed.lines >= crate::HOPELESS_AFTER {
            parsed.stopped = Some(crate::Stopped::Hopeless(parsed.lines));
            break;
        }
        parsed.lines += 1;
        match parse_reference_item(line, i as u64 + 1, limits) {
            Ok(item) => parsed.items.push(item),
            Err(error) if parsed.rejected.len() < limits.max_listed_errors => {
                parsed.rejected.push(crate::bounded(error));
            }
            Err(_) => parsed.unlisted += 1,
        }
    }
    parsed
}

/// Parses and validates one item from its JSON text.
pub fn parse_reference_item(text: &[u8], line: u64, limits: &Limits) -> Result<ReferenceItem, LineError> {
    if text.len() > limits.max_event_bytes {
        return Err(LineError::line(
            line,
            format!("item is {} bytes, over the limit of {} bytes", text.len(), limits.max_event_bytes),
        ));
    }
    let value: Value = serde_json::from_slice(text).map_err(|e| {
        let message = e.to_string();
        let message = message.rfind(" at line ").map_or(message.as_str(), |i| &message[..i]).to_owned();
        LineError::line(line, format!("invalid JSON at column {}: {message}", e.column()))
    })?;
    let Value::Object(mut map) = value else {
        return Err(LineError::line(line, "expected a JSON object with an `output`"));
    };
    if let Some(unknown) = map.keys().find(|k| !REFERENCE_ITEM_FIELDS.contains(&k.as_str())) {
        return Err(LineError::field(
            line,
            unknown.clone(),
            format!("unknown field; an item has {}", REFERENCE_ITEM_FIELDS.join(", ")),
        ));
    }
    let mut text_field = |name: &str, required: bool| -> Result<Option<String>, LineError> {
        match map.remove(name) {
            None | Some(Value::Null) if required => Err(LineError::field(line, name, "required")),
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() && required => {
                Err(LineError::field(line, name, "must not be empty"))
            }
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.replace('\0', "\u{FFFD}"))),
            Some(_) => Err(LineError::field(line, name, "must be a string")),
        }
    };
    let output = text_field("output", true)?.expect("required above");
    let prompt = text_field("prompt", false)?;
    let model = text_field("model", false)?;
    if model.as_ref().is_some_and(|m| m.len() > MAX_MODEL_LEN) {
        return Err(LineError::field(line, "model", format!("longer than {MAX_MODEL_LEN} bytes")));
    }
    let metadata = match map.remove("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(object)) => {
            let mut value = Value::Object(object);
            scrub_nul(&mut value);
            Some(value)
        }
        Some(_) => return Err(LineError::field(line, "metadata", "must be a JSON object")),
    };
    let mut hasher = Sha256::new();
    // Length-prefixed, so that no prompt/output split collides with another.
    for part in [prompt.as_deref(), Some(output.as_str())] {
        let bytes = part.map(str::as_bytes);
        hasher.update(bytes.map_or(u64::MAX, |b| b.len() as u64).to_le_bytes());
        hasher.update(bytes.unwrap_or_default());
    }
    Ok(ReferenceItem { prompt, output, model, metadata, content_hash: hasher.finalize().into() })
}

/// PostgreSQL's `jsonb` cannot hold `\u0000`.
fn scrub_nul(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        Value::Array(items) => items.iter_mut().for_each(scrub_nul),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                let old = std::mem::take(map);
                map.extend(old.into_iter().map(|(k, v)| (k.replace('\0', "\u{FFFD}"), v)));
            }
            map.values_mut().for_each(scrub_nul);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_lines_are_kept_and_bad_ones_named_by_line_and_field() {
        let body = concat!(
            r#"{"prompt":"What is 2+2?","output":"4","model":"suspect-1","metadata":{"run":3}}"#,
            "\n\n",
            r#"{"output":"Paris is the capital of France."}"#,
            "\n",
            r#"{"prompt":"hi"}"#,
            "\n",
            r#"{"outptu":"typo"}"#,
            "\r\n",
            r#"{"output":17}"#,
            "\n",
            "not json\n",
            r#"{"output":"x","metadata":[1]}"#,
            "\n",
            r#"["output"]"#,
            "\n",
            r#"{"output":"   "}"#,
            "\n",
        );
        let parsed = parse_reference_ndjson(body.as_bytes(), &Limits::default());
        assert_eq!(parsed.lines, 9);
        assert_eq!(parsed.items.len(), 2);
        assert_eq!(parsed.items[0].prompt.as_deref(), Some("What is 2+2?"));
        assert_eq!(parsed.items[0].model.as_deref(), Some("suspect-1"));
        assert_eq!(parsed.items[0].metadata, Some(serde_json::json!({"run": 3})));
        assert_eq!(parsed.items[1].prompt, None);
        let errors: Vec<(u64, Option<&str>, &str)> =
            parsed.rejected.iter().map(|e| (e.line, e.field.as_deref(), e.error.as_str())).collect();
        assert_eq!(errors[0], (4, Some("output"), "required"));
        assert_eq!(errors[1].0, 5);
        assert_eq!(errors[1].1, Some("outptu"));
        assert!(errors[1].2.contains("prompt, output, model, metadata"), "{}", errors[1].2);
        assert_eq!(errors[2], (6, Some("output"), "must be a string"));
        assert_eq!((errors[3].0, errors[3].1), (7, None));
        assert!(errors[3].2.starts_with("invalid JSON at column 2"), "{}", errors[3].2);
        assert_eq!(errors[4], (8, Some("metadata"), "must be a JSON object"));
        assert_eq!(errors[5], (9, None, "expected a JSON object with an `output`"));
        assert_eq!(errors[6], (10, Some("output"), "must not be empty"));
    }

    #[test]
    fn the_content_hash_identifies_prompt_and_output_together() {
        let item = |text: &str| parse_reference_item(text.as_bytes(), 1, &Limits::default()).unwrap().content_hash;
        let a = item(r#"{"prompt":"ab","output":"c"}"#);
        assert_eq!(
            a,
            item(r#"{"output":"c","prompt":"ab","model":"m","metadata":{"k":1}}"#),
            "model and metadata are not content"
        );
        assert_ne!(a, item(r#"{"prompt":"a","output":"bc"}"#), "the split between prompt and output matters");
        assert_ne!(item(r#"{"output":"c"}"#), item(r#"{"prompt":"c","output":"c"}"#), "a prompt is content");
        assert_eq!(item(r#"{"output":"c"}"#), item(r#"{"prompt":" ","output":"c"}"#), "a blank prompt is no prompt");
    }

    #[test]
    fn oversized_lines_and_nul_characters() {
        let limits = Limits { max_event_bytes: 40, ..Limits::default() };
        let long = format!(r#"{{"output":"{}"}}"#, "x".repeat(50));
        let error = parse_reference_item(long.as_bytes(), 3, &limits).unwrap_err();
        assert_eq!(error.line, 3);
        assert!(error.error.contains("over the limit of 40 bytes"), "{}", error.error);
        let item =
            parse_reference_item(br#"{"output":"a\u0000b","metadata":{"k\u0000":"v\u0000"}}"#, 1, &Limits::default())
                .unwrap();
        assert_eq!(item.output, "a\u{FFFD}b");
        assert_eq!(item.metadata, Some(serde_json::json!({"k\u{FFFD}": "v\u{FFFD}"})));
    }
}
