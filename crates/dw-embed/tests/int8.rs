//! The int8 path on the real all-MiniLM-L6-v2: its vectors against the
//! float32 engine's and against sentence-transformers' for the golden texts
//! (issue #8 asks for cosine 0.995 or more to float32). Like the golden test,
//! it needs the model and fails without it.

use std::path::PathBuf;

use dw_embed::{DeviceChoice, Encoder, EncoderOptions, Precision};
use serde_json::Value;

fn model_dir() -> PathBuf {
    match std::env::var("DW_MODEL_DIR") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2"),
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    dot / (a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt())
}

#[test]
fn int8_vectors_stay_within_cosine_0_995_of_float32() {
    let dir = model_dir();
    dw_embed::fetch::verify(&dir).unwrap_or_else(|e| {
        panic!("the real model is needed for this test: {e} (run `cargo run -- model fetch`, or set DW_MODEL_DIR)")
    });
    let golden: Value = serde_json::from_str(include_str!("golden/minilm.json")).unwrap();
    let cases = golden["cases"].as_array().unwrap();
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    let float = Encoder::load(&dir, &EncoderOptions::default()).unwrap();
    let int8 =
        Encoder::load(&dir, &EncoderOptions { precision: Precision::Int8, ..EncoderOptions::default() }).unwrap();
    assert_eq!((float.precision(), int8.precision()), (Precision::Float32, Precision::Int8));
    let want = float.embed(&texts).unwrap();
    let got = int8.embed(&texts).unwrap();
    let mut worst = (1.0f32, "");
    let mut total = 0.0f32;
    for (((case, g), w), text) in cases.iter().zip(&got).zip(&want).zip(&texts) {
        let c = cosine(g, w);
        total += c;
        if c < worst.0 {
            worst = (c, text);
        }
        assert!(c >= 0.995, "cosine {c} to float32 for {text:?}");
        let reference: Vec<f32> =
            case["vector"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        assert!(cosine(g, &reference) >= 0.995, "to sentence-transformers, for {text:?}");
        assert!(c < 0.999_999, "int8 vectors must differ from float32's: is the path in use? {text:?}");
    }
    eprintln!("int8 vs float32: worst cosine {:.5} for {:?}, mean {:.5}", worst.0, worst.1, total / texts.len() as f32);
}

#[test]
fn int8_is_refused_off_the_cpu() {
    let options =
        EncoderOptions { device: DeviceChoice::Cuda(0), precision: Precision::Int8, ..EncoderOptions::default() };
    let err = Encoder::load(&model_dir(), &options).unwrap_err().to_string();
    // Refused before the device is opened, on every build.
    assert!(err.contains("precision int8 runs on the CPU"), "{err}");
    assert_eq!("int8".parse::<Precision>().unwrap(), Precision::Int8);
    assert!("int4".parse::<Precision>().unwrap_err().to_string().contains("float32 or int8"));
}
