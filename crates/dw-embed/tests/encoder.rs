//! Loading, tokenization, batching and pooling on a tiny seeded BERT.

mod common;

use dw_embed::{EmbedError, EmbedHandle, Encoder, EncoderOptions, Pooling};

const TEXTS: [&str; 7] = [
    "the cat sat on the mat",
    "hello",
    "think step by step",
    "",
    "a much longer text that will be truncated because it has far more tokens than the limit allows",
    "Hello, World!",
    "xyz qqq",
];

fn options(batch_size: usize) -> EncoderOptions {
    EncoderOptions { batch_size, ..EncoderOptions::default() }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn batch_results_equal_single_results_whatever_the_batch_size() {
    let dir = tempfile::tempdir().unwrap();
    common::write_tiny_model(dir.path(), 7, "mean");
    let encoder = Encoder::load(dir.path(), &options(3)).unwrap();
    assert_eq!(encoder.dim(), common::HIDDEN);
    assert_eq!(encoder.pooling(), Pooling::Mean);
    let batched = encoder.embed(&TEXTS).unwrap();
    assert_eq!(batched.len(), TEXTS.len());
    let big = Encoder::load(dir.path(), &options(64)).unwrap().embed(&TEXTS).unwrap();
    for (i, text) in TEXTS.iter().enumerate() {
        let single = encoder.embed(&[text]).unwrap().remove(0);
        assert!(cosine(&single, &batched[i]) > 0.99999, "{text:?} alone differs from in a batch");
        assert!(cosine(&big[i], &batched[i]) > 0.99999, "{text:?} differs across batch sizes");
        let norm: f32 = single.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{text:?} is not normalized: {norm}");
    }
    // Different texts get different vectors.
    assert!(cosine(&batched[0], &batched[1]) < 0.999);
}

#[test]
fn truncation_defaults_to_the_trained_length_and_overrides_tokenizer_json() {
    let dir = tempfile::tempdir().unwrap();
    common::write_tiny_model(dir.path(), 7, "mean");
    // tokenizer.json says 8 and fixed padding 8; sentence_bert_config.json says 16.
    let encoder = Encoder::load(dir.path(), &options(4)).unwrap();
    assert_eq!(encoder.max_tokens(), 16);
    let counts = encoder.count_tokens(&TEXTS).unwrap();
    assert_eq!(counts[1], 3, "[CLS] hello [SEP], not padded");
    assert_eq!(counts[3], 2, "empty text is [CLS] [SEP]");
    assert_eq!(counts[4], 16, "long text truncated at 16 with special tokens");
    let (vectors, counted) = encoder.embed_counting(&TEXTS).unwrap();
    assert_eq!(counted, counts, "embedding reports the same token counts");
    assert_eq!(vectors, encoder.embed(&TEXTS).unwrap());
    let short = Encoder::load(dir.path(), &EncoderOptions { max_tokens: Some(4), ..options(4) }).unwrap();
    assert_eq!(short.count_tokens(&TEXTS).unwrap()[0], 4);
    // Texts that differ only after the cut embed identically.
    let v = short.embed(&["the cat sat on the mat", "the cat sat on a hat"]).unwrap();
    assert!(cosine(&v[0], &v[1]) > 0.99999);
}

#[test]
fn every_pooling_mode_loads_and_differs() {
    let mut vectors = Vec::new();
    for mode in ["mean", "cls", "max", "mean_sqrt_len"] {
        let dir = tempfile::tempdir().unwrap();
        common::write_tiny_model(dir.path(), 11, mode);
        let encoder = Encoder::load(dir.path(), &options(8)).unwrap();
        let batched = encoder.embed(&TEXTS).unwrap();
        for (i, text) in TEXTS.iter().enumerate() {
            let single = encoder.embed(&[text]).unwrap().remove(0);
            assert!(cosine(&single, &batched[i]) > 0.99999, "{mode}: {text:?}");
        }
        vectors.push(batched[0].clone());
    }
    assert!(cosine(&vectors[0], &vectors[1]) < 0.9999, "mean and cls pooling must differ");
    assert!(cosine(&vectors[0], &vectors[2]) < 0.9999, "mean and max pooling must differ");
    // mean and mean/sqrt(len) differ only in scale, which normalization removes.
    assert!(cosine(&vectors[0], &vectors[3]) > 0.99999);
}

#[test]
fn missing_and_damaged_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    common::write_tiny_model(dir.path(), 7, "mean");
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let err = Encoder::load(dir.path(), &options(4)).unwrap_err();
    assert!(matches!(err, EmbedError::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("tokenizer.json") && err.to_string().contains("model fetch"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    common::write_tiny_model(dir.path(), 7, "mean");
    std::fs::write(dir.path().join("model.safetensors"), b"garbage").unwrap();
    let err = Encoder::load(dir.path(), &options(4)).unwrap_err();
    assert!(matches!(err, EmbedError::CorruptFile { .. }), "{err}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

#[tokio::test]
async fn the_async_handle_embeds_on_its_own_thread_and_refuses_when_full() {
    let dir = tempfile::tempdir().unwrap();
    common::write_tiny_model(dir.path(), 7, "mean");
    let direct = Encoder::load(dir.path(), &options(4)).unwrap().embed(&TEXTS).unwrap();
    let handle = EmbedHandle::spawn(Encoder::load(dir.path(), &options(4)).unwrap(), 1).unwrap();
    let texts: Vec<String> = TEXTS.iter().map(|t| t.to_string()).collect();
    let via_handle = handle.clone().embed(texts.clone()).await.unwrap();
    assert_eq!(via_handle, direct);

    // Flood a queue of one: some calls must be refused with Overloaded, and
    // every accepted one must still be answered correctly.
    let many: Vec<String> = (0..200).map(|i| format!("the cat sat {i}")).collect();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let handle = handle.clone();
            let many = many.clone();
            tokio::spawn(async move { handle.embed(many).await })
        })
        .collect();
    let mut overloaded = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(vectors) => assert_eq!(vectors.len(), 200),
            Err(EmbedError::Overloaded) => overloaded += 1,
            Err(other) => panic!("{other}"),
        }
    }
    assert!(overloaded > 0, "a full queue must answer Overloaded");
    assert_eq!(handle.embed_waiting(texts).await.unwrap(), direct);
}
