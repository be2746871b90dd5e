#!/usr/bin/env bash
# Builds `distillwatch` with the `cuda` feature on a machine with no CUDA
# toolkit, using NVIDIA's compiler from PyPI, and writes a stripped binary
# for GPU hosts (which have no Rust toolchain) to dist/distillwatch-cuda.
#
#   scripts/build-cuda.sh            # compute capability 90 (H100/H200)
#   CUDA_COMPUTE_CAP=80 scripts/build-cuda.sh
#
# The GPU hosts run driver 580 (CUDA 13.0). The PTX that candle's kernels are
# compiled to must not be newer than the driver, so the compiler is pinned to
# 13.0 — nvcc *and* nvvm: an unpinned nvidia-nvvm resolves to a newer release
# whose PTX (.version 9.5) ptxas 13.0 refuses.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${DW_CUDA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/distillwatch/cuda-13.0}"
if [[ ! -x "$venv/bin/pip" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check \
    "nvidia-cuda-nvcc==13.0.88" "nvidia-nvvm==13.0.88" "nvidia-cuda-crt==13.0.88" \
    "nvidia-cuda-runtime==13.0.96" "nvidia-cuda-cccl==13.0.85"
cuda_root=$(ls -d "$venv"/lib/python3*/site-packages/nvidia/cu13 | head -1)
"$cuda_root/bin/nvcc" --version | tail -1

export CUDA_ROOT="$cuda_root" CUDA_PATH="$cuda_root" CUDA_HOME="$cuda_root" PATH="$cuda_root/bin:$PATH"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}" SQLX_OFFLINE=true
target="${CARGO_TARGET_DIR:-target}"
cargo build --profile dist --locked --features cuda --bin distillwatch
mkdir -p dist
cp "$target/dist/distillwatch" dist/distillwatch-cuda
ls -l dist/distillwatch-cuda
