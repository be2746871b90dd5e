#!/usr/bin/env python3
"""Would directions in embedding space add to the fingerprint test (issue #24, item 1)?

The fingerprint test (crates/dw-detect/src/reference/fingerprint.rs) learns, per case, the habits that
tell our answers from other models' (phrases, openings, closings, layout). This measures the one kind of
feature it leaves out, a direction in sentence-embedding space, under the same protocol as the
calibration's lineage rows (docs/evaluation.md, "The fingerprint test"):

- the lineage panel's prompts are split in two at random (seeded, one split per repetition): ours are
  gpt-3.5-turbo's answers to one half, every other model's are its answers to the other half, so no
  prompt is shared;
- our answers are halved again: one half learns, the other is held out;
- for each control of other families (Claude v1, Claude Instant, Claude 2, PaLM 2) left out in turn, the
  direction is the mean of our learning half's unit vectors minus the mean of the other controls' (the
  background), and a model's **share** is the mean projection of its answers on it, placed on the scale
  where the background's mean is 0 and our held-out answers' mean is 1;
- the suspect's share (its mean over the left-out directions) against the four controls' shares (each
  scored with itself left out): the panel's one-sided Student-t prediction test, as the fingerprint
  test's panel decision is made.

Vectors come from `distillwatch embed` (all-MiniLM-L6-v2), one per answer, in the order this script
writes the texts:

    python3 scripts/eval/fingerprint_meaning.py texts ../shared/data /tmp/lineage   # writes texts.jsonl, index.tsv
    distillwatch embed --input /tmp/lineage/texts.jsonl --output /tmp/lineage/vectors.npy
    python3 scripts/eval/fingerprint_meaning.py measure ../shared/data /tmp/lineage --repetitions 20

Needs numpy.
"""

import argparse
import json
import math
import os
import random

TEACHER = "gpt-3.5-turbo"
CONTROLS = ["claude-v1", "claude-instant-v1", "claude-2", "palm-2-chat-bison-001"]
SUSPECTS = [
    "wizardlm-70b-v1.0",
    "vicuna-33b-v1.3",
    "vicuna-13b-v1.5",
    "vicuna-7b-v1.5",
    "gpt-4",
    "Llama-2-70b-chat",
]


def rows(data):
    path = os.path.join(data, "paired_outputs", "arena_1k_wide.jsonl")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def write_texts(data, out):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "texts.jsonl"), "w", encoding="utf-8") as texts, open(
        os.path.join(out, "index.tsv"), "w", encoding="utf-8"
    ) as index:
        for i, row in enumerate(rows(data)):
            for model, answer in sorted(row["outputs"].items()):
                if answer:
                    texts.write(json.dumps(answer) + "\n")
                    index.write(f"{i}\t{model}\n")


def t_upper(t, df):
    """P(T >= t) for Student's t with df degrees of freedom (numerical integration of the density)."""
    import numpy as np

    if t <= 0:
        return 1.0 - t_upper(-t, df) if t < 0 else 0.5
    c = math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
    xs = np.linspace(0.0, t, 20001)
    density = c * (1 + xs * xs / df) ** (-(df + 1) / 2)
    return 0.5 - float(np.trapezoid(density, xs))


def standing(value, others):
    """The panel's prediction test: is `value` above the distribution `others` are drawn from?"""
    k = len(others)
    m = sum(others) / k
    sd = math.sqrt(sum((o - m) ** 2 for o in others) / (k - 1))
    t = (value - m) / (sd * math.sqrt(1 + 1 / k))
    return t, t_upper(t, k - 1)


def measure(data, folder, repetitions, seed):
    import numpy as np

    vectors = np.load(os.path.join(folder, "vectors.npy"))
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    at = {}
    with open(os.path.join(folder, "index.tsv"), encoding="utf-8") as f:
        for k, line in enumerate(f):
            i, model = line.rstrip("\n").split("\t")
            at.setdefault(model, {})[int(i)] = k
    if sum(len(v) for v in at.values()) != len(vectors):
        raise SystemExit("vectors.npy does not hold one vector per line of texts.jsonl")
    rng = random.Random(seed)
    prompts = sorted(at[TEACHER])
    results = {m: [] for m in SUSPECTS + CONTROLS}
    for _ in range(repetitions):
        rng.shuffle(prompts)
        ours_half = sorted(prompts[: len(prompts) // 2])
        theirs_half = prompts[len(prompts) // 2 :]
        ours = [at[TEACHER][p] for p in ours_half]
        learn, held = ours[0::2], ours[1::2]

        def answers(model):
            return [at[model][p] for p in theirs_half if p in at[model]]

        def share_on(model, excluded):
            # The background: the controls not excluded; the model scored is never among them.
            background = [k for c in CONTROLS if c not in excluded and c != model for k in answers(c)]
            direction = vectors[learn].mean(0) - vectors[background].mean(0)
            direction /= np.linalg.norm(direction)
            zero = float((vectors[background] @ direction).mean())
            one = float((vectors[held] @ direction).mean())
            return (float((vectors[answers(model)] @ direction).mean()) - zero) / (one - zero)

        for model in SUSPECTS + CONTROLS:
            # Each control of the panel is scored with itself (and the suspect) left out of the background;
            # the suspect on the same directions, its share the mean over them.
            panel = [c for c in CONTROLS if c != model]
            control_shares = [share_on(c, {c, model}) for c in panel]
            suspect_share = sum(share_on(model, {c, model}) for c in panel) / len(panel)
            t, p = standing(suspect_share, control_shares)
            results[model].append((suspect_share, sum(control_shares) / len(control_shares), t, p))
    print(
        f"| suspect ({repetitions} splits, seed {seed}) | its share of our direction (median, range) | "
        "the controls' mean share | t (median) | panel p (median, range) |"
    )
    print("| --- | --- | ---: | ---: | --- |")
    for model, runs in results.items():
        shares = sorted(r[0] for r in runs)
        ps = sorted(r[3] for r in runs)
        ts = sorted(r[2] for r in runs)
        mid = len(runs) // 2
        controls_mean = sorted(r[1] for r in runs)[mid]
        against = "the other three" if model in CONTROLS else "the four"
        print(
            f"| {model} against {against} | {shares[mid]:.2f} ({shares[0]:.2f} to {shares[-1]:.2f}) | "
            f"{controls_mean:.2f} | {ts[mid]:.2f} | {ps[mid]:.3f} ({ps[0]:.3f} to {ps[-1]:.3f}) |"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=["texts", "measure"])
    parser.add_argument("data", help="the shared data folder")
    parser.add_argument("folder", help="where texts.jsonl, index.tsv and vectors.npy are")
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.step == "texts":
        write_texts(args.data, args.folder)
    else:
        measure(args.data, args.folder, args.repetitions, args.seed)


if __name__ == "__main__":
    main()
