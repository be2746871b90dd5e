"""Per-kind distribution and ROC AUC (attack against benign) of signals read
from an evidence file that holds every account (see scripts/coverage.sh)."""
import csv
import json
import sys
from collections import defaultdict

SIGNALS = ["topic_entropy", "topic_evenness", "reask_share", "task_instruction_share"]


def auc(positive, negative):
    """Probability that a random positive outranks a random negative; ties count one half."""
    ranked = sorted([(v, 1) for v in positive] + [(v, 0) for v in negative])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mid = (i + j + 1) / 2
        rank_sum += mid * sum(label for _, label in ranked[i:j])
        i = j
    n_pos, n_neg = len(positive), len(negative)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def main(evidence_path, labels_path):
    labels = {row["account_id"]: row for row in csv.DictReader(open(labels_path))}
    accounts = []
    for line in open(evidence_path):
        bundle = json.loads(line)
        signals = {s["name"]: s["value"] for s in bundle["signals"]}
        accounts.append((bundle["score"]["account_id"], signals))
    print(f"{len(accounts)} accounts with evidence")
    print("| signal | ROC AUC | attack / benign accounts with it | not computed |")
    print("| --- | ---: | ---: | ---: |")
    per_kind = defaultdict(lambda: defaultdict(list))
    for name in SIGNALS:
        attack, benign, missing = [], [], 0
        for account, signals in accounts:
            label = labels.get(account)
            value = signals.get(name)
            if label is None:
                continue
            if value is None:
                missing += 1
                continue
            (attack if label["label"] == "1" else benign).append(value)
            per_kind[label["kind"]][name].append(value)
        print(f"| `{name}` | {auc(attack, benign):.3f} | {len(attack)} / {len(benign)} | {missing} |")
    print()
    print("| kind | accounts | " + " | ".join(f"{n} median" for n in SIGNALS[:3]) + " |")
    print("| --- | ---: |" + " ---: |" * 3)
    for kind in sorted(per_kind):
        values = per_kind[kind]
        cells = []
        for name in SIGNALS[:3]:
            v = sorted(values.get(name, []))
            cells.append(f"{v[len(v) // 2] + 0.0:.2f}" if v else "-")  # + 0.0: no "-0.00"
        print(f"| {kind} | {len(values.get(SIGNALS[0], []))} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
