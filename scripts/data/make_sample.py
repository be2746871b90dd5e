#!/usr/bin/env python3
"""Builds data/sample/: a small, deterministic sample of the real public text in
../shared/data, so that tests and the demo run on a machine that has only this
repository.

    python3 scripts/data/make_sample.py [--src ../shared/data] [--out data/sample]

Default paths are relative to the repository root (wherever the script is run
from); paths given on the command line are relative to the current directory.

The output mirrors the source layout and file names exactly, so the same loader
reads either folder. Records are copied byte for byte (every field kept,
including `source`, `license` and `provenance`), one JSON object per line, in
the source's order; each folder's LICENSES/ is copied unchanged beside them.

Selection uses no RNG state: a record is kept when

    int(sha256("distillwatch-sample:" + key).hexdigest()[:8], 16) / 2**32 < fraction

where `key` is the record's `id` (for reasoning traces, its `problem_id`, so a
kept problem keeps all its samples) and `fraction` is the file's keep fraction
below. Stratified files then top up every stratum (subset, MMLU subject, pair
relation) that the hash rule left with fewer than `min_per_stratum` keys, taking
that stratum's lowest-hash keys first. Standard library only.
"""
import argparse
import collections
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SALT = "distillwatch-sample:"
# du -sb budget for the whole output folder (4 MB, decimal, with margin kept by the fractions).
MAX_BYTES = 4_000_000

# (folder, file, keep fraction, selection key field, stratum field or None, min keys per stratum)
PLAN = [
    ("human_prompts", "human_prompts.jsonl", 1.0, "id", "subset", 1),
    ("distill_instructions", "distill_instructions.jsonl", 0.15, "id", "subset", 20),
    ("benchmarks", "gsm8k.jsonl", 0.04, "id", None, 0),
    ("benchmarks", "mmlu.jsonl", 0.03, "id", "subject", 3),
    ("reasoning_traces", "math_cot_100x8.jsonl", 0.25, "problem_id", None, 0),
    ("paired_outputs", "pairs.jsonl", 0.12, "id", "relation", 10),
    ("paired_outputs", "self_instruct_252_wide.jsonl", 0.15, "id", None, 0),
]


def hash_key(key):
    """(fraction in [0, 1), full digest) for a selection key; the digest breaks ties in hash order."""
    digest = hashlib.sha256((SALT + key).encode("utf-8")).hexdigest()
    return int(digest[:8], 16) / 2**32, digest


def read_records(path):
    """[(raw line bytes ending in b'\\n', parsed object)] in file order; blank lines are skipped."""
    out = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except ValueError as e:
                sys.exit(f"{path}:{n}: not a JSON line: {e}")
            if not isinstance(obj, dict):
                sys.exit(f"{path}:{n}: not a JSON object")
            if not raw.endswith(b"\n"):
                raw += b"\n"
            out.append((raw, obj))
    return out


def select(records, fraction, key_field, stratum_field, min_per_stratum):
    """Set of kept selection keys, and the strata that needed a top-up."""
    keys = {}  # key -> stratum (first seen)
    for _, obj in records:
        k = obj.get(key_field)
        if not isinstance(k, str):
            sys.exit(f"record without a string `{key_field}`: {str(obj)[:200]}")
        keys.setdefault(k, obj.get(stratum_field) if stratum_field else None)
    kept = {k for k in keys if hash_key(k)[0] < fraction}
    topped = []
    if stratum_field and min_per_stratum > 0:
        by_stratum = collections.defaultdict(list)
        for k, s in keys.items():
            by_stratum[s].append(k)
        for s, ks in by_stratum.items():
            have = sum(1 for k in ks if k in kept)
            if have >= min_per_stratum:
                continue
            for k in sorted(ks, key=hash_key):
                if have >= min_per_stratum:
                    break
                if k not in kept:
                    kept.add(k)
                    have += 1
            topped.append(s)
    return kept, topped


def du_sb(path):
    """Apparent size of a tree the way `du -sb` counts it (files, directories and links)."""
    total = os.lstat(path).st_size
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            total += os.lstat(os.path.join(root, name)).st_size
    return total


