#!/usr/bin/env python3
"""Writes N realistic canonical events for the ingest benchmark.

Prompts (~500 characters) and completions (~1,500) are built from real public
text in ../shared/data (GPTeacher instructions and answers, human prompts),
concatenating consecutive records until the target length; accounts, times,
parameters, IPs and user agents vary the way API logs do. Deterministic.

    python3 scripts/bench/gen_events.py --n 200000 --data ../shared/data --out bench-out/events.jsonl
"""
import argparse
import json
import random


def pieces(path, field):
    with open(path, encoding="utf-8") as f:
        for line in f:
            text = (json.loads(line).get(field) or "").strip()
            if text:
                yield text


def fill(texts, start, target):
    out, i = [], start
    while sum(len(t) for t in out) < target:
        out.append(texts[i % len(texts)])
        i += 1
    return "\n\n".join(out)[:target]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=7)
    # Lengths in characters (around these, +-20%): the defaults give events of about 2.7 KB; --prompt 150
    # --completion 450 about 1 KB, short chats as most real traffic is.
    ap.add_argument("--prompt", type=int, default=500)
    ap.add_argument("--completion", type=int, default=1500)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    prompts = list(pieces(f"{args.data}/distill_instructions/distill_instructions.jsonl", "prompt"))
    prompts += list(pieces(f"{args.data}/human_prompts/human_prompts.jsonl", "prompt"))
    answers = list(pieces(f"{args.data}/distill_instructions/distill_instructions.jsonl", "response"))
    agents = ["OpenAI/Python 1.54.0", "OpenAI/NodeJS/4.73.1", "python-requests/2.31.0", "curl/8.5.0"]
    with open(args.out, "w", encoding="utf-8") as out:
        for i in range(args.n):
            account = rng.randrange(1500)
            prompt = fill(prompts, rng.randrange(len(prompts)), rng.randint(args.prompt * 4 // 5, args.prompt * 6 // 5))
            completion = fill(answers, rng.randrange(len(answers)),
                              rng.randint(args.completion * 4 // 5, args.completion * 6 // 5))
            event = {
                "event_id": f"bench-{i}",
                "account_id": f"acct_{account}",
                "api_key_id": f"key_{account}_{rng.randrange(3)}",
                "org_id": f"org_{account // 10}",
                "timestamp": f"2026-11-{1 + i * 7 // args.n:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(1000):03d}Z",
                "model": rng.choice(["gpt-x", "gpt-x-mini"]),
                "endpoint": "chat.completions",
                "request": {
                    "messages": [
                        {"role": "system", "content": "You are a helpful assistant."},
                        {"role": "user", "content": prompt},
                    ],
                    "temperature": rng.choice([0, 0.2, 0.7, 1.0]),
                    "top_p": 1.0,
                    "max_tokens": rng.choice([256, 512, 1024, 2048]),
                    "n": 1,
                    "logprobs": False,
                    "seed": None,
                },
                "response": {"content": completion, "finish_reason": "stop"},
                "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(completion) // 4},
                "client": {"ip": f"{rng.choice([34, 52, 81, 203])}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                           "user_agent": rng.choice(agents)},
                "conversation_id": f"thread_{account}_{rng.randrange(50)}",
                "metadata": {"region": rng.choice(["us", "eu", "apac"])},
            }
            out.write(json.dumps(event, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
