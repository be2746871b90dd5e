//! The reduced-precision matrix product: int8 weights, activations in 13-bit
//! integers, products and sums in 32-bit integers, one float scale per weight
//! column and per activation row.
//!
//! - Weights (a PyTorch `Linear`'s `[out, in]`) are quantized once, per output
//!   column: `w ≈ q · s_w`, `q` in [-127, 127], `s_w = max |w| / 127`.
//! - Activations are quantized at each product, per row (token):
//!   `x ≈ q · s_x`, `q` in [-4095, 4095]; 13 bits keep the activations'
//!   outliers (LayerNorm outputs, GELU's long tail) from flattening the rest.
//! - The sum over the inputs is exact in i32: |q_x · q_w| ≤ 4095 · 127, so up
//!   to 4,128 inputs (2^31 / 520,065) cannot overflow; longer rows are refused.
//! - On AVX2 the kernel multiplies pairs of 16-bit values and adds each pair
//!   (`vpmaddwd`): 16 multiply-adds an instruction where float32 FMA does 8.
//!
//! Weights are packed for the kernel at load: 16 columns at a time, and for
//! every pair of inputs `(2p, 2p + 1)` the 16 columns' pairs side by side.

use rayon::prelude::*;

/// Largest activation magnitude after quantization.
const ACT_MAX: f32 = 4095.0;
/// Largest weight magnitude after quantization.
const WEIGHT_MAX: f32 = 127.0;
/// Longest input row whose i32 sums cannot overflow.
pub(crate) const MAX_INPUTS: usize = (i32::MAX as usize) / (4095 * 127);
/// Columns per kernel call (two AVX2 registers of eight i32).
const NR: usize = 16;
/// Rows per kernel call.
const MR: usize = 6;
/// Rows per task: their quantized activations stay in the core's cache while
/// every column block passes over them.
const ROW_BLOCK: usize = 96;

/// A weight matrix quantized and packed for [`matmul`].
pub(crate) struct PackedInt8 {
    /// `[column block][input pair][2 · NR]`.
    panels: Vec<i16>,
    /// Per output column.
    scales: Vec<f32>,
    inputs: usize,
    outputs: usize,
    pairs: usize,
}

impl PackedInt8 {
    /// Quantizes and packs `weight`, `[outputs, inputs]` row-major.
    pub fn new(weight: &[f32], outputs: usize, inputs: usize) -> Result<Self, String> {
        if weight.len() != outputs * inputs {
            return Err(format!("{} weights do not form a {outputs} × {inputs} matrix", weight.len()));
        }
        if inputs == 0 || outputs == 0 {
            return Err(format!("a {outputs} × {inputs} weight matrix has nothing to quantize"));
        }
        if inputs > MAX_INPUTS {
            return Err(format!("{inputs} inputs are more than int8 products can sum exactly ({MAX_INPUTS})"));
        }
        let pairs = inputs.div_ceil(2);
        let blocks = outputs.div_ceil(NR);
        let mut panels = vec![0i16; blocks * pairs * 2 * NR];
        let mut scales = Vec::with_capacity(outputs);
        for (o, row) in weight.chunks_exact(inputs).enumerate() {
            let top = super::max_abs(row);
            let scale = if top > 0.0 { top / WEIGHT_MAX } else { 1.0 };
            scales.push(scale);
            let (block, c) = (o / NR, o % NR);
            for (k, &w) in row.iter().enumerate() {
                let q = (w / scale).round().clamp(-WEIGHT_MAX, WEIGHT_MAX) as i16;
                let at = (block * pairs + k / 2) * 2 * NR + (c / 8) * 16 + (c % 8) * 2 + k % 2;
                panels[at] = q;
            }
        }
        Ok(Self { panels, scales, inputs, outputs, pairs })
    }
}

