//! The real all-MiniLM-L6-v2 against vectors that sentence-transformers
//! (PyTorch, CPU) wrote for the same texts (scripts/golden/make_golden.py).
//!
//! The model must be present: `distillwatch model fetch` puts it in
//! `./models`, `.ci/run` fetches it once and caches it; DW_MODEL_DIR points
//! elsewhere. A missing model fails this test, it never skips it.

use std::path::PathBuf;

use dw_embed::{Encoder, EncoderOptions};
use serde_json::Value;

fn model_dir() -> PathBuf {
    match std::env::var("DW_MODEL_DIR") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2"),
    }
}

#[test]
fn matches_sentence_transformers_on_fifty_varied_texts() {
    let dir = model_dir();
    dw_embed::fetch::verify(&dir).unwrap_or_else(|e| {
        panic!("the real model is needed for this test: {e} (run `cargo run -- model fetch`, or set DW_MODEL_DIR)")
    });
    let golden: Value = serde_json::from_str(include_str!("golden/minilm.json")).expect("golden file is valid JSON");
    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 50);
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    let encoder = Encoder::load(&dir, &EncoderOptions { batch_size: 16, ..EncoderOptions::default() }).unwrap();
    assert_eq!(encoder.max_tokens(), golden["max_seq_length"].as_u64().unwrap() as usize);
    let tokens = encoder.count_tokens(&texts).unwrap();
    let vectors = encoder.embed(&texts).unwrap();
    let mut worst = (1.0f32, "");
    for ((case, vector), n) in cases.iter().zip(&vectors).zip(&tokens) {
        let text = case["text"].as_str().unwrap();
        assert_eq!(*n as u64, case["tokens"].as_u64().unwrap(), "token count of {text:?}");
        let want: Vec<f32> = case["vector"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let norm = want.iter().map(|v| v * v).sum::<f32>().sqrt();
        let cosine = vector.iter().zip(&want).map(|(a, b)| a * b).sum::<f32>() / norm;
        if cosine < worst.0 {
            worst = (cosine, text);
        }
        assert!(cosine >= 0.999, "cosine {cosine} for {text:?}");
    }
    eprintln!("worst cosine {:.7} for {:?}", worst.0, worst.1);
}
