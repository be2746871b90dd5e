//! A model folder in the sentence-transformers layout.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::EmbedError;

/// How token vectors become one sentence vector (`1_Pooling/config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Mean of the non-padding token vectors.
    Mean,
    /// The `[CLS]` token's vector.
    Cls,
    /// Element-wise maximum over the non-padding tokens.
    Max,
    /// Sum of the token vectors divided by the square root of their count.
    MeanSqrtLen,
}

#[derive(Debug, Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Debug, Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

/// The files of a model folder, checked to exist.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// The folder.
    pub dir: PathBuf,
    /// `config.json`: the BERT architecture.
    pub config: PathBuf,
    /// `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// `model.safetensors`.
    pub weights: PathBuf,
    /// `1_Pooling/config.json`.
    pub pooling: PathBuf,
}

impl ModelFiles {
    /// Checks that `dir` holds every file the encoder needs; the error names
    /// the first missing one.
    pub fn open(dir: &Path) -> Result<Self, EmbedError> {
        let files = Self {
            dir: dir.to_owned(),
            config: dir.join("config.json"),
            tokenizer: dir.join("tokenizer.json"),
            weights: dir.join("model.safetensors"),
            pooling: dir.join("1_Pooling").join("config.json"),
        };
        for path in [&files.config, &files.tokenizer, &files.weights, &files.pooling] {
            if !path.is_file() {
                return Err(EmbedError::MissingFile { path: path.clone() });
            }
        }
        Ok(files)
    }

    /// The pooling the folder asks for.
    pub fn pooling(&self) -> Result<Pooling, EmbedError> {
        let text = std::fs::read_to_string(&self.pooling).map_err(|e| EmbedError::io(&self.pooling, e))?;
        let config: PoolingConfig = serde_json::from_str(&text)
            .map_err(|e| EmbedError::CorruptFile { path: self.pooling.clone(), reason: e.to_string() })?;
        let modes = [
            (config.pooling_mode_mean_tokens, Pooling::Mean),
            (config.pooling_mode_cls_token, Pooling::Cls),
            (config.pooling_mode_max_tokens, Pooling::Max),
            (config.pooling_mode_mean_sqrt_len_tokens, Pooling::MeanSqrtLen),
        ];
        let chosen: Vec<Pooling> = modes.iter().filter(|(on, _)| *on).map(|(_, p)| *p).collect();
        match chosen.as_slice() {
            [one] => Ok(*one),
            _ => Err(EmbedError::CorruptFile {
                path: self.pooling.clone(),
                reason: "exactly one pooling mode must be on (combined modes are not supported)".into(),
            }),
        }
    }

    /// The sequence length the model was trained with
    /// (`sentence_bert_config.json`), when the folder says.
    pub fn trained_max_tokens(&self) -> Option<usize> {
        let text = std::fs::read_to_string(self.dir.join("sentence_bert_config.json")).ok()?;
        serde_json::from_str::<SentenceBertConfig>(&text).ok()?.max_seq_length
    }

    /// The BERT configuration.
    pub fn bert_config(&self) -> Result<candle_transformers::models::bert::Config, EmbedError> {
        let text = std::fs::read_to_string(&self.config).map_err(|e| EmbedError::io(&self.config, e))?;
        serde_json::from_str(&text)
            .map_err(|e| EmbedError::CorruptFile { path: self.config.clone(), reason: e.to_string() })
    }
}
