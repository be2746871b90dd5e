//! Reference sets: a suspect model's outputs held against what we served.
//!
//! Two questions, kept apart because they need different evidence:
//! - **Was the suspect trained on our outputs?** [`distillation`]: for
//!   prompts both we and the suspect answered, is the suspect's answer closer
//!   to ours than a control model's answer to the same prompt is? A paired
//!   test over items with an effect size, an AUC and a p-value, that refuses
//!   to conclude on too few items.
//! - **Which accounts harvested them?** [`attribution`]: the completions we
//!   served that a suspect's outputs reproduce, found by long shared word
//!   runs through an inverted index.
//!
//! [`lexical`] holds the text measures that need no model: word n-gram
//! overlap (verbatim reuse, which embeddings blur) and a length and format
//! profile (how an answer is laid out, which a student copies with the
//! content).

pub mod attribution;
pub mod distillation;
pub mod lexical;

pub use attribution::{AccountMatches, LexicalMatch, MatchThresholds, ReferenceIndex, reference_match_signal};
pub use distillation::{
    AlignedItem, Conclusion, DistillationTest, Measure, MeasureResult, Similarities, TEST_NGRAM, TestConfig,
    compared_opening, distillation_test, similarities,
};
pub use lexical::{FormatProfile, Ngrams};
