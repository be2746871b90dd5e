//! Exact search over .npy files, for the side-by-side benchmark against FAISS
//! (scripts/bench/topk_compare.py).
//!
//!     topk CORPUS.npy QUERIES.npy K OUT.npy          # top-k; OUT holds the indices as float32
//!     topk CORPUS.npy QUERIES.npy range T OUT.npy    # all pairs with similarity >= T; OUT rows (query, index, score)

use std::time::Instant;

use candle_core::Device;
use dw_embed::npy;
use dw_embed::search::{self, Blocks, Vectors};

fn load(path: &str) -> (usize, usize, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    npy::read_f32(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() >= 5,
        "usage: topk CORPUS.npy QUERIES.npy K OUT.npy | topk CORPUS.npy QUERIES.npy range T OUT.npy"
    );
    let (_, dim, corpus) = load(&args[1]);
    let (nq, qdim, queries) = load(&args[2]);
    assert_eq!(dim, qdim);
    let corpus = Vectors::new(&corpus, dim).unwrap();
    let queries = Vectors::new(&queries, dim).unwrap();
    // DW_BLOCKS=QUERIES,CORPUS tries other block sizes.
    let blocks = match std::env::var("DW_BLOCKS") {
        Ok(v) => {
            let (q, c) = v.split_once(',').expect("DW_BLOCKS=QUERIES,CORPUS");
            Blocks { queries: q.parse().unwrap(), corpus: c.parse().unwrap() }
        }
        Err(_) => Blocks::default(),
    };
    if args[3] == "range" {
        let threshold: f32 = args[4].parse().unwrap();
        let started = Instant::now();
        let pairs = search::pairs_at_least(queries, corpus, threshold, blocks, &Device::Cpu).unwrap();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "range: {nq} queries, {} pairs >= {threshold} in {secs:.3} s ({:.0} queries/s)",
            pairs.len(),
            nq as f64 / secs
        );
        let rows: Vec<Vec<f32>> = pairs.iter().map(|p| vec![p.query as f32, p.index as f32, p.score]).collect();
        let mut out = std::fs::File::create(&args[5]).unwrap();
        npy::write_f32(&mut out, &rows, 3).unwrap();
    } else {
        let k: usize = args[3].parse().unwrap();
        let started = Instant::now();
        let found = search::top_k(queries, corpus, k, blocks, &Device::Cpu).unwrap();
        let secs = started.elapsed().as_secs_f64();
        println!("topk: {nq} queries, k = {k} in {secs:.3} s ({:.0} queries/s)", nq as f64 / secs);
        let rows: Vec<Vec<f32>> = found.iter().map(|l| l.iter().map(|n| n.index as f32).collect()).collect();
        let mut out = std::fs::File::create(&args[4]).unwrap();
        npy::write_f32(&mut out, &rows, k).unwrap();
    }
}
