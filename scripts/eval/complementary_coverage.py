#!/usr/bin/env python3
"""Is there a "complementary coverage" trace between the members of one job (issue #20)?

An operation that splits one task set among its accounts leaves pairs of accounts that draw from one pool
of tasks and never repeat each other's. Whether two accounts draw from one pool, and how many tasks they
would share by chance if they drew independently, is estimated from third parties (capture-recapture): for
the accounts `c` that share tasks with both `a` and `b`, the pool `a` draws from holds about
`sum(n_a * n_c) / sum(|a & c|)` tasks (Lincoln-Petersen, pooled over `c`), likewise for `b`; their geometric
mean `N` gives the expected overlap `n_a * n_b / N`, and the Poisson probability of seeing no more than the
observed overlap says how complementary the pair is. Tasks are keys: per first-turn prompt of 8 words or
more, the smallest hash of its four-word shingles that are neither the account's frame (in 3 or more of its
prompts) nor common in the window (held by more than `--rare` accounts). Accounts with at least 30 keys.

    distillwatch simulate --seed 1 --start 2026-11-02 --days 7 --scale 1.6 --data ../shared/data \\
        --out /tmp/ev/events.jsonl --labels /tmp/ev/labels.csv
    python3 scripts/eval/complementary_coverage.py /tmp/ev/events.jsonl /tmp/ev/labels.csv

Prints, per pair category (same campaign by kind, pairs of attack kinds, pairs with a benign account), how
many pairs were tested and how many fall under 1e-6, and the pairs of members of each evader campaign.
Deterministic (keys are BLAKE2 hashes).
"""

import argparse
import collections
import csv
import hashlib
import itertools
import json
import math
import re

WORD = re.compile(r"[0-9a-z]+")
ATTACK_WORDS = ("farm", "evader", "harvest", "bulk", "mixed", "replay", "chaser", "extractors")


def stable(*parts):
    return int.from_bytes(hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest(), "little")


def shingles(text):
    words = WORD.findall(text.lower())
    if len(words) < 8:
        return set()
    return {stable(*words[i : i + 4]) for i in range(len(words) - 3)}


def poisson_cdf(k, lam):
    if k > lam:
        return 1.0
    return min(1.0, sum(math.exp(-lam + i * math.log(lam) - math.lgamma(i + 1)) for i in range(k + 1)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("events")
    parser.add_argument("labels")
    parser.add_argument("--rare", type=int, default=50, help="a shingle held by more accounts is common")
    args = parser.parse_args()
    labels = {r["account_id"]: (r["kind"], r["campaign"]) for r in csv.DictReader(open(args.labels))}
    prompts = collections.defaultdict(list)
    with open(args.events, encoding="utf-8") as f:
        for line in f:
            event = json.loads(line)
            users = [m for m in event["request"].get("messages", []) if m.get("role") == "user"]
            if len(users) == 1 and isinstance(users[0]["content"], str):
                prompts[event["account_id"]].append(users[0]["content"])
    sets = {a: [shingles(p) for p in ps] for a, ps in prompts.items()}
    held_by = collections.Counter()
    local = {}
    for a, per_prompt in sets.items():
        local[a] = collections.Counter(s for st in per_prompt for s in st)
        held_by.update(local[a].keys())
    keys = {}
    for a, per_prompt in sets.items():
        ks = set()
        for st in per_prompt:
            kept = [s for s in st if local[a][s] < 3 and held_by[s] <= args.rare]
            if kept:
                ks.add(min(kept))
        if len(ks) >= 30:
            keys[a] = ks
    holders = collections.defaultdict(set)
    for a, ks in keys.items():
        for k in ks:
            holders[k].add(a)
    shared = collections.Counter()
    for hs in holders.values():
        if len(hs) <= 40:
            for a, b in itertools.combinations(sorted(hs), 2):
                shared[(a, b)] += 1
    near = collections.defaultdict(dict)
    for (a, b), n in shared.items():
        near[a][b] = n
        near[b][a] = n
    rows = []
    accounts = sorted(keys)
    for i, a in enumerate(accounts):
        for b in accounts[i + 1 :]:
            third = [c for c in near[a] if c in near[b]]
            if len(third) < 3:
                continue
            na, nb = len(keys[a]), len(keys[b])
            pool_a = sum(na * len(keys[c]) for c in third) / sum(near[a][c] for c in third)
            pool_b = sum(nb * len(keys[c]) for c in third) / sum(near[b][c] for c in third)
            expected = na * nb / math.sqrt(pool_a * pool_b)
            observed = shared.get((a, b), 0)
            rows.append((poisson_cdf(observed, expected), a, b, observed, expected))
    groups = collections.defaultdict(list)
    for row in rows:
        (ka, ca), (kb, cb) = labels[row[1]], labels[row[2]]
        if ca and ca == cb:
            group = f"same campaign: {ka}"
        elif any(w in ka for w in ATTACK_WORDS) and any(w in kb for w in ATTACK_WORDS):
            group = "two attack accounts of different campaigns"
        else:
            group = "a benign account in the pair"
        groups[group].append(row)
    print("| pairs | tested | p < 1e-6 | median expected overlap | median observed |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for group, rs in sorted(groups.items()):
        mid = len(rs) // 2
        print(
            f"| {group} | {len(rs)} | {sum(1 for r in rs if r[0] < 1e-6)} | "
            f"{sorted(r[4] for r in rs)[mid]:.1f} | {sorted(r[3] for r in rs)[mid]} |"
        )


if __name__ == "__main__":
    main()
