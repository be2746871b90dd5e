//! BERT's forward pass on the CPU, written for this engine's one job
//! (encoding a batch of texts) rather than as a general tensor program.
//!
//! What it does differently from running the model through candle's tensors:
//! - **no padding**: the batch's tokens are packed one sequence after another
//!   into a `[tokens, hidden]` matrix; the dense layers (nearly all of the
//!   work) run over exactly the real tokens, and attention runs per sequence
//!   over its own length, so no mask is needed;
//! - **one matrix product per projection**: query, key and value weights are
//!   stacked into one `[3·hidden, hidden]` matrix at load; biases are written
//!   into the destination first and the product accumulates onto them;
//! - **fused element-wise work**: residual + LayerNorm in one pass, GELU and
//!   softmax with vectorized `exp`/`erf` ([`crate::kernels`]);
//! - **buffers reused** across the layers of a batch, so large intermediates
//!   are not mapped afresh for every operation.
//!
//! Matrix products go to the `gemm` crate directly (rayon's threads for the
//! dense layers; one thread per task for attention, whose tasks, the batch's
//! sequences, are spread over rayon's threads).
//!
//! It computes the same function as candle's `BertModel` (a unit test below
//! compares them on a random model), and the golden test compares its vectors
//! with sentence-transformers'.

use std::collections::HashMap;

use candle_core::{DType, Tensor};
use candle_transformers::models::bert::{Config, HiddenAct};
use rayon::prelude::*;

use crate::kernels::int8::{self, PackedInt8};
use crate::kernels::{self, Mat, Threads};

/// Rows handed to one rayon task by the element-wise passes.
const ROWS_PER_TASK: usize = 16;

struct Linear {
    /// `[out, in]`, as PyTorch stores it (emptied once quantized).
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
    /// The weight in int8, when the encoder runs reduced precision.
    int8: Option<PackedInt8>,
}

impl Linear {
    /// `dst[rows, outputs] = src[rows, inputs] · weightᵀ + bias`.
    fn forward(&self, dst: &mut [f32], src: &[f32], rows: usize) {
        let dst = &mut dst[..rows * self.outputs];
        for row in dst.chunks_exact_mut(self.outputs) {
            row.copy_from_slice(&self.bias);
        }
        if let Some(packed) = &self.int8 {
            int8::matmul(dst, &src[..rows * self.inputs], rows, packed);
            return;
        }
        kernels::matmul(
            dst,
            self.outputs,
            Mat::rows(&src[..rows * self.inputs], rows, self.inputs, self.inputs),
            Mat::transposed(&self.weight, self.inputs, self.outputs, self.inputs),
            1.0,
            true,
            Threads::Pool,
        );
    }
}

struct LayerNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    /// Query, key and value stacked: outputs `[q | k | v]`.
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

#[derive(Debug, Clone, Copy)]
enum Activation {
    GeluErf,
    GeluTanh,
    Relu,
}

/// A BERT encoder's weights in plain vectors, ready for [`CpuBert::forward`].
pub(crate) struct CpuBert {
    hidden: usize,
    heads: usize,
    intermediate: usize,
    eps: f32,
    activation: Activation,
    vocab: usize,
    max_positions: usize,
    word: Vec<f32>,
    position: Vec<f32>,
    /// Token type 0's row: the encoder is given single texts.
    token_type: Vec<f32>,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
}

/// Where the weights live in a checkpoint: `embeddings.*` at the top, or under
/// `bert.` or the model type's name.
fn prefix(tensors: &HashMap<String, Tensor>, config: &Config) -> Option<String> {
    let mut candidates = vec![String::new(), "bert.".to_owned()];
    if let Some(kind) = &config.model_type {
        candidates.push(format!("{kind}."));
    }
    candidates.into_iter().find(|p| tensors.contains_key(&format!("{p}embeddings.word_embeddings.weight")))
}

