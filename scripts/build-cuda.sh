#!/usr/bin/env bash
# Builds `distillwatch` with the `cuda` feature on a machine with no CUDA
# toolkit and no GPU, using NVIDIA's compiler and libraries from PyPI, and
# writes a stripped binary for GPU hosts (which have no Rust toolchain) to
# dist/distillwatch-cuda.
#
#   scripts/build-cuda.sh                          # compute capability 90 (H100/H200)
#   CUDA_COMPUTE_CAP=80 scripts/build-cuda.sh
#   DW_CUDA_PROFILE=release scripts/build-cuda.sh  # reuse release artifacts, strip after
#
# What it takes, and why:
# - The GPU hosts run driver 580 (CUDA 13.0). candle's kernels are compiled to
#   PTX that the driver must understand, so the compiler is pinned to 13.0:
#   nvcc *and* nvvm. An unpinned nvidia-nvvm resolves to a newer release whose
#   PTX (.version 9.5) ptxas 13.0 refuses ("Unsupported .version 9.5").
# - candle links cudarc dynamically (-lcuda -lcudart -lcublas -lcublasLt
#   -lcurand -lnvrtc), so the link needs those libraries by their plain names.
#   The CUDA ones come from PyPI; libcuda.so belongs to the GPU driver, which
#   this machine does not have, so the link uses a stand-in that defines the
#   driver functions cudarc references and carries the driver's soname
#   (libcuda.so.1), exactly like the stub of the CUDA toolkit. At run time the
#   host's real driver library is loaded; the stand-in is never shipped.
# - At run time the GPU host needs libcudart.so.13, libcublas(Lt).so.13,
#   libcurand.so.10 and libnvrtc.so.13 on LD_LIBRARY_PATH (PyTorch's nvidia-*
#   packages provide them there).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${DW_CUDA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/distillwatch/cuda-13.0}"
[[ -x "$venv/bin/pip" ]] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check \
    "nvidia-cuda-nvcc==13.0.88" "nvidia-nvvm==13.0.88" "nvidia-cuda-crt==13.0.88" \
    "nvidia-cuda-runtime==13.0.96" "nvidia-cuda-cccl==13.0.85" "nvidia-cuda-nvrtc==13.0.88" \
    "nvidia-cublas==13.0.2.14" "nvidia-curand==10.4.0.35"
cuda_root=$(ls -d "$venv"/lib/python3*/site-packages/nvidia/cu13 | head -1)
"$cuda_root/bin/nvcc" --version | tail -1

target="${CARGO_TARGET_DIR:-target}"
profile="${DW_CUDA_PROFILE:-dist}"   # dist: release + thin LTO + stripped
link="$target/cuda-link"
mkdir -p "$link"
for lib in cudart.so.13 cublas.so.13 cublasLt.so.13 curand.so.10 nvrtc.so.13; do
    ln -sf "$cuda_root/lib/lib$lib" "$link/lib${lib%%.so*}.so"
done

export CUDA_ROOT="$cuda_root" CUDA_PATH="$cuda_root" CUDA_HOME="$cuda_root" PATH="$cuda_root/bin:$PATH"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}" SQLX_OFFLINE=true LIBRARY_PATH="$link${LIBRARY_PATH:+:$LIBRARY_PATH}"

# Compile everything first (the final link fails without the driver stand-in,
# which is generated from the driver functions the compiled cudarc references).
cargo build --profile "$profile" --locked --features cuda --bin distillwatch 2>/dev/null || true
if [[ ! -f "$link/libcuda.so" ]]; then
    nm "$target/$profile"/deps/libcudarc-*.rlib "$target/$profile"/deps/libcandle_core-*.rlib 2>/dev/null \
        | awk '$1 == "U" && $2 ~ /^cu[A-Z]/ {print $2}' | sort -u \
        | awk 'BEGIN {print "/* link-time stand-in for the driver library; never shipped */"} {print "void " $1 "(void) {}"}' \
        >"$link/driver-stub.c"
    cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$link/libcuda.so" "$link/driver-stub.c"
fi
cargo build --profile "$profile" --locked --features cuda --bin distillwatch
mkdir -p dist
cp "$target/$profile/distillwatch" dist/distillwatch-cuda
[[ "$profile" == dist ]] || strip dist/distillwatch-cuda
ls -l dist/distillwatch-cuda
