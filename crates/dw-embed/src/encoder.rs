//! The sentence encoder: tokenizer, BERT, pooling, normalization.

use std::path::Path;

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::BertModel;
use tokenizers::{Tokenizer, TruncationParams};

use crate::cpu_bert::CpuBert;
use crate::{DeviceChoice, EmbedError, ModelFiles, Pooling, Precision};

/// The network behind an encoder: on the CPU the engine's own forward pass
/// ([`CpuBert`]: packed sequences, no padding), elsewhere candle's.
enum Network {
    Cpu(CpuBert),
    Candle(BertModel),
}

/// How to load an encoder.
#[derive(Debug, Clone)]
pub struct EncoderOptions {
    /// Where to run.
    pub device: DeviceChoice,
    /// Truncate texts to this many tokens (special tokens included); `None`
    /// takes the length the model was trained with, else 256.
    pub max_tokens: Option<usize>,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// The dense layers' arithmetic; `Int8` is for the CPU only.
    pub precision: Precision,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        Self { device: DeviceChoice::Cpu, max_tokens: None, batch_size: 32, precision: Precision::Float32 }
    }
}

/// A loaded sentence encoder. Synchronous and CPU-heavy: call it from a
/// blocking thread, or through [`crate::EmbedHandle`].
pub struct Encoder {
    network: Network,
    tokenizer: Tokenizer,
    pooling: Pooling,
    max_tokens: usize,
    batch_size: usize,
    device: Device,
    device_choice: DeviceChoice,
    dim: usize,
    model_id: String,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("model_id", &self.model_id)
            .field("dim", &self.dim)
            .field("pooling", &self.pooling)
            .field("max_tokens", &self.max_tokens)
            .field("device", &self.device)
            .finish()
    }
}

