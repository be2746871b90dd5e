//! Ids for events that arrive without one.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// A stable id for an event that has no `event_id`: `h:` and the first 128 bits
/// of the SHA-256 of the event's canonical JSON (object keys sorted, no
/// whitespace), so that the same content always gets the same id whatever the
/// key order or spacing it was sent with.
pub fn content_hash(event: &Value) -> String {
    let mut hasher = Sha256::new();
    feed(&mut hasher, event);
    let digest = hasher.finalize();
    format!("h:{}", hex::encode(&digest[..16]))
}

fn feed(hasher: &mut Sha256, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            hasher.update(b"{");
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    hasher.update(b",");
                }
                feed_string(hasher, key);
                hasher.update(b":");
                feed(hasher, &map[key]);
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    hasher.update(b",");
                }
                feed(hasher, item);
            }
            hasher.update(b"]");
        }
        Value::String(s) => feed_string(hasher, s),
        other => hasher.update(other.to_string().as_bytes()),
    }
}

fn feed_string(hasher: &mut Sha256, s: &str) {
    // serde_json's escaping is deterministic; reuse it for strings.
    hasher.update(Value::String(s.to_owned()).to_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_and_spacing_do_not_change_the_hash() {
        let a: Value = serde_json::from_str(r#"{"a":1,"b":{"x":"y","z":[1,2]}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "b": { "z": [1, 2], "x": "y" }, "a": 1 }"#).unwrap();
        assert_eq!(content_hash(&a), content_hash(&b));
    }

    #[test]
    fn any_change_of_content_changes_the_hash() {
        let a: Value = serde_json::from_str(r#"{"a":1,"b":"x"}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":1,"b":"y"}"#).unwrap();
        let c: Value = serde_json::from_str(r#"{"a":"1","b":"x"}"#).unwrap();
        assert_ne!(content_hash(&a), content_hash(&b));
        assert_ne!(content_hash(&a), content_hash(&c));
        assert!(content_hash(&a).starts_with("h:"));
        assert_eq!(content_hash(&a).len(), 34);
    }
}
