#!/usr/bin/env bash
# Reference cost benchmark (issue #24, item 6): what a 10,000-item suspect set
# costs against a week of about 165,000 served events, every reference command
# once: loading the sets, attribution, the paired test, the panel test, the
# fingerprint test by wording, then attribution and the paired test by meaning
# (all-MiniLM-L6-v2 on CPU; the outputs and completions they embed are stored,
# so a second run of the same command embeds nothing new, timed too). Wall
# time, CPU time (user + system) and peak RSS of each command from
# /usr/bin/time.
#
# The data: simulated traffic, seed 2, scale 1.3 (about 167,000 events over
# 7 days) on ../shared/data. The suspect set: 2,000 completions the window
# served, each with a lead-in, and 8,000 other real outputs (GPTeacher's GPT-4
# answers, sampled math reasoning traces, Arena-Hard and Self-Instruct
# answers), as scripts/bench/attribution.sh builds it. Three control sets: the
# same 10,000 prompts, each answered with another of those outputs (a
# rotation of the pool, one per control).
#
#   cargo build --release --bin distillwatch
#   scripts/bench/reference_cost.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

data=${DW_BENCH_DATA:-../shared/data}
bin=$(realpath "${BIN:-target/release/distillwatch}")
work=$(mktemp -d "${TMPDIR:-/tmp}/dw-reference-cost.XXXXXX")
state="$work/state"
unset DATABASE_URL
export DISTILLWATCH__LOG__FILTER=warn

url=$("$bin" --data-dir "$state" db start)
cleanup() {
    "$bin" --data-dir "$state" db remove --yes >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
echo "PostgreSQL $(psql "$url" -XAtc 'SHOW server_version'); $(nproc) cores; $(basename "$bin") $("$bin" --version)"

"$bin" --data-dir "$state" simulate --seed 2 --scale 1.3 --data "$data" --out "$work/events.jsonl" \
    --labels "$work/labels.csv" 2>&1 | tail -1
"$bin" --data-dir "$state" ingest --backfill "$work/events.jsonl" 2>&1 | tail -1
psql "$url" -XqAtc "VACUUM ANALYZE"
echo "events: $(psql "$url" -XAtc 'SELECT count(*) FROM events'), with a completion: $(psql "$url" -XAtc \
    'SELECT count(*) FROM events WHERE completion IS NOT NULL')"

# (Unaligned psql output, not \copy: COPY's text format would escape the JSON's backslashes.)
psql "$url" -XAtc "SELECT json_build_object('prompt', prompt, 'output', 'Sure! ' || completion)
    FROM events WHERE completion IS NOT NULL ORDER BY md5(account_id || event_id) LIMIT 2000" > "$work/served.jsonl"
python3 scripts/bench/output_pool.py "$data" "$work/pool.jsonl"
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
pool = [json.loads(l) for l in open(f"{work}/pool.jsonl")]
served = [json.loads(l) for l in open(f"{work}/served.jsonl")]
suspect = served + pool[:8000]
with open(f"{work}/suspect.jsonl", "w") as f:
    for item in suspect:
        f.write(json.dumps(item) + "\n")
outputs = [item["output"] for item in pool]
for k in (1, 2, 3):
    with open(f"{work}/control-{k}.jsonl", "w") as f:
        for i, item in enumerate(suspect):
            f.write(json.dumps({"prompt": item["prompt"], "output": outputs[(i + 997 * k) % len(outputs)]}) + "\n")
PY

printf '%-44s %9s %9s %8s\n' command "wall s" "CPU s" "RSS MB"
timed() { # name, command...
    local name=$1; shift
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" > "$work/$name.out" 2> "$work/$name.err" \
        || { cat "$work/$name.err"; exit 1; }
    read -r wall user sys rss < "$work/time"
    printf '%-44s %9.2f %9.2f %8d\n' "$name" "$wall" "$(echo "$user + $sys" | bc)" "$((rss / 1024))"
}
ref=("$bin" --data-dir "$state" reference)
timed "add suspect (10,000 items, by wording)" "${ref[@]}" add suspect "$work/suspect.jsonl" --lexical-only
for k in 1 2 3; do
    timed "add control-$k (by wording)" "${ref[@]}" add "control-$k" "$work/control-$k.jsonl" --control --lexical-only
done
panel=(--control control-1 --control control-2 --control control-3)
timed "attribute (by wording)" "${ref[@]}" attribute suspect --json --lexical-only
timed "test, paired (by wording)" "${ref[@]}" test suspect --control control-1 --json --lexical-only
timed "test, panel of 3 (by wording)" "${ref[@]}" test suspect "${panel[@]}" --json --lexical-only
timed "fingerprint, panel of 3 (5,000 served)" "${ref[@]}" fingerprint suspect "${panel[@]}" --json
timed "attribute (by meaning, first run)" "${ref[@]}" attribute suspect --json
timed "attribute (by meaning, again)" "${ref[@]}" attribute suspect --json
timed "test, paired (by meaning, first run)" "${ref[@]}" test suspect --control control-1 --json
timed "test, paired (by meaning, again)" "${ref[@]}" test suspect --control control-1 --json
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
a = json.load(open(f"{work}/attribute (by meaning, first run).out"))
t = json.load(open(f"{work}/test, paired (by meaning, first run).out"))
f = json.load(open(f"{work}/fingerprint, panel of 3 (5,000 served).out"))
print(f"attribution: {a['completions_read']} completions read, {a['items_matched']} items matched; by meaning "
      f"{a['aligned_pairs']} aligned and {a['candidate_pairs']} candidate pairs embedded in {a['embedding_seconds']:.1f} s")
print(f"paired test: {t['test']['aligned_items']} prompts aligned, {t['test']['conclusion']}")
print(f"fingerprint: {f['served_read']} served read, suspect share {f['test']['suspect']['share']:.2f}, "
      f"{f['test']['conclusion']}")
PY
