//! Exact cosine similarity search over L2-normalized vectors.
//!
//! Scores are inner products computed block by block (a block of queries times
//! a block of the corpus) as matrix products on the chosen device; only one
//! `query_block × corpus_block` score matrix exists at a time (on the CPU, one
//! per thread), so memory is bounded by the block sizes whatever the corpus
//! size. Results are exact.
//! Ties are broken by the lower corpus index, so results are deterministic.

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::EmbedError;
use crate::kernels::{self, Mat, Threads};

/// A corpus row and its similarity to a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbor {
    /// Row of the corpus.
    pub index: usize,
    /// Inner product (cosine for normalized vectors).
    pub score: f32,
}

/// A query row, a corpus row and their similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    /// Row of the queries.
    pub query: usize,
    /// Row of the corpus.
    pub index: usize,
    /// Inner product.
    pub score: f32,
}

/// Row-major vectors of one dimension.
#[derive(Debug, Clone, Copy)]
pub struct Vectors<'a> {
    data: &'a [f32],
    dim: usize,
}

impl<'a> Vectors<'a> {
    /// Wraps `data` as rows of `dim` values.
    pub fn new(data: &'a [f32], dim: usize) -> Result<Self, EmbedError> {
        if dim == 0 || !data.len().is_multiple_of(dim) {
            return Err(EmbedError::Invalid(format!("{} values do not form rows of {dim}", data.len())));
        }
        Ok(Self { data, dim })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.data.len() / self.dim
    }

    fn block(&self, start: usize, end: usize, device: &Device) -> Result<Tensor, EmbedError> {
        let slice = &self.data[start * self.dim..end * self.dim];
        Ok(Tensor::from_slice(slice, (end - start, self.dim), device)?)
    }
}

/// Block sizes: rows of queries and of the corpus per matrix product.
#[derive(Debug, Clone, Copy)]
pub struct Blocks {
    /// Queries per block.
    pub queries: usize,
    /// Corpus rows per block.
    pub corpus: usize,
}

impl Default for Blocks {
    /// 1,024 × 1,024 scores: 4 MB a thread on the CPU, in cache between the
    /// product and the selection. Square blocks repack each side least: the
    /// product copies every corpus block once per query block and every
    /// query block once per corpus block (256 × 4,096 spent 10% of the
    /// search repacking the corpus, 1,024 × 1,024 spends 3%).
    fn default() -> Self {
        Self { queries: 1024, corpus: 1024 }
    }
}

/// Whether `a` ranks before `b`: higher score, then lower index.
fn better(a: Neighbor, b: Neighbor) -> bool {
    a.score > b.score || (a.score == b.score && a.index < b.index)
}

/// Merges one row of scores (corpus rows from `c0`) into a query's best `k`.
fn select(list: &mut Vec<Neighbor>, row: &[f32], c0: usize, k: usize) {
    // Below the current k-th score nothing can enter (equal scores still can,
    // by their lower index).
    let mut floor = if list.len() == k { list[k - 1].score } else { f32::NEG_INFINITY };
    let mut at = 0;
    while at < row.len() {
        at += kernels::below(&row[at..], floor);
        let end = (at + kernels::SKIP_RUN).min(row.len());
        for (j, &score) in row[at..end].iter().enumerate() {
            if score < floor {
                continue;
            }
            let candidate = Neighbor { index: c0 + at + j, score };
            if list.len() == k && !better(candidate, list[k - 1]) {
                continue;
            }
            let place = list.partition_point(|&n| better(n, candidate));
            list.insert(place, candidate);
            list.truncate(k);
            if list.len() == k {
                floor = list[k - 1].score;
            }
        }
        at = end;
    }
}

/// The `k` most similar corpus rows of every query, best first.
pub fn top_k(
    queries: Vectors<'_>,
    corpus: Vectors<'_>,
    k: usize,
    blocks: Blocks,
    device: &Device,
) -> Result<Vec<Vec<Neighbor>>, EmbedError> {
    check(queries, corpus)?;
    let mut best: Vec<Vec<Neighbor>> = vec![Vec::with_capacity(k + 1); queries.rows()];
    if k == 0 {
        return Ok(best);
    }
    scan(queries, corpus, blocks, device, &mut best, |list, row, c0| select(list, row, c0, k))?;
    Ok(best)
}

