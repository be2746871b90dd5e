//! Reference sets: a suspect model's outputs held against what we served.
//!
//! Two questions, kept apart because they need different evidence:
//! - **Was the suspect trained on our outputs?** [`distillation`]: for
//!   prompts both we and the suspect answered, is the suspect's answer closer
//!   to ours than a control model's answer to the same prompt is? A paired
//!   test over items with an effect size, an AUC and a p-value, that refuses
//!   to conclude on too few items; and [`panel`], the same question against
//!   a panel of controls (does the suspect stand out from how close
//!   unrelated models come?).
//! - **Which accounts harvested them?** [`attribution`]: the completions we
//!   served that a suspect's outputs reproduce, found by long shared word
//!   runs through an inverted index.
//!
//! Both compare answers to one prompt; [`align`] finds the prompts we served
//! that a set's items answer, exactly or near-identically. Where the suspect
//! answered other prompts than ours, [`fingerprint`] asks the first question
//! of its answers' manner: do they carry the phrases, openings, closings and
//! layout habits that tell our answers from other models'?
//!
//! [`lexical`] holds the text measures that need no model: word n-gram
//! overlap (verbatim reuse, which embeddings blur) and a length and format
//! profile (how an answer is laid out, which a student copies with the
//! content).

pub mod align;
pub mod attribution;
pub mod distillation;
pub mod fingerprint;
pub mod lexical;
pub mod panel;

pub use align::{Alignment, NEAR_IDENTICAL, PromptAligner};
pub use attribution::{
    AccountMatches, AccountTestEvidence, LexicalMatch, MatchThresholds, ReferenceIndex, reference_match_signal,
    reference_test_signal,
};
pub use distillation::{
    AlignedItem, Conclusion, DistillationTest, MIN_ALIGNED_ITEMS, Measure, MeasureResult, Similarities, TEST_NGRAM,
    TestConfig, benjamini_hochberg, compared_opening, distillation_test, similarities,
};
pub use fingerprint::{
    Answer, FeatureKind, FingerprintConfig, FingerprintFeature, FingerprintPanel, FingerprintStanding, FingerprintTest,
    ModelRate, fingerprint_test, permutation_p,
};
pub use lexical::{FormatProfile, Ngrams};
pub use panel::{MIN_CONTROLS, PanelItem, PanelTest, Standing, panel_test, student_t_upper};

/// The cosine of two vectors (0 when either is zero), summed in f64.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let denominator = norm(a) * norm(b);
    if denominator > 0.0 { dot / denominator } else { 0.0 }
}
