//! CPU kernels: the matrix product, and the element-wise functions of a
//! transformer layer written so that the compiler vectorizes them.
//!
//! The only `unsafe` of the crate lives here and in [`int8`] (its AVX2
//! kernel's loads and stores), each use checked where it is:
//! - the `gemm` crate's entry point takes raw pointers and strides; [`matmul`]
//!   checks every dimension and that the last element each matrix touches is
//!   inside its slice before calling it;
//! - the element-wise functions are compiled twice, once for the baseline
//!   x86-64 instruction set and once with AVX2 and FMA enabled, and the second
//!   is called only after the CPU was seen to have both.
//!
//! Accuracy: `exp` is a degree-6 polynomial on a range reduced to |r| ≤ ln 2 / 2
//! (relative error about 2e-7), `erf` the Abramowitz–Stegun 7.1.26 rational
//! form (absolute error under 1.5e-7); both are far below what a float32
//! transformer's own rounding leaves.
#![allow(unsafe_code)]

/// A read-only matrix view: `rows × cols` elements of `data`, element
/// `(r, c)` at `r * row_stride + c * col_stride`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> Mat<'a> {
    /// Row-major, rows `row_stride` apart.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        Self { data, rows, cols, row_stride, col_stride: 1 }
    }

    /// The transpose of a row-major `cols × rows` matrix whose rows are
    /// `stride` apart (a PyTorch `Linear` weight, `[out, in]`, read as
    /// `[in, out]`).
    pub fn transposed(data: &'a [f32], rows: usize, cols: usize, stride: usize) -> Self {
        Self { data, rows, cols, row_stride: 1, col_stride: stride }
    }

    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride < self.data.len()
    }
}

/// How many threads a matrix product may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Threads {
    /// The calling thread only (inside tasks that are already parallel).
    One,
    /// Rayon's pool.
    Pool,
}

/// `dst = (accumulate ? dst : 0) + scale · a · b`, `dst` row-major with rows
/// `dst_stride` apart. Panics when the shapes disagree or a view does not
/// fit its slice (a bug in the caller, never a property of the input).
pub(crate) fn matmul(
    dst: &mut [f32],
    dst_stride: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    scale: f32,
    accumulate: bool,
    threads: Threads,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions differ");
    assert!(a.fits() && b.fits(), "a matrix view runs past its slice");
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst_stride >= n && (m - 1) * dst_stride + n <= dst.len(), "the destination is too small");
    if k == 0 {
        if !accumulate {
            for row in dst.chunks_mut(dst_stride).take(m) {
                row[..n].fill(0.0);
            }
        }
        return;
    }
    let parallelism = match threads {
        Threads::One => gemm::Parallelism::None,
        Threads::Pool => match rayon::current_num_threads() {
            0 | 1 => gemm::Parallelism::None,
            t => gemm::Parallelism::Rayon(t),
        },
    };
    // SAFETY: the shapes agree (asserted above); every element the product
    // reads, at (r, c) ≤ (rows - 1, cols - 1) of `a` and `b`, is inside its
    // slice (`fits`), and every element it writes, at (r, c) ≤ (m - 1, n - 1)
    // of `dst`, is inside `dst` (asserted). `dst` is borrowed mutably, so it
    // overlaps neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            scale,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Defines `pub(crate) fn $name` that runs `$body` compiled with AVX2 and FMA
/// when the CPU has them, and compiled for the baseline otherwise.
macro_rules! vectorized {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? $body:block) => {
        $(#[$doc])*
        pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn portable($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? { portable($($arg),*) }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has AVX2 and FMA (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            portable($($arg),*)
        }
    };
}

// After the macro, so that it can use it.
pub(crate) mod int8;

const LANES: usize = 8;

/// Sum in eight lanes (a shape the compiler vectorizes without reordering
/// license), then across them.
#[inline(always)]
fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

/// The largest value (NaN never wins; -∞ for none), in eight lanes, mapped
/// through `f` first.
#[inline(always)]
fn max_by(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            let x = f(x);
            *a = if x > *a { x } else { *a };
        }
    }
    acc.into_iter().chain(rest.iter().map(|&x| f(x))).fold(f32::NEG_INFINITY, |m, x| if x > m { x } else { m })
}

/// The largest value (NaN never wins; -∞ for none).
#[inline(always)]
pub(crate) fn max(xs: &[f32]) -> f32 {
    max_by(xs, |x| x)
}

/// The largest magnitude (0 for none).
#[inline(always)]
fn max_abs(xs: &[f32]) -> f32 {
    max_by(xs, f32::abs).max(0.0)
}