/// `dst[rows, outputs] += x[rows, inputs] · Wᵀ`, with `W` as packed.
pub(crate) fn matmul(dst: &mut [f32], x: &[f32], rows: usize, w: &PackedInt8) {
    let (inputs, outputs) = (w.inputs, w.outputs);
    assert!(x.len() >= rows * inputs && dst.len() >= rows * outputs, "buffers too small");
    if rows == 0 || outputs == 0 {
        return;
    }
    let stride = 2 * w.pairs;
    dst[..rows * outputs]
        .par_chunks_mut(ROW_BLOCK * outputs)
        .zip(x[..rows * inputs].par_chunks(ROW_BLOCK * inputs))
        .for_each(|(dst, x)| {
            let r = x.len() / inputs;
            let padded = w.outputs.div_ceil(NR) * NR;
            let mut qa = vec![0i16; r * stride];
            let mut sa = vec![0f32; r];
            for ((row, q), s) in x.chunks_exact(inputs).zip(qa.chunks_exact_mut(stride)).zip(sa.iter_mut()) {
                *s = quantize_row(row, q);
            }
            let mut sums = vec![0i32; r * padded];
            for (block, panel) in w.panels.chunks_exact(w.pairs * 2 * NR).enumerate() {
                let mut r0 = 0;
                while r0 < r {
                    let mr = (r - r0).min(MR);
                    let mut acc = [[0i32; NR]; MR];
                    kernel(&qa[r0 * stride..], stride, mr, panel, w.pairs, &mut acc);
                    for (i, acc) in acc.iter().enumerate().take(mr) {
                        let at = (r0 + i) * padded + block * NR;
                        sums[at..at + NR].copy_from_slice(acc);
                    }
                    r0 += mr;
                }
            }
            for ((dst, sums), &s) in dst.chunks_exact_mut(outputs).zip(sums.chunks_exact(padded)).zip(&sa) {
                dequantize_add(dst, &sums[..outputs], s, &w.scales);
            }
        });
}

vectorized! {
    /// Quantizes one row of activations into `out` (zero-padded past the
    /// row); returns its scale.
    fn quantize_row(row: &[f32], out: &mut [i16]) -> f32 {
        let top = super::max_abs(row);
        let scale = if top > 0.0 { top / ACT_MAX } else { 1.0 };
        let inv = 1.0 / scale;
        // Round to nearest by adding 1.5 · 2^23 (every |v · inv| ≤ 4095 then
        // lands where the float's last bit is 1) and reading the integer from
        // the bits: a shape the compiler vectorizes, unlike a float-to-int cast.
        const MAGIC: f32 = 12_582_912.0;
        for (q, &v) in out.iter_mut().zip(row) {
            *q = ((v * inv + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32) as i16;
        }
        let end = row.len().min(out.len());
        out[end..].fill(0);
        scale
    }
}

vectorized! {
    /// `out[c] += sums[c] · scale · scales[c]`.
    fn dequantize_add(out: &mut [f32], sums: &[i32], scale: f32, scales: &[f32]) {
        for ((o, &a), &s) in out.iter_mut().zip(sums).zip(scales) {
            *o += a as f32 * scale * s;
        }
    }
}

/// `acc[i][c] = Σ_p a[i · stride + 2p .. +2] · panel[p][c]` for `i < mr`.
fn kernel(a: &[i16], stride: usize, mr: usize, panel: &[i16], pairs: usize, acc: &mut [[i32; NR]; MR]) {
    assert!((1..=MR).contains(&mr) && a.len() >= (mr - 1) * stride + 2 * pairs && panel.len() >= pairs * 2 * NR);
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above); the bounds the
        // kernel reads within were asserted above.
        unsafe {
            match mr {
                1 => avx2::kernel::<1>(a, stride, panel, pairs, acc),
                2 => avx2::kernel::<2>(a, stride, panel, pairs, acc),
                3 => avx2::kernel::<3>(a, stride, panel, pairs, acc),
                4 => avx2::kernel::<4>(a, stride, panel, pairs, acc),
                5 => avx2::kernel::<5>(a, stride, panel, pairs, acc),
                _ => avx2::kernel::<6>(a, stride, panel, pairs, acc),
            }
        }
        return;
    }
    portable(a, stride, mr, panel, pairs, acc);
}