def write_readme(out, rows, total_records, licenses_by_folder):
    lines = [
        "# data/sample: a small sample of the real public text",
        "",
        "A deterministic sample of `../shared/data` (relative to the project root), made by",
        "`scripts/data/make_sample.py`, so that the tests and the demo run on a machine that has only this",
        "repository. Larger experiments, calibration and benchmarks read `../shared/data` directly; the layout",
        "and file names here are the same, so one loader reads either folder.",
        "",
        "Regenerate it from the repository root with:",
        "",
        "    python3 scripts/data/make_sample.py --src ../shared/data --out data/sample",
        "",
        "Records are copied unchanged (every field, including `source`, `license` and `provenance`, which is",
        "`owner/repo@commit:path` of the public repository the record came from), one JSON object per line, in",
        "the source's order. A record is kept when the first 8 hex digits of",
        '`sha256("distillwatch-sample:" + id)`, read as an integer and divided by 2^32, fall below the file\'s',
        "keep fraction; reasoning traces are selected by `problem_id`, so a kept problem keeps all its samples.",
        "All human prompts are kept. Every `subset` (human prompts, distillation instructions), every MMLU",
        "`subject` and every pair `relation` is represented: a stratum left with too few records by the hash",
        "rule is topped up with its lowest-hash records. No random state is involved, so the same source gives",
        "the same sample.",
        "",
        "| file | keep fraction | records kept | of | bytes |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| `{r['rel']}` | {r['fraction']:g} | {r['kept']:,} | {r['total']:,} | {r['bytes']:,} |"
        )
    lines += [
        f"| **all** | | **{total_records:,}** | | |",
        "",
        "`human_prompts/` includes the Anthropic HH-RLHF harmless-base red-team chats, which are adversarial",
        "and sometimes offensive by design.",
        "",
        "## Licenses",
        "",
        "Each record states its own license in its `license` field: MIT or Apache-2.0. The license texts of",
        "the source repositories are in each folder's `LICENSES/`, copied unchanged from `../shared/data`:",
        "",
    ]
    for folder, names in licenses_by_folder:
        lines.append(f"- `{folder}/LICENSES/`: " + ", ".join(f"`{n}`" for n in names))
    lines += [
        "",
        "Model outputs (teacher answers, paired model outputs, chain-of-thought traces, assistant responses)",
        "are also covered by their providers' terms, which restrict training competing models on them, not",
        "testing a detector with them. This sample is for testing and demonstrating the detector.",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "data" / "sample")
    ap.add_argument("--max-bytes", type=int, default=MAX_BYTES,
                    help="fail when the output folder is larger than this (du -sb); default %(default)s")
    args = ap.parse_args()
    src, out = args.src.resolve(), args.out.resolve()
    if not src.is_dir():
        sys.exit(f"source folder not found: {src}")
    if out == src or src in out.parents or out in src.parents:
        sys.exit(f"--out ({out}) must not be, contain or lie inside --src ({src})")

    out.mkdir(parents=True, exist_ok=True)
    rows, licenses_by_folder = [], []
    for folder in dict.fromkeys(p[0] for p in PLAN):
        lic_src, lic_out = src / folder / "LICENSES", out / folder / "LICENSES"
        if not lic_src.is_dir():
            sys.exit(f"missing {lic_src}")
        if lic_out.exists():
            shutil.rmtree(lic_out)
        (out / folder).mkdir(parents=True, exist_ok=True)
        shutil.copytree(lic_src, lic_out, copy_function=shutil.copyfile)
        licenses_by_folder.append((folder, sorted(p.name for p in lic_out.iterdir())))

    for folder, name, fraction, key_field, stratum_field, min_per_stratum in PLAN:
        records = read_records(src / folder / name)
        kept, topped = select(records, fraction, key_field, stratum_field, min_per_stratum)
        dest = out / folder / name
        n, strata = 0, collections.Counter()
        with open(dest, "wb") as f:
            for raw, obj in records:
                if obj[key_field] in kept:
                    f.write(raw)
                    n += 1
                    if stratum_field:
                        strata[obj.get(stratum_field)] += 1
        rows.append({
            "rel": f"{folder}/{name}", "fraction": fraction, "kept": n, "total": len(records),
            "bytes": dest.stat().st_size, "strata": len(strata), "stratum_field": stratum_field,
            "topped": topped, "keys": len(kept), "key_field": key_field,
        })

    total_records = sum(r["kept"] for r in rows)
    write_readme(out, rows, total_records, licenses_by_folder)
    total_bytes = du_sb(out)

    w = max(len(r["rel"]) for r in rows)
    print(f"{'file':<{w}}  {'frac':>5}  {'kept':>6}  {'of':>6}  {'bytes':>10}  strata")
    for r in rows:
        note = ""
        if r["stratum_field"]:
            note = f"{r['strata']} {r['stratum_field']}"
            if r["topped"]:
                note += f", {len(r['topped'])} topped up"
        if r["key_field"] != "id":
            note = (note + ", " if note else "") + f"{r['keys']} {r['key_field']}s"
        print(f"{r['rel']:<{w}}  {r['fraction']:>5g}  {r['kept']:>6}  {r['total']:>6}  {r['bytes']:>10,}  {note}")
    print(f"{'all records':<{w}}  {'':>5}  {total_records:>6}")
    print(f"total size of {out} (du -sb): {total_bytes:,} bytes (limit {args.max_bytes:,})")
    if total_bytes > args.max_bytes:
        sys.exit("sample is over the size limit: lower the keep fractions in PLAN")


if __name__ == "__main__":
    main()