/// e^x: x = n ln 2 + r, e^r by its Taylor polynomial of degree 6, 2^n by
/// building the float's exponent. 0 below -87.3 (where e^x leaves the normal
/// floats), e^88 above 88.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in a part exact in float32 and the rest.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let underflow = x < -87.3;
    let x = x.clamp(-87.3, 88.0);
    let n = (x * LOG2_E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p =
        1.0 + r * (1.0 + r * (1.0 / 2.0 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^n from n + 127 as the exponent field: adding 2^23 puts the integer
    // n + 127 (in 1..=255 after the clamp) in the low mantissa bits, read
    // with a mask; unlike a float-to-int cast this vectorizes.
    let biased = (n + 127.0 + 8_388_608.0).to_bits() & 0x7f_ffff;
    let scale = f32::from_bits(biased << 23);
    if underflow { 0.0 } else { p * scale }
}

/// erf(x), Abramowitz–Stegun 7.1.26.
#[inline(always)]
fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_8, -1.453_152, 1.061_405_4];
    let a = x.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let y = 1.0 - poly * exp(-a * a);
    if x < 0.0 { -y } else { y }
}

/// Values a skip looks at together (`below`).
pub(crate) const SKIP_RUN: usize = 64;

vectorized! {
    /// How many leading values of `xs` lie below `floor` (NaN counts as
    /// below), in whole runs of `SKIP_RUN`: the run it stops at holds a value
    /// at or above `floor`; `xs.len()` when none does. One call passes over
    /// a whole row of scores that cannot enter an answer.
    fn below(xs: &[f32], floor: f32) -> usize {
        let mut at = 0;
        for run in xs.chunks(SKIP_RUN) {
            if max(run) >= floor {
                return at;
            }
            at += run.len();
        }
        at
    }
}

