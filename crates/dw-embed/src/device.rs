//! The one place that knows whether this build has CUDA.

use std::str::FromStr;

use candle_core::Device;

use crate::EmbedError;

/// Where the encoder runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// The CPU (every build).
    #[default]
    Cpu,
    /// An NVIDIA GPU by ordinal (builds with the `cuda` feature).
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = EmbedError;

    fn from_str(s: &str) -> Result<Self, EmbedError> {
        match s.trim() {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| EmbedError::UnknownDevice(other.to_owned())),
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// The arithmetic of the encoder's dense layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// float32 everywhere (float16 on a GPU): vectors as sentence-transformers'.
    #[default]
    Float32,
    /// CPU only: int8 weights, 13-bit integer activations, i32 sums in the
    /// dense layers (attention, LayerNorm and pooling stay float32); faster,
    /// vectors at cosine ≥ 0.995 to float32's (tested on the real model).
    Int8,
}

impl FromStr for Precision {
    type Err = EmbedError;

    fn from_str(s: &str) -> Result<Self, EmbedError> {
        match s.trim() {
            "float32" | "f32" => Ok(Precision::Float32),
            "int8" => Ok(Precision::Int8),
            other => Err(EmbedError::Invalid(format!("unknown precision {other:?}: float32 or int8"))),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::Float32 => "float32",
            Precision::Int8 => "int8",
        })
    }
}

/// Whether this build can run on CUDA.
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

impl DeviceChoice {
    /// Opens the device; CUDA on a CPU-only build is an error that says so.
    pub fn open(self) -> Result<Device, EmbedError> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            #[cfg(feature = "cuda")]
            DeviceChoice::Cuda(n) => Ok(Device::new_cuda(n)?),
            #[cfg(not(feature = "cuda"))]
            DeviceChoice::Cuda(_) => Err(EmbedError::CudaNotBuilt(self.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert_eq!("cpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!("cuda".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda(3));
        assert!("tpu".parse::<DeviceChoice>().is_err());
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_on_a_cpu_build_is_a_clear_error() {
        let err = DeviceChoice::Cuda(0).open().unwrap_err();
        assert!(err.to_string().contains("--features cuda"), "{err}");
    }
}