/// Every (query, corpus row) pair with similarity at or above `threshold`,
/// ordered by query, then by score (best first), then by index.
pub fn pairs_at_least(
    queries: Vectors<'_>,
    corpus: Vectors<'_>,
    threshold: f32,
    blocks: Blocks,
    device: &Device,
) -> Result<Vec<Pair>, EmbedError> {
    check(queries, corpus)?;
    let mut found: Vec<Vec<Neighbor>> = vec![Vec::new(); queries.rows()];
    scan(queries, corpus, blocks, device, &mut found, |list, row, c0| {
        let mut at = 0;
        while at < row.len() {
            at += kernels::below(&row[at..], threshold);
            let end = (at + kernels::SKIP_RUN).min(row.len());
            for (j, &score) in row[at..end].iter().enumerate() {
                if score >= threshold {
                    list.push(Neighbor { index: c0 + at + j, score });
                }
            }
            at = end;
        }
    })?;
    let mut pairs = Vec::new();
    for (query, mut list) in found.into_iter().enumerate() {
        list.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
        pairs.extend(list.into_iter().map(|n| Pair { query, index: n.index, score: n.score }));
    }
    Ok(pairs)
}

fn check(queries: Vectors<'_>, corpus: Vectors<'_>) -> Result<(), EmbedError> {
    if queries.dim != corpus.dim {
        return Err(EmbedError::Invalid(format!("queries have {} dimensions, the corpus {}", queries.dim, corpus.dim)));
    }
    Ok(())
}

/// Fewest queries a CPU task takes.
const MIN_TASK_ROWS: usize = 64;

/// Calls `visit(list, scores, first_corpus_row)` with each query's list and
/// that query's scores against every block of the corpus, blocks in order.
///
/// On the CPU the queries are split into tasks of at most `blocks.queries`
/// rows, each on one thread with its own score buffer: a block's scores are
/// still in cache when the selection reads them, right after the product
/// that wrote them, and the threads never wait for each other.
fn scan(
    queries: Vectors<'_>,
    corpus: Vectors<'_>,
    blocks: Blocks,
    device: &Device,
    lists: &mut [Vec<Neighbor>],
    visit: impl Fn(&mut Vec<Neighbor>, &[f32], usize) + Sync,
) -> Result<(), EmbedError> {
    if !device.is_cpu() {
        return for_each_block(queries, corpus, blocks, device, |q0, c0, scores, width| {
            for (r, row) in scores.chunks_exact(width).enumerate() {
                visit(&mut lists[q0 + r], row, c0);
            }
        });
    }
    let (qb, cb) = (blocks.queries.max(1), blocks.corpus.max(1));
    let (dim, n) = (queries.dim, queries.rows());
    let threads = rayon::current_num_threads().max(1);
    let per_task = n.div_ceil(threads * 4).max(MIN_TASK_ROWS).min(qb);
    // Fewer tasks than threads: the product itself is spread instead.
    let product_threads = if n.div_ceil(per_task) < threads { Threads::Pool } else { Threads::One };
    lists.par_chunks_mut(per_task).enumerate().for_each(|(task, lists)| {
        let q0 = task * per_task;
        let rows = lists.len();
        let block = Mat::rows(&queries.data[q0 * dim..(q0 + rows) * dim], rows, dim, dim);
        let mut scores = vec![0f32; rows * cb.min(corpus.rows())];
        for c0 in (0..corpus.rows()).step_by(cb) {
            let c1 = (c0 + cb).min(corpus.rows());
            let width = c1 - c0;
            let corpus_t = Mat::transposed(&corpus.data[c0 * dim..c1 * dim], dim, width, dim);
            let scores = &mut scores[..rows * width];
            kernels::matmul(scores, width, block, corpus_t, 1.0, false, product_threads);
            for (list, row) in lists.iter_mut().zip(scores.chunks_exact(width)) {
                visit(list, row, c0);
            }
        }
    });
    Ok(())
}