impl Encoder {
    /// Loads the model folder `dir`.
    pub fn load(dir: &Path, options: &EncoderOptions) -> Result<Self, EmbedError> {
        if options.precision == Precision::Int8 && options.device != DeviceChoice::Cpu {
            return Err(EmbedError::Invalid(format!(
                "precision int8 runs on the CPU; on {} the encoder runs float16",
                options.device
            )));
        }
        let files = ModelFiles::open(dir)?;
        let device = options.device.open()?;
        let config = files.bert_config()?;
        let pooling = files.pooling()?;
        let max_tokens = options
            .max_tokens
            .or_else(|| files.trained_max_tokens())
            .unwrap_or(256)
            .min(config.max_position_embeddings);
        if max_tokens < 2 {
            return Err(EmbedError::Invalid("max_tokens must be at least 2 ([CLS] and [SEP])".into()));
        }
        let bytes = std::fs::read(&files.weights).map_err(|e| EmbedError::io(&files.weights, e))?;
        let corrupt = |reason: String| EmbedError::CorruptFile { path: files.weights.clone(), reason };
        let network = if device.is_cpu() {
            let tensors = candle_core::safetensors::load_buffer(&bytes, &device).map_err(|e| corrupt(e.to_string()))?;
            let mut bert = CpuBert::from_tensors(&tensors, &config).map_err(corrupt)?;
            if options.precision == Precision::Int8 {
                bert.quantize().map_err(EmbedError::Invalid)?;
            }
            Network::Cpu(bert)
        } else {
            let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F16, &device)
                .map_err(|e| corrupt(e.to_string()))?;
            Network::Candle(BertModel::load(vb, &config).map_err(|e| corrupt(e.to_string()))?)
        };
        let mut tokenizer = Tokenizer::from_file(&files.tokenizer)
            .map_err(|e| EmbedError::CorruptFile { path: files.tokenizer.clone(), reason: e.to_string() })?;
        // tokenizer.json may carry its own truncation and fixed padding (128 for
        // all-MiniLM-L6-v2); sentence-transformers overrides both, and so do we.
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max_tokens, ..Default::default() }))
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(None);
        let model_id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
        Ok(Self {
            network,
            tokenizer,
            pooling,
            max_tokens,
            batch_size: options.batch_size.max(1),
            device,
            device_choice: options.device,
            dim: config.hidden_size,
            model_id,
        })
    }

    /// Length of the output vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The model's name (its folder's name), stored beside every vector.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Where it runs.
    pub fn device(&self) -> DeviceChoice {
        self.device_choice
    }

    /// The dense layers' arithmetic.
    pub fn precision(&self) -> Precision {
        match &self.network {
            Network::Cpu(bert) if bert.is_quantized() => Precision::Int8,
            _ => Precision::Float32,
        }
    }

    /// The truncation length in tokens.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// The pooling in use.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Tokens each text becomes (after truncation, special tokens included).
    pub fn count_tokens(&self, texts: &[&str]) -> Result<Vec<usize>, EmbedError> {
        let encodings =
            self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        Ok(encodings.iter().map(|e| e.get_ids().len()).collect())
    }

    /// One L2-normalized vector per text, in input order. Texts are sorted by
    /// length and batched so that a batch pads to similar lengths; the result
    /// does not depend on the batch size or the other texts.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(self.embed_counting(texts)?.0)
    }

    /// [`Encoder::embed`], also returning the tokens each text became (from
    /// the same tokenization, for throughput figures).
    pub fn embed_counting(&self, texts: &[&str]) -> Result<(Vec<Vec<f32>>, Vec<usize>), EmbedError> {
        if texts.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let encodings =
            self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let counts: Vec<usize> = encodings.iter().map(|e| e.get_ids().len()).collect();
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(counts[i]));
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(self.batch_size) {
            let ids: Vec<&[u32]> = chunk.iter().map(|&i| encodings[i].get_ids()).collect();
            let vectors = self.embed_batch(&ids)?;
            for (&i, vector) in chunk.iter().zip(vectors) {
                out[i] = vector;
            }
        }
        Ok((out, counts))
    }

    fn embed_batch(&self, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        match &self.network {
            Network::Cpu(bert) => {
                let hidden = bert.forward(ids).map_err(EmbedError::Invalid)?;
                let mut rows = hidden.chunks_exact(self.dim);
                Ok(ids
                    .iter()
                    .map(|tokens| {
                        let sequence: Vec<&[f32]> = rows.by_ref().take(tokens.len()).collect();
                        normalize(pool(self.pooling, &sequence, self.dim))
                    })
                    .collect())
            }
            Network::Candle(model) => self.embed_batch_candle(model, ids),
        }
    }

    fn embed_batch_candle(&self, model: &BertModel, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let len = ids.iter().map(|t| t.len()).max().unwrap_or(0).max(1);
        let mut flat_ids = Vec::with_capacity(ids.len() * len);
        let mut flat_mask = Vec::with_capacity(ids.len() * len);
        for tokens in ids {
            flat_ids.extend_from_slice(tokens);
            flat_ids.extend(std::iter::repeat_n(0u32, len - tokens.len()));
            flat_mask.extend(std::iter::repeat_n(1u32, tokens.len()));
            flat_mask.extend(std::iter::repeat_n(0u32, len - tokens.len()));
        }
        let shape = (ids.len(), len);
        let input_ids = Tensor::from_vec(flat_ids, shape, &self.device)?;
        let mask = Tensor::from_vec(flat_mask, shape, &self.device)?;
        let type_ids = input_ids.zeros_like()?;
        let hidden = model.forward(&input_ids, &type_ids, Some(&mask))?.to_dtype(DType::F32)?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // [b, len, 1]
        let pooled = match self.pooling {
            Pooling::Cls => hidden.i((.., 0, ..))?,
            Pooling::Mean => hidden.broadcast_mul(&mask)?.sum(1)?.broadcast_div(&mask.sum(1)?)?,
            Pooling::MeanSqrtLen => hidden.broadcast_mul(&mask)?.sum(1)?.broadcast_div(&mask.sum(1)?.sqrt()?)?,
            Pooling::Max => {
                // Padding positions get a large negative value so they never win.
                let penalty = ((mask.clone() - 1.0)? * 1e9)?;
                hidden.broadcast_add(&penalty)?.max(1)?
            }
        };
        // As sentence-transformers' Normalize: divide by max(‖v‖₂, 1e-12).
        let norms = pooled.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
        let normalized = pooled.broadcast_div(&norms)?;
        Ok(normalized.to_vec2::<f32>()?)
    }
}

/// One text's vector from its tokens' hidden states, as the pooling config says.
fn pool(pooling: Pooling, tokens: &[&[f32]], dim: usize) -> Vec<f32> {
    let mut out = match pooling {
        Pooling::Cls => return tokens.first().map(|t| t.to_vec()).unwrap_or_else(|| vec![0.0; dim]),
        Pooling::Max => vec![f32::NEG_INFINITY; dim],
        Pooling::Mean | Pooling::MeanSqrtLen => vec![0.0; dim],
    };
    for token in tokens {
        for (o, &v) in out.iter_mut().zip(*token) {
            match pooling {
                Pooling::Max => *o = o.max(v),
                _ => *o += v,
            }
        }
    }
    let divisor = match pooling {
        Pooling::Mean => tokens.len().max(1) as f32,
        Pooling::MeanSqrtLen => (tokens.len().max(1) as f32).sqrt(),
        Pooling::Cls | Pooling::Max => 1.0,
    };
    out.iter_mut().for_each(|v| *v /= divisor);
    out
}

/// As sentence-transformers' Normalize: divide by max(‖v‖₂, 1e-12).
fn normalize(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}
