#!/usr/bin/env python3
"""Lexical attribution as an analyst would script it, for the benchmark beside
`distillwatch reference attribute` (scripts/bench/attribution.sh): the same
rule (eight-word shingles of lowercased words, shingles held by more than 20
reference outputs dropped, runs quoted from the prompt left out, a match at 5
shared shingles covering 60% of either text), plain Python sets and dicts.

    attribution_baseline.py ITEMS.csv COMPLETIONS.csv > report.json

ITEMS.csv: id,output. COMPLETIONS.csv: account_id,event_id,prompt,completion.
"""

import csv
import json
import re
import sys
from collections import defaultdict

N, MAX_ITEMS, MIN_SHARED, MIN_CONTAINMENT = 8, 20, 5, 0.6
WORD = re.compile(r"\w+")


def shingles(text):
    words = WORD.findall(text.lower())
    if not words:
        return set()
    width = min(N, len(words))
    return {tuple(words[i : i + width]) for i in range(len(words) - width + 1)}


def main():
    csv.field_size_limit(1 << 30)
    postings = defaultdict(list)
    sizes = {}
    with open(sys.argv[1], newline="") as f:
        for item_id, output in csv.reader(f):
            s = shingles(output)
            sizes[item_id] = len(s)
            for sh in s:
                postings[sh].append(item_id)
    postings = {k: v for k, v in postings.items() if len(v) <= MAX_ITEMS}
    read, matched_items, accounts = 0, set(), set()
    with open(sys.argv[2], newline="") as f:
        for account, _event, prompt, completion in csv.reader(f):
            read += 1
            s = shingles(completion) - shingles(prompt)
            if not s:
                continue
            shared = defaultdict(int)
            for sh in s:
                for item in postings.get(sh, ()):
                    shared[item] += 1
            for item, n in shared.items():
                if n >= MIN_SHARED and max(n / max(sizes[item], 1), n / len(s)) >= MIN_CONTAINMENT:
                    matched_items.add(item)
                    accounts.add(account)
    json.dump(
        {"completions_read": read, "items_matched": len(matched_items), "accounts_matched": len(accounts)},
        sys.stdout,
    )


if __name__ == "__main__":
    main()
