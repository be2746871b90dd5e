//! A tiny BERT with seeded random weights, written to a temporary folder in
//! the sentence-transformers layout: fast tests of loading, tokenization,
//! batching and pooling without the real model.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use serde_json::json;

pub const HIDDEN: usize = 32;
const LAYERS: usize = 2;
const INTERMEDIATE: usize = 64;
const POSITIONS: usize = 64;

/// A deterministic stream of values in [-scale, scale].
struct Seeded(u64);

impl Seeded {
    fn values(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (((self.0 >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0) * scale
            })
            .collect()
    }
}

fn vocab() -> Vec<String> {
    let mut words: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"].iter().map(|s| s.to_string()).collect();
    words.extend(
        ["the", "cat", "sat", "on", "mat", "hello", "world", "step", "by", "think", ".", ",", "?", "!"]
            .map(String::from),
    );
    for c in 'a'..='z' {
        words.push(c.to_string());
        words.push(format!("##{c}"));
    }
    words
}

/// Writes the tiny model to `dir` with weights drawn from `seed`, and the
/// given pooling mode (`mean`, `cls`, `max`, `mean_sqrt_len`).
pub fn write_tiny_model(dir: &Path, seed: u64, pooling: &str) {
    std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
    let vocab = vocab();
    let config = json!({
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": vocab.len(),
        "hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": 4,
        "intermediate_size": INTERMEDIATE, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "max_position_embeddings": POSITIONS, "type_vocab_size": 2,
        "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0, "classifier_dropout": null
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let modes = ["cls", "mean", "max", "mean_sqrt_len"];
    assert!(modes.contains(&pooling));
    let mut pool = serde_json::Map::new();
    pool.insert("word_embedding_dimension".into(), json!(HIDDEN));
    for mode in modes {
        let key =
            if mode == "cls" { "pooling_mode_cls_token".to_owned() } else { format!("pooling_mode_{mode}_tokens") };
        pool.insert(key, json!(mode == pooling));
    }
    std::fs::write(dir.join("1_Pooling/config.json"), serde_json::Value::Object(pool).to_string()).unwrap();
    std::fs::write(dir.join("sentence_bert_config.json"), json!({"max_seq_length": 16}).to_string()).unwrap();

    let ids: serde_json::Map<String, serde_json::Value> =
        vocab.iter().enumerate().map(|(i, w)| (w.clone(), json!(i))).collect();
    let added: Vec<serde_json::Value> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"id": i, "special": true, "content": t, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false})
        })
        .collect();
    let tokenizer = json!({
        "version": "1.0", "truncation": {"max_length": 8, "strategy": "LongestFirst", "stride": 0},
        "padding": {"strategy": {"Fixed": 8}, "direction": "Right", "pad_to_multiple_of": null, "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"},
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]}, "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": ids}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();

    let mut rng = Seeded(seed);
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    let mut put = |name: &str, shape: &[usize], values: Vec<f32>| {
        tensors.insert(name.to_owned(), Tensor::from_vec(values, shape, &Device::Cpu).unwrap());
    };
    let mut random = |n: usize, scale: f32| rng.values(n, scale);
    let ones = |n: usize, noise: Vec<f32>| noise.into_iter().take(n).map(|v| 1.0 + v).collect::<Vec<f32>>();
    put("embeddings.word_embeddings.weight", &[vocab.len(), HIDDEN], random(vocab.len() * HIDDEN, 0.5));
    put("embeddings.position_embeddings.weight", &[POSITIONS, HIDDEN], random(POSITIONS * HIDDEN, 0.1));
    put("embeddings.token_type_embeddings.weight", &[2, HIDDEN], random(2 * HIDDEN, 0.1));
    put("embeddings.LayerNorm.weight", &[HIDDEN], ones(HIDDEN, random(HIDDEN, 0.1)));
    put("embeddings.LayerNorm.bias", &[HIDDEN], random(HIDDEN, 0.1));
    for layer in 0..LAYERS {
        let p = format!("encoder.layer.{layer}");
        for part in ["query", "key", "value"] {
            put(&format!("{p}.attention.self.{part}.weight"), &[HIDDEN, HIDDEN], random(HIDDEN * HIDDEN, 0.3));
            put(&format!("{p}.attention.self.{part}.bias"), &[HIDDEN], random(HIDDEN, 0.1));
        }
        put(&format!("{p}.attention.output.dense.weight"), &[HIDDEN, HIDDEN], random(HIDDEN * HIDDEN, 0.3));
        put(&format!("{p}.attention.output.dense.bias"), &[HIDDEN], random(HIDDEN, 0.1));
        put(&format!("{p}.attention.output.LayerNorm.weight"), &[HIDDEN], ones(HIDDEN, random(HIDDEN, 0.1)));
        put(&format!("{p}.attention.output.LayerNorm.bias"), &[HIDDEN], random(HIDDEN, 0.1));
        put(&format!("{p}.intermediate.dense.weight"), &[INTERMEDIATE, HIDDEN], random(INTERMEDIATE * HIDDEN, 0.3));
        put(&format!("{p}.intermediate.dense.bias"), &[INTERMEDIATE], random(INTERMEDIATE, 0.1));
        put(&format!("{p}.output.dense.weight"), &[HIDDEN, INTERMEDIATE], random(HIDDEN * INTERMEDIATE, 0.3));
        put(&format!("{p}.output.dense.bias"), &[HIDDEN], random(HIDDEN, 0.1));
        put(&format!("{p}.output.LayerNorm.weight"), &[HIDDEN], ones(HIDDEN, random(HIDDEN, 0.1)));
        put(&format!("{p}.output.LayerNorm.bias"), &[HIDDEN], random(HIDDEN, 0.1));
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
}