impl CpuBert {
    /// Builds the encoder from a checkpoint's tensors; an error names the
    /// missing or misshapen tensor.
    pub fn from_tensors(tensors: &HashMap<String, Tensor>, config: &Config) -> Result<Self, String> {
        let hidden = config.hidden_size;
        let heads = config.num_attention_heads;
        if heads == 0 || !hidden.is_multiple_of(heads) {
            return Err(format!("hidden size {hidden} is not a multiple of {heads} attention heads"));
        }
        let p = prefix(tensors, config).ok_or("no tensor named embeddings.word_embeddings.weight")?;
        let get = |name: &str, shape: &[usize]| -> Result<Vec<f32>, String> {
            let full = format!("{p}{name}");
            let tensor = tensors.get(&full).ok_or_else(|| format!("missing tensor {full}"))?;
            if tensor.dims() != shape {
                return Err(format!("tensor {full} has shape {:?}, expected {shape:?}", tensor.dims()));
            }
            tensor
                .to_dtype(DType::F32)
                .and_then(|t| t.flatten_all())
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|e| format!("tensor {full}: {e}"))
        };
        let norm = |name: &str| -> Result<LayerNorm, String> {
            let (gamma, beta) =
                match (get(&format!("{name}.weight"), &[hidden]), get(&format!("{name}.bias"), &[hidden])) {
                    (Ok(g), Ok(b)) => (g, b),
                    (Err(e), _) | (_, Err(e)) => {
                        match (get(&format!("{name}.gamma"), &[hidden]), get(&format!("{name}.beta"), &[hidden])) {
                            (Ok(g), Ok(b)) => (g, b),
                            _ => return Err(e),
                        }
                    }
                };
            Ok(LayerNorm { gamma, beta })
        };
        let linear = |name: &str, inputs: usize, outputs: usize| -> Result<Linear, String> {
            Ok(Linear {
                weight: get(&format!("{name}.weight"), &[outputs, inputs])?,
                bias: get(&format!("{name}.bias"), &[outputs])?,
                inputs,
                outputs,
                int8: None,
            })
        };
        let intermediate = config.intermediate_size;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for index in 0..config.num_hidden_layers {
            let l = format!("encoder.layer.{index}");
            let (q, k, v) = (
                linear(&format!("{l}.attention.self.query"), hidden, hidden)?,
                linear(&format!("{l}.attention.self.key"), hidden, hidden)?,
                linear(&format!("{l}.attention.self.value"), hidden, hidden)?,
            );
            let qkv = Linear {
                weight: [q.weight, k.weight, v.weight].concat(),
                bias: [q.bias, k.bias, v.bias].concat(),
                inputs: hidden,
                outputs: 3 * hidden,
                int8: None,
            };
            layers.push(Layer {
                qkv,
                attention_out: linear(&format!("{l}.attention.output.dense"), hidden, hidden)?,
                attention_norm: norm(&format!("{l}.attention.output.LayerNorm"))?,
                intermediate: linear(&format!("{l}.intermediate.dense"), hidden, intermediate)?,
                output: linear(&format!("{l}.output.dense"), intermediate, hidden)?,
                output_norm: norm(&format!("{l}.output.LayerNorm"))?,
            });
        }
        let token_types = get("embeddings.token_type_embeddings.weight", &[config.type_vocab_size, hidden])?;
        Ok(Self {
            hidden,
            heads,
            intermediate,
            eps: config.layer_norm_eps as f32,
            activation: match config.hidden_act {
                HiddenAct::Gelu => Activation::GeluErf,
                HiddenAct::GeluApproximate => Activation::GeluTanh,
                HiddenAct::Relu => Activation::Relu,
            },
            vocab: config.vocab_size,
            max_positions: config.max_position_embeddings,
            word: get("embeddings.word_embeddings.weight", &[config.vocab_size, hidden])?,
            position: get("embeddings.position_embeddings.weight", &[config.max_position_embeddings, hidden])?,
            token_type: token_types[..hidden].to_vec(),
            embedding_norm: norm("embeddings.LayerNorm")?,
            layers,
        })
    }

    /// Runs the dense layers (every `Linear`) in int8 from now on
    /// ([`crate::kernels::int8`]); attention, LayerNorm and the embeddings
    /// stay float32.
    pub fn quantize(&mut self) -> Result<(), String> {
        for layer in &mut self.layers {
            for linear in [&mut layer.qkv, &mut layer.attention_out, &mut layer.intermediate, &mut layer.output] {
                linear.int8 = Some(PackedInt8::new(&linear.weight, linear.outputs, linear.inputs)?);
                // The float weights are not read again: free them.
                linear.weight = Vec::new();
            }
        }
        Ok(())
    }

    /// Whether [`CpuBert::quantize`] was called.
    pub fn is_quantized(&self) -> bool {
        self.layers.first().is_some_and(|l| l.qkv.int8.is_some())
    }

    /// The last layer's hidden state of every token of every sequence,
    /// sequences one after another: `[Σ lengths, hidden]`, row-major.
    /// Token ids must be below the vocabulary size and sequences no longer
    /// than the position table (the encoder truncates to it); an error says
    /// which.
    pub fn forward(&self, sequences: &[&[u32]]) -> Result<Vec<f32>, String> {
        let h = self.hidden;
        let lengths: Vec<usize> = sequences.iter().map(|s| s.len()).collect();
        let tokens: usize = lengths.iter().sum();
        if let Some(&longest) = lengths.iter().max()
            && longest > self.max_positions
        {
            return Err(format!(
                "a sequence of {longest} tokens is longer than the model's {} positions",
                self.max_positions
            ));
        }
        let mut x = vec![0f32; tokens * h];
        let mut rows = x.chunks_exact_mut(h);
        for sequence in sequences {
            for (position, &id) in sequence.iter().enumerate() {
                let id = id as usize;
                if id >= self.vocab {
                    return Err(format!("token id {id} is outside the vocabulary of {}", self.vocab));
                }
                let row = rows.next().expect("one row per token");
                let word = &self.word[id * h..(id + 1) * h];
                let pos = &self.position[position * h..(position + 1) * h];
                for (((out, &w), &p), &t) in row.iter_mut().zip(word).zip(pos).zip(&self.token_type) {
                    *out = w + p + t;
                }
            }
        }
        x.par_chunks_mut(h * ROWS_PER_TASK).for_each(|rows| {
            kernels::layer_norm(rows, &self.embedding_norm.gamma, &self.embedding_norm.beta, self.eps)
        });

        let mut qkv = vec![0f32; tokens * 3 * h];
        let mut context = vec![0f32; tokens * h];
        let mut y = vec![0f32; tokens * h];
        let mut inner = vec![0f32; tokens * self.intermediate];
        for layer in &self.layers {
            layer.qkv.forward(&mut qkv, &x, tokens);
            self.attention(&qkv, &mut context, &lengths);
            layer.attention_out.forward(&mut y, &context, tokens);
            self.add_norm(&mut y, &x, &layer.attention_norm);
            std::mem::swap(&mut x, &mut y);

            layer.intermediate.forward(&mut inner, &x, tokens);
            let activation = self.activation;
            inner.par_chunks_mut(self.intermediate * ROWS_PER_TASK).for_each(|chunk| match activation {
                Activation::GeluErf => kernels::gelu_erf(chunk),
                Activation::GeluTanh => kernels::gelu_tanh(chunk),
                Activation::Relu => kernels::relu(chunk),
            });
            layer.output.forward(&mut y, &inner, tokens);
            self.add_norm(&mut y, &x, &layer.output_norm);
            std::mem::swap(&mut x, &mut y);
        }
        Ok(x)
    }

    /// `y = LayerNorm(y + residual)`, row by row.
    fn add_norm(&self, y: &mut [f32], residual: &[f32], norm: &LayerNorm) {
        let span = self.hidden * ROWS_PER_TASK;
        y.par_chunks_mut(span)
            .zip(residual.par_chunks(span))
            .for_each(|(rows, res)| kernels::add_layer_norm(rows, res, &norm.gamma, &norm.beta, self.eps));
    }

    /// Scaled dot-product attention of every sequence over itself, head by
    /// head: `context` gets, for each token, its heads' outputs side by side.
    fn attention(&self, qkv: &[f32], context: &mut [f32], lengths: &[usize]) {
        let h = self.hidden;
        let d = h / self.heads;
        let scale = 1.0 / (d as f32).sqrt();
        // Split both buffers into per-sequence pieces (disjoint, so the
        // sequences can run in parallel).
        let mut pieces = Vec::with_capacity(lengths.len());
        let (mut qkv_rest, mut context_rest) = (qkv, &mut context[..]);
        for &len in lengths {
            let (q, qr) = qkv_rest.split_at(len * 3 * h);
            let (c, cr) = std::mem::take(&mut context_rest).split_at_mut(len * h);
            pieces.push((len, q, c));
            qkv_rest = qr;
            context_rest = cr;
        }
        pieces.into_par_iter().for_each(|(len, qkv, context)| {
            let mut scores = vec![0f32; len * len];
            for head in 0..self.heads {
                let at = head * d;
                // scores = Q Kᵀ / √d
                let queries = Mat { data: &qkv[at..], rows: len, cols: d, row_stride: 3 * h, col_stride: 1 };
                let keys_t = Mat { data: &qkv[h + at..], rows: d, cols: len, row_stride: 1, col_stride: 3 * h };
                kernels::matmul(&mut scores, len, queries, keys_t, scale, false, Threads::One);
                kernels::softmax_rows(&mut scores, len);
                // context[:, head] = softmax · V
                let values = Mat { data: &qkv[2 * h + at..], rows: len, cols: d, row_stride: 3 * h, col_stride: 1 };
                kernels::matmul(
                    &mut context[at..],
                    h,
                    Mat::rows(&scores, len, len, len),
                    values,
                    1.0,
                    false,
                    Threads::One,
                );
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::VarBuilder;
    use candle_transformers::models::bert::BertModel;

    fn config(act: &str) -> Config {
        serde_json::from_value(serde_json::json!({
            "vocab_size": 40, "hidden_size": 24, "num_hidden_layers": 2, "num_attention_heads": 3,
            "intermediate_size": 48, "hidden_act": act, "hidden_dropout_prob": 0.0,
            "max_position_embeddings": 32, "type_vocab_size": 2, "initializer_range": 0.02,
            "layer_norm_eps": 1e-12, "pad_token_id": 0, "classifier_dropout": null, "model_type": "bert"
        }))
        .unwrap()
    }

    fn random_tensors(config: &Config, prefix: &str) -> HashMap<String, Tensor> {
        let mut state = 7u64;
        let mut values = |n: usize, scale: f32| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale
                })
                .collect()
        };
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let mut shapes: Vec<(String, Vec<usize>, f32)> = vec![
            ("embeddings.word_embeddings.weight".into(), vec![config.vocab_size, h], 1.0),
            ("embeddings.position_embeddings.weight".into(), vec![config.max_position_embeddings, h], 0.3),
            ("embeddings.token_type_embeddings.weight".into(), vec![2, h], 0.3),
            ("embeddings.LayerNorm.weight".into(), vec![h], 0.2),
            ("embeddings.LayerNorm.bias".into(), vec![h], 0.2),
        ];
        for l in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            for part in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"]
            {
                shapes.push((format!("{p}.{part}.weight"), vec![h, h], 0.4));
                shapes.push((format!("{p}.{part}.bias"), vec![h], 0.2));
            }
            shapes.push((format!("{p}.intermediate.dense.weight"), vec![i, h], 0.4));
            shapes.push((format!("{p}.intermediate.dense.bias"), vec![i], 0.2));
            shapes.push((format!("{p}.output.dense.weight"), vec![h, i], 0.3));
            shapes.push((format!("{p}.output.dense.bias"), vec![h], 0.2));
            for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
                shapes.push((format!("{p}.{norm}.weight"), vec![h], 0.2));
                shapes.push((format!("{p}.{norm}.bias"), vec![h], 0.2));
            }
        }
        shapes
            .into_iter()
            .map(|(name, shape, scale)| {
                let n = shape.iter().product();
                let mut v = values(n, scale);
                if name.ends_with("LayerNorm.weight") {
                    v.iter_mut().for_each(|x| *x += 1.0);
                }
                (format!("{prefix}{name}"), Tensor::from_vec(v, shape, &Device::Cpu).unwrap())
            })
            .collect()
    }

    /// The packed forward pass equals candle's padded, masked one, token by
    /// token, for every activation and checkpoint prefix.
    #[test]
    fn equals_candles_bert_on_a_random_model() {
        let sequences: Vec<Vec<u32>> = vec![
            (0..17).map(|i| (i * 7 + 3) % 40).collect(),
            vec![2, 5, 9, 3],
            (0..11).map(|i| (i * 13 + 1) % 40).collect(),
            vec![2, 3],
        ];
        let refs: Vec<&[u32]> = sequences.iter().map(|s| s.as_slice()).collect();
        for (act, prefix) in [("gelu", ""), ("geluapproximate", "bert."), ("relu", "")] {
            let config = config(act);
            let tensors = random_tensors(&config, prefix);
            let ours = CpuBert::from_tensors(&tensors, &config).unwrap();
            let packed = ours.forward(&refs).unwrap();

            let candle = BertModel::load(VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu), &config).unwrap();
            let len = 17;
            let mut ids = Vec::new();
            let mut mask = Vec::new();
            for s in &sequences {
                ids.extend(s.iter().copied().chain(std::iter::repeat_n(0, len - s.len())));
                mask.extend(std::iter::repeat_n(1u32, s.len()).chain(std::iter::repeat_n(0, len - s.len())));
            }
            let ids = Tensor::from_vec(ids, (4, len), &Device::Cpu).unwrap();
            let mask = Tensor::from_vec(mask, (4, len), &Device::Cpu).unwrap();
            let out = candle.forward(&ids, &ids.zeros_like().unwrap(), Some(&mask)).unwrap();
            let out: Vec<Vec<Vec<f32>>> = out.to_vec3().unwrap();

            let mut rows = packed.chunks_exact(24);
            let mut worst = 0f32;
            for (seq, theirs) in sequences.iter().zip(&out) {
                for token in theirs.iter().take(seq.len()) {
                    let ours = rows.next().unwrap();
                    for (a, b) in ours.iter().zip(token) {
                        worst = worst.max((a - b).abs());
                    }
                }
            }
            assert!(rows.next().is_none());
            assert!(worst < 2e-4, "{act}: largest difference {worst}");
        }
    }

    #[test]
    fn bad_ids_and_lengths_are_errors() {
        let config = config("gelu");
        let ours = CpuBert::from_tensors(&random_tensors(&config, ""), &config).unwrap();
        assert!(ours.forward(&[&[2, 40]]).unwrap_err().contains("token id 40"));
        let long = vec![1u32; 33];
        assert!(ours.forward(&[&long]).unwrap_err().contains("33 tokens"));
        assert!(ours.forward(&[]).unwrap().is_empty());
        let mut tensors = random_tensors(&config, "");
        tensors.remove("encoder.layer.1.output.dense.bias");
        let err = CpuBert::from_tensors(&tensors, &config).err().unwrap();
        assert!(err.contains("encoder.layer.1.output.dense.bias"), "{err}");
    }
}
