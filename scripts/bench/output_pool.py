#!/usr/bin/env python3
"""Real model outputs to build suspect and control sets from, for the reference benchmarks.

Reads GPTeacher's GPT-4 answers, sampled math reasoning traces and the paired Arena-Hard and
Self-Instruct outputs under DATA, drops empty outputs and repeated (prompt, output) pairs, and writes
the rest in that order as {"prompt", "output"} lines to OUT.

    python3 scripts/bench/output_pool.py ../shared/data pool.jsonl
"""
import json
import sys


def main(data, out):
    texts = []
    for line in open(f"{data}/distill_instructions/distill_instructions.jsonl"):
        r = json.loads(line)
        texts.append((r["prompt"], r["response"]))
    for line in open(f"{data}/reasoning_traces/math_cot_100x8.jsonl"):
        r = json.loads(line)
        texts.append((r["prompt"], r["response"]))
    for line in open(f"{data}/paired_outputs/pairs.jsonl"):
        r = json.loads(line)
        texts.append((r["prompt"], r["output_a"]))
        texts.append((r["prompt"], r["output_b"]))
    seen = set()
    with open(out, "w") as f:
        for p, o in texts:
            if o.strip() and (p, o) not in seen:
                seen.add((p, o))
                f.write(json.dumps({"prompt": p, "output": o}) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