/// Calls `visit(first_query, first_corpus_row, scores, width)` for each block,
/// `scores` being row-major `queries × width` (the GPU's path).
fn for_each_block(
    queries: Vectors<'_>,
    corpus: Vectors<'_>,
    blocks: Blocks,
    device: &Device,
    mut visit: impl FnMut(usize, usize, &[f32], usize),
) -> Result<(), EmbedError> {
    let (qb, cb) = (blocks.queries.max(1), blocks.corpus.max(1));
    // The corpus is transposed once per block and reused for every query block.
    let mut c0 = 0;
    while c0 < corpus.rows() {
        let c1 = (c0 + cb).min(corpus.rows());
        let corpus_t = corpus.block(c0, c1, device)?.t()?.contiguous()?;
        let mut q0 = 0;
        while q0 < queries.rows() {
            let q1 = (q0 + qb).min(queries.rows());
            let scores = queries.block(q0, q1, device)?.matmul(&corpus_t)?;
            let flat: Vec<f32> = scores.flatten_all()?.to_vec1()?;
            visit(q0, c0, &flat, c1 - c0);
            q0 = q1;
        }
        c0 = c1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors of small multiples of 1/8: every product and partial sum is
    /// exact in f32, so the blocked matrix products and the naive loops agree
    /// to the bit whatever their summation order, and ties are real ties.
    fn exact_rows(rows: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..rows * dim)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 33) % 9) as f32 / 8.0 - 0.5
            })
            .collect()
    }

    fn naive(q: &[f32], c: &[f32], dim: usize) -> Vec<Vec<Neighbor>> {
        q.chunks(dim)
            .map(|qr| {
                let mut all: Vec<Neighbor> = c
                    .chunks(dim)
                    .enumerate()
                    .map(|(i, cr)| Neighbor { index: i, score: qr.iter().zip(cr).map(|(a, b)| a * b).sum() })
                    .collect();
                all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
                all
            })
            .collect()
    }

    fn vectors(data: &[f32], dim: usize) -> Vectors<'_> {
        Vectors::new(data, dim).unwrap()
    }

    #[test]
    fn top_k_equals_the_naive_answer_ties_included() {
        let dim = 16;
        let corpus = exact_rows(300, dim, 1);
        let queries = exact_rows(37, dim, 2);
        let want = naive(&queries, &corpus, dim);
        let ties = want.iter().filter(|l| l[4].score == l[5].score || l[0].score == l[1].score).count();
        assert!(ties > 0, "the data must contain ties at the cut");
        for blocks in [Blocks { queries: 8, corpus: 64 }, Blocks { queries: 1, corpus: 1 }, Blocks::default()] {
            let got = top_k(vectors(&queries, dim), vectors(&corpus, dim), 5, blocks, &Device::Cpu).unwrap();
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.as_slice(), &w[..5], "{blocks:?}");
            }
        }
    }

    #[test]
    fn pairs_at_least_equals_the_naive_answer() {
        let dim = 8;
        let corpus = exact_rows(200, dim, 3);
        let queries = exact_rows(20, dim, 4);
        let threshold = 0.25;
        let want: Vec<Pair> = naive(&queries, &corpus, dim)
            .iter()
            .enumerate()
            .flat_map(|(q, list)| {
                list.iter().filter(|n| n.score >= threshold).map(move |n| Pair {
                    query: q,
                    index: n.index,
                    score: n.score,
                })
            })
            .collect();
        assert!(want.iter().any(|p| p.score == threshold), "the threshold itself must be included");
        for blocks in [Blocks { queries: 7, corpus: 33 }, Blocks::default()] {
            let got =
                pairs_at_least(vectors(&queries, dim), vectors(&corpus, dim), threshold, blocks, &Device::Cpu).unwrap();
            assert_eq!(got, want, "{blocks:?}");
        }
    }

    #[test]
    fn k_larger_than_the_corpus_and_empty_or_mismatched_inputs() {
        let dim = 4;
        let corpus = exact_rows(3, dim, 5);
        let queries = exact_rows(2, dim, 6);
        let got = top_k(vectors(&queries, dim), vectors(&corpus, dim), 10, Blocks::default(), &Device::Cpu).unwrap();
        assert!(got.iter().all(|l| l.len() == 3));
        let none = top_k(vectors(&[], dim), vectors(&corpus, dim), 3, Blocks::default(), &Device::Cpu).unwrap();
        assert!(none.is_empty());
        assert!(Vectors::new(&[1.0, 2.0, 3.0], 2).is_err());
        assert!(top_k(vectors(&queries, 2), vectors(&corpus, dim), 3, Blocks::default(), &Device::Cpu).is_err());
    }
}
