//! Reference sets: outputs of a suspect model, or of a control model known
//! not to be trained on ours, that analysts hold against what we served.

use serde::Serialize;

/// One output of a reference set, as uploaded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferenceItem {
    /// The prompt the model was given, when known: what aligns the item with
    /// a prompt we served, which the distillation test needs.
    pub prompt: Option<String>,
    /// The model's output.
    pub output: String,
    /// The model that wrote it, when the set mixes several.
    pub model: Option<String>,
    /// Anything else the uploader kept (a JSON object).
    pub metadata: Option<serde_json::Value>,
    /// SHA-256 of the prompt and the output: the same item sent twice is
    /// stored once.
    #[serde(skip)]
    pub content_hash: [u8; 32],
}