vectorized! {
    /// GELU as BERT's `gelu` (the erf form): x · (1 + erf(x / √2)) / 2.
    fn gelu_erf(xs: &mut [f32]) {
        for x in xs.iter_mut() {
            *x = 0.5 * *x * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

vectorized! {
    /// GELU in its tanh approximation (`gelu_new`).
    fn gelu_tanh(xs: &mut [f32]) {
        const C: f32 = 0.797_884_6; // √(2/π)
        for x in xs.iter_mut() {
            let u = C * (*x + 0.044_715 * *x * *x * *x);
            // tanh(u) = 1 - 2 / (e^{2u} + 1)
            let tanh = 1.0 - 2.0 / (exp(2.0 * u) + 1.0);
            *x = 0.5 * *x * (1.0 + tanh);
        }
    }
}

vectorized! {
    /// max(x, 0).
    fn relu(xs: &mut [f32]) {
        for x in xs.iter_mut() {
            *x = if *x > 0.0 { *x } else { 0.0 };
        }
    }
}

vectorized! {
    /// Each row of `rows` (rows of `gamma.len()` values) becomes
    /// LayerNorm(row + residual row) with weight `gamma`, bias `beta`.
    fn add_layer_norm(rows: &mut [f32], residual: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let width = gamma.len();
        for (row, res) in rows.chunks_exact_mut(width).zip(residual.chunks_exact(width)) {
            for (x, &r) in row.iter_mut().zip(res) {
                *x += r;
            }
            layer_norm_row(row, gamma, beta, eps);
        }
    }
}

vectorized! {
    /// Each row of `rows` becomes LayerNorm(row).
    fn layer_norm(rows: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        for row in rows.chunks_exact_mut(gamma.len()) {
            layer_norm_row(row, gamma, beta, eps);
        }
    }
}

#[inline(always)]
fn layer_norm_row(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = sum(row) / n;
    for x in row.iter_mut() {
        *x -= mean;
    }
    let mut squares = [0f32; LANES];
    let chunks = row.chunks_exact(LANES);
    let rest: f32 = chunks.remainder().iter().map(|x| x * x).sum();
    for chunk in chunks {
        for (a, &x) in squares.iter_mut().zip(chunk) {
            *a += x * x;
        }
    }
    let variance = (squares.iter().sum::<f32>() + rest) / n;
    let inv = 1.0 / (variance + eps).sqrt();
    for ((x, &g), &b) in row.iter_mut().zip(gamma).zip(beta) {
        *x = *x * inv * g + b;
    }
}

vectorized! {
    /// Each row of `rows` (rows of `width`) becomes its softmax.
    fn softmax_rows(rows: &mut [f32], width: usize) {
        for row in rows.chunks_exact_mut(width) {
            let top = max(row);
            for x in row.iter_mut() {
                *x = exp(*x - top);
            }
            let inv = 1.0 / sum(row);
            for x in row.iter_mut() {
                *x *= inv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        out
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n as u32).map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 17) as f32 / 8.0 - 1.0).collect()
    }

    #[test]
    fn matmul_equals_the_naive_product_in_every_layout() {
        let (m, k, n) = (13, 9, 21);
        let a = values(m * k, 1);
        let b = values(k * n, 2);
        let want = naive(&a, &b, m, k, n);
        // b stored transposed, [n, k], and read through strides.
        let mut bt = vec![0f32; n * k];
        for p in 0..k {
            for j in 0..n {
                bt[j * k + p] = b[p * n + j];
            }
        }
        for threads in [Threads::One, Threads::Pool] {
            let mut got = vec![0f32; m * n];
            matmul(&mut got, n, Mat::rows(&a, m, k, k), Mat::rows(&b, k, n, n), 1.0, false, threads);
            assert_eq!(got, want);
            let mut got = vec![7f32; m * n];
            matmul(&mut got, n, Mat::rows(&a, m, k, k), Mat::transposed(&bt, k, n, k), 1.0, false, threads);
            assert_eq!(got, want);
        }
        // Accumulating into a bias, scaled, into a wider destination.
        let mut got = vec![1f32; m * (n + 3)];
        matmul(&mut got, n + 3, Mat::rows(&a, m, k, k), Mat::rows(&b, k, n, n), 0.5, true, Threads::One);
        for i in 0..m {
            for j in 0..n {
                assert_eq!(got[i * (n + 3) + j], 1.0 + 0.5 * want[i * n + j]);
            }
            assert_eq!(got[i * (n + 3) + n], 1.0, "columns past n are untouched");
        }
    }

    #[test]
    #[should_panic(expected = "runs past its slice")]
    fn a_view_past_its_slice_is_refused() {
        let a = vec![0f32; 10];
        let mut out = vec![0f32; 4];
        matmul(&mut out, 2, Mat::rows(&a, 2, 6, 6), Mat::rows(&a, 6, 2, 2), 1.0, false, Threads::One);
    }

    #[test]
    fn below_stops_at_the_run_that_reaches_the_floor() {
        let xs: Vec<f32> = values(300, 3).iter().map(|v| v * 0.5).collect(); // in [-0.5, 0.5]
        for (floor, at) in [(f32::NEG_INFINITY, 0), (0.6, 300)] {
            assert_eq!(below(&xs, floor), at);
        }
        for spike in [0, 63, 64, 130, 299] {
            let mut ys = xs.clone();
            ys[spike] = 0.75;
            // Stops at the run holding the spike, never inside a run.
            assert_eq!(below(&ys, 0.75), spike / SKIP_RUN * SKIP_RUN, "spike at {spike}");
            let shifted = if spike == 0 { 299 } else { (spike - 1) / SKIP_RUN * SKIP_RUN };
            assert_eq!(below(&ys[1..], 0.75), shifted, "spike at {spike}, one value on");
        }
        // NaN never reaches a floor; -∞ is reached by anything but NaN.
        let mut nan = vec![f32::NAN; 100];
        assert_eq!(below(&nan, -1.0), 100);
        nan[80] = -0.5;
        assert_eq!(below(&nan, -1.0), 64);
        assert_eq!(below(&[], 0.0), 0);
    }

    #[test]
    fn exp_and_erf_are_accurate() {
        let mut worst = 0f64;
        for i in -8000..=8000 {
            let x = i as f32 / 100.0;
            let want = (x as f64).exp();
            let rel = ((exp(x) as f64 - want) / want).abs();
            worst = worst.max(rel);
        }
        assert!(worst < 5e-7, "exp relative error {worst}");
        assert_eq!(exp(-200.0), 0.0);
        // erf against values from tables.
        for (x, want) in [(0.0f32, 0.0f64), (0.5, 0.520_499_877_8), (1.0, 0.842_700_792_9), (2.0, 0.995_322_265_0)] {
            assert!((erf(x) as f64 - want).abs() < 3e-7, "erf({x})");
            assert!((erf(-x) as f64 + want).abs() < 3e-7, "erf(-{x})");
        }
        let mut xs = vec![-3.0f32, -1.0, 0.0, 1.0, 3.0];
        gelu_erf(&mut xs);
        let want = [-0.004_049_7f32, -0.158_655_25, 0.0, 0.841_344_8, 2.995_950_3];
        for (g, w) in xs.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{g} vs {w}");
        }
    }

    #[test]
    fn layer_norm_and_softmax_rows() {
        let mut rows: Vec<f32> = (0..20).map(|i| i as f32).collect();
        let gamma = vec![2.0f32; 10];
        let beta = vec![1.0f32; 10];
        layer_norm(&mut rows, &gamma, &beta, 1e-12);
        for row in rows.chunks(10) {
            let mean: f32 = row.iter().sum::<f32>() / 10.0;
            let var: f32 = row.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / 10.0;
            assert!((mean - 1.0).abs() < 1e-5 && (var - 4.0).abs() < 1e-4, "{mean} {var}");
        }
        let mut scores = vec![1.0f32, 2.0, 3.0, 1000.0, 1000.0, -1000.0];
        softmax_rows(&mut scores, 3);
        let e = [1f32.exp(), 2f32.exp(), 3f32.exp()];
        let total: f32 = e.iter().sum();
        for (g, w) in scores[..3].iter().zip(e.iter().map(|v| v / total)) {
            assert!((g - w).abs() < 1e-6);
        }
        assert_eq!(&scores[3..], &[0.5, 0.5, 0.0]);
    }
}
