#!/usr/bin/env python3
"""Embedding throughput, side by side: sentence-transformers (PyTorch, CPU) and
`distillwatch embed` on the same texts, same truncation (256 tokens), same
batch size and thread count; and the agreement of their vectors.

    python3 scripts/bench/embed_compare.py --texts bench-out/prompts2000.jsonl \
        --model models/all-MiniLM-L6-v2 --bin target/release/distillwatch --batch 32 --runs 3

Needs sentence-transformers and numpy (see scripts/golden/make_golden.py).
Warm-up runs are excluded on both sides; the timed runs alternate between
the two sides; medians are reported.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--label", default="distillwatch embed", help="the engine's row in the table")
    ap.add_argument("engine_args", nargs="*", help="extra arguments for `distillwatch embed` (after --)")
    args = ap.parse_args()

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    texts = [json.loads(l)["text"] for l in open(args.texts, encoding="utf-8") if l.strip()]
    model = SentenceTransformer(args.model, device="cpu")
    model.max_seq_length = 256
    lengths = [len(model.tokenizer(t, truncation=True, max_length=256)["input_ids"]) for t in texts]
    tokens = sum(lengths)
    # Useful work (no padding), as in ../shared/docs/baselines.md: 21.2 MFLOP per token in
    # the dense layers plus 9.2 kFLOP per token per token of sequence in attention.
    useful_flop = sum(n * (21.2e6 + 9.2e3 * n) for n in lengths)

    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ours.npy")
        warm = os.path.join(tmp, "warm.jsonl")
        with open(warm, "w", encoding="utf-8") as f:
            for t in texts[:64]:
                f.write(json.dumps({"text": t}) + "\n")
        # Warm-up on both sides, excluded.
        model.encode(texts[:64], batch_size=args.batch)
        subprocess.run([args.bin, "embed", "--input", warm, "--output", out], check=True, env=env, capture_output=True)
        cmd = [args.bin, "embed", "--input", args.texts, "--output", out, "--batch-size", str(args.batch)] + args.engine_args
        st_times, ours_times = [], []
        # Runs alternate between the two sides, so that a slower or faster
        # moment of the shared host falls on both.
        for _ in range(args.runs):
            t0 = time.perf_counter()
            reference = model.encode(texts, batch_size=args.batch, convert_to_numpy=True, normalize_embeddings=True)
            st_times.append(time.perf_counter() - t0)
            done = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
            # The engine's own timing: embedding only (model load and file reading excluded, as for PyTorch).
            m = re.search(r"in ([0-9.]+) s:", done.stderr)
            ours_times.append(float(m.group(1)))
        ours = np.load(out)

    cos = (ours * reference).sum(axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1))
    st, us = statistics.median(st_times), statistics.median(ours_times)
    print(f"texts: {len(texts)}, tokens: {tokens} (mean {tokens / len(texts):.1f}, {sum(n == 256 for n in lengths)} truncated), "
          f"{useful_flop / 1e12:.2f} TFLOP useful; batch {args.batch}, threads {args.threads}")
    print("| engine | median s (runs) | texts/s | tokens/s | share of 130 GFLOP/s | ratio |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name, med, times in (("sentence-transformers (PyTorch CPU)", st, st_times), (args.label, us, ours_times)):
        share = useful_flop / med / 130e9
        print(f"| {name} | {med:.1f} ({', '.join(f'{t:.1f}' for t in times)}) | {len(texts) / med:.1f} | {tokens / med:,.0f} | {share:.0%} | {st / med:.2f} |")
    print(f"cosine to sentence-transformers: min {cos.min():.7f}, mean {cos.mean():.7f}")


if __name__ == "__main__":
    sys.exit(main())
