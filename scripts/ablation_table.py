#!/usr/bin/env python3
"""The ablation table of docs/evaluation.md from the reports scripts/evaluation.sh
writes under docs/evaluation/ablations/ (SUITE-WITHOUT.json): one row per suite
and logged fields, the default detector's pooled numbers, farms and evaders."""
import json
import pathlib
import sys

ROWS = [
    ("all", "everything, with account attributes"),
    ("attributes", "no account attributes"),
    ("attributes,client", "no attributes, no client IP or user agent"),
    ("attributes,params", "no attributes, no sampling parameters"),
    ("attributes,history", "no attributes, last message only"),
]
FARMS = ("farm_hosting", "farm_residential", "farm_rotating_hosting", "farm_proxy_reasoning")


def row(suite, without, words, report):
    r = report["reports"][0]
    recall = {x["target_fpr"]: x["recall"]["value"] for x in r["recall_at_fpr"]}
    kinds = {k["kind"]: k for k in r["attack_kinds"]}
    flagged = sum(k["flagged"] for k in r["attack_kinds"])
    positives = sum(k["accounts"] for k in r["attack_kinds"])
    benign = sum(k["flagged"] for k in r["benign_kinds"])
    negatives = sum(k["accounts"] for k in r["benign_kinds"])
    worst = max(r["benign_kinds"], key=lambda k: k["rate"])
    worst = f"{worst['kind']} {worst['flagged']}/{worst['accounts']}" if worst["flagged"] else "none"
    farms = [c for c in r["campaigns"] if any(f.replace("_", "-") in c["campaign"] for f in FARMS)]
    linked = sum(1 for c in farms if c["completeness"] >= 0.9 and (c["purity"] or 0) >= 0.95)
    farm_flagged = sum(kinds[f]["flagged"] for f in FARMS if f in kinds)
    farm_accounts = sum(kinds[f]["accounts"] for f in FARMS if f in kinds)
    ev = kinds.get("paraphrase_evader", {"flagged": 0, "accounts": 0})
    auc = r["roc_auc"]["value"] if r["roc_auc"] else float("nan")
    return (
        f"| {suite} | {words} | {recall.get(0.001, 0):.3f} | {recall.get(0.01, 0):.3f} | {auc:.3f} | "
        f"{flagged}/{positives} | {benign}/{negatives} ({worst}) | {farm_flagged}/{farm_accounts} | "
        f"{linked}/{len(farms)} | {ev['flagged']}/{ev['accounts']} |"
    )


def main():
    folder = pathlib.Path(sys.argv[1])
    print("| suite | logged | recall @0.1% FPR | @1% | ROC AUC | extraction accounts flagged | benign flagged "
          "(worst kind) | farm accounts flagged | farms linked (completeness ≥ 0.9, purity ≥ 0.95) | "
          "paraphrasing evaders flagged |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for suite in ("standard", "frozen"):
        for without, words in ROWS:
            path = folder / f"{suite}-{without}.json"
            if path.exists():
                print(row(suite, without, words, json.loads(path.read_text())))


if __name__ == "__main__":
    main()
