#!/usr/bin/env python3
"""Exact top-k and threshold search, side by side: faiss-cpu IndexFlatIP and
dw-embed's blocked search (crates/dw-embed/examples/topk.rs), same data, same
thread count, search time only (loading and index building excluded), one
warm-up on each side excluded, timed runs alternating between the sides.

    cargo build --release -p dw-embed --example topk
    python3 scripts/bench/topk_compare.py --bin target/release/examples/topk --runs 3
"""
import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--corpus", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threshold", type=float, default=0.2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import faiss
    import numpy as np

    faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(42)
    corpus = rng.standard_normal((args.corpus, args.dim), dtype=np.float32)
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    queries = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    index = faiss.IndexFlatIP(args.dim)
    index.add(corpus)

    faiss_topk, faiss_range, ours_topk, ours_range = [], [], [], []
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    with tempfile.TemporaryDirectory() as tmp:
        c, q = os.path.join(tmp, "c.npy"), os.path.join(tmp, "q.npy")
        np.save(c, corpus)
        np.save(q, queries)
        out = os.path.join(tmp, "out.npy")

        def ours(*search):
            text = subprocess.run([args.bin, c, q, *search, out], check=True, env=env, capture_output=True, text=True).stdout
            return float(re.search(r"in ([0-9.]+) s", text).group(1))

        # Warm-up on both sides, excluded.
        index.search(queries[:1000], args.k)
        ours(str(args.k))
        # Runs alternate between the two sides, so that a slower or faster
        # moment of the shared host falls on both.
        for _ in range(args.runs):
            t0 = time.perf_counter()
            _, ids = index.search(queries, args.k)
            faiss_topk.append(time.perf_counter() - t0)
            ours_topk.append(ours(str(args.k)))
        ours_ids = np.load(out).astype(np.int64)
        for _ in range(args.runs):
            t0 = time.perf_counter()
            lims, _, range_ids = index.range_search(queries, args.threshold)
            faiss_range.append(time.perf_counter() - t0)
            ours_range.append(ours("range", str(args.threshold)))
        ours_pairs = np.load(out)

    overlap = np.mean([len(set(a) & set(b)) / args.k for a, b in zip(ids, ours_ids)])
    same_order = np.mean([(a == b).all() for a, b in zip(ids, ours_ids)])
    faiss_pairs = len(range_ids)
    flop = 2.0 * args.corpus * args.dim * args.queries
    print(f"corpus {args.corpus} x {args.dim}, {args.queries} queries, k = {args.k}, threshold {args.threshold}, {args.threads} threads")
    print("| search | engine | median s (runs) | queries/s | GFLOP/s | share of 130 GFLOP/s | ratio to faiss |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for kind, f, o in (("top-10", faiss_topk, ours_topk), (f"pairs >= {args.threshold}", faiss_range, ours_range)):
        fm, om = statistics.median(f), statistics.median(o)
        for name, med, runs in (("faiss IndexFlatIP", fm, f), ("dw-embed", om, o)):
            print(f"| {kind} | {name} | {med:.2f} ({', '.join(f'{t:.2f}' for t in runs)}) | {args.queries / med:,.0f} | "
                  f"{flop / med / 1e9:.0f} | {flop / med / 130e9:.0%} | {fm / med:.2f} |")
    print(f"top-k agreement: overlap@{args.k} {overlap:.4f}, identical order {same_order:.4f}; "
          f"pairs: faiss {faiss_pairs}, dw-embed {len(ours_pairs)}")


if __name__ == "__main__":
    main()