fn portable(a: &[i16], stride: usize, mr: usize, panel: &[i16], pairs: usize, acc: &mut [[i32; NR]; MR]) {
    for (i, acc) in acc.iter_mut().enumerate().take(mr) {
        for p in 0..pairs {
            let (a0, a1) = (a[i * stride + 2 * p] as i32, a[i * stride + 2 * p + 1] as i32);
            let block = &panel[p * 2 * NR..(p + 1) * 2 * NR];
            for (c, out) in acc.iter_mut().enumerate() {
                let at = (c / 8) * 16 + (c % 8) * 2;
                *out += a0 * block[at] as i32 + a1 * block[at + 1] as i32;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{MR, NR};

    /// The AVX2 kernel for `M` rows.
    ///
    /// # Safety
    /// The CPU must have AVX2; `a` must hold `(M - 1) · stride + 2 · pairs`
    /// values and `panel` `pairs · 2 · NR`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn kernel<const M: usize>(
        a: &[i16],
        stride: usize,
        panel: &[i16],
        pairs: usize,
        acc: &mut [[i32; NR]; MR],
    ) {
        let mut c = [[_mm256_setzero_si256(); 2]; M];
        let (a, b) = (a.as_ptr(), panel.as_ptr());
        for p in 0..pairs {
            // SAFETY: p < pairs, so b + 32p + 31 is inside `panel`, and
            // i · stride + 2p + 1 is inside `a` for i < M (the caller's bounds).
            unsafe {
                let b0 = _mm256_loadu_si256(b.add(p * 2 * NR) as *const __m256i);
                let b1 = _mm256_loadu_si256(b.add(p * 2 * NR + 8 * 2) as *const __m256i);
                for (i, c) in c.iter_mut().enumerate() {
                    let pair = (a.add(i * stride + 2 * p) as *const i32).read_unaligned();
                    let av = _mm256_set1_epi32(pair);
                    c[0] = _mm256_add_epi32(c[0], _mm256_madd_epi16(av, b0));
                    c[1] = _mm256_add_epi32(c[1], _mm256_madd_epi16(av, b1));
                }
            }
        }
        for (c, out) in c.iter().zip(acc.iter_mut()) {
            // SAFETY: each row of `acc` holds 16 i32, two registers' worth.
            unsafe {
                _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, c[0]);
                _mm256_storeu_si256(out.as_mut_ptr().add(8) as *mut __m256i, c[1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// Exact when the values are already on the quantization grid; close to
    /// the float product otherwise; every row and column count, odd inputs
    /// included, and the portable kernel equal to the AVX2 one.
    #[test]
    fn equals_the_float_product_within_quantization_error() {
        for (rows, inputs, outputs) in [(1, 3, 1), (7, 33, 17), (100, 64, 40), (13, 384, 35)] {
            let x = values(rows * inputs, 1);
            let w = values(outputs * inputs, 2);
            let packed = PackedInt8::new(&w, outputs, inputs).unwrap();
            let mut got = vec![0.25f32; rows * outputs];
            matmul(&mut got, &x, rows, &packed);
            for r in 0..rows {
                for o in 0..outputs {
                    let want: f32 = (0..inputs).map(|k| x[r * inputs + k] * w[o * inputs + k]).sum::<f32>() + 0.25;
                    let bound = 0.01 * (inputs as f32).sqrt() + 1e-4;
                    let g = got[r * outputs + o];
                    assert!((g - want).abs() < bound, "{rows}x{inputs}x{outputs} at ({r}, {o}): {g} vs {want}");
                }
            }
        }
        // The AVX2 kernel and the portable one agree exactly, for every row count.
        let w = values(20 * 11, 3);
        let packed = PackedInt8::new(&w, 20, 11).unwrap();
        let stride = 2 * packed.pairs;
        let a: Vec<i16> = (0..6 * stride).map(|i| ((i as i32 * 2_654_435) % 8191 - 4095) as i16).collect();
        for block in packed.panels.chunks_exact(packed.pairs * 2 * NR) {
            for mr in 1..=MR {
                let mut fast = [[0i32; NR]; MR];
                kernel(&a, stride, mr, block, packed.pairs, &mut fast);
                let mut slow = [[0i32; NR]; MR];
                portable(&a, stride, mr, block, packed.pairs, &mut slow);
                assert_eq!(fast, slow, "{mr} rows");
                assert!(fast[mr - 1].iter().any(|&v| v != 0));
            }
        }
    }

    #[test]
    fn misshapen_and_too_long_weights_are_refused() {
        let n = MAX_INPUTS + 1;
        assert!(PackedInt8::new(&vec![0.0; n], 1, n).is_err());
        assert!(PackedInt8::new(&[0.0; 5], 2, 3).is_err());
        assert!(PackedInt8::new(&[], 4, 0).is_err());
    }
}
