#!/usr/bin/env bash
# Attribution benchmark: `distillwatch reference attribute` reading every
# completion of a 7-day window of simulated traffic (about 100,000 events at
# scale 1) against a suspect set of 10,000 outputs, beside the same lexical
# matching written the way an analyst would script it (Python: eight-word
# shingle sets, an inverted index, boilerplate shingles dropped, runs quoted
# from the prompt left out; scripts/bench/attribution_baseline.py) on the same
# completions, exported by psql. The suspect set: 2,000 completions the window
# served (each with a lead-in, as a suspect serving them would), and 8,000
# other real outputs (GPTeacher's GPT-4 answers, sampled math reasoning traces,
# Arena-Hard and Self-Instruct answers), from ../shared/data. Wall time and
# peak RSS from /usr/bin/time; RUNS runs each, medians reported. Then one run
# that also compares by meaning: aligned prompts and lexical candidates (embedding time reported apart).
#
#   cargo build --release --bin distillwatch
#   scripts/bench/attribution.sh 3
set -euo pipefail
cd "$(dirname "$0")/../.."

runs=${1:-3}
data=${DW_BENCH_DATA:-../shared/data}
bin=$(realpath target/release/distillwatch)
work=$(mktemp -d "${TMPDIR:-/tmp}/dw-attribution.XXXXXX")
state="$work/state"
unset DATABASE_URL
export DISTILLWATCH__LOG__FILTER=warn

url=$("$bin" --data-dir "$state" db start)
cleanup() {
    "$bin" --data-dir "$state" db remove --yes >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
echo "PostgreSQL $(psql "$url" -XAtc 'SHOW server_version'); $(nproc) cores; runs: $runs"

"$bin" --data-dir "$state" simulate --seed 21 --scale 1 --data "$data" --out "$work/events.jsonl" --labels "$work/labels.csv" 2>&1 | tail -1
"$bin" --data-dir "$state" ingest --backfill "$work/events.jsonl" 2>&1 | tail -1
events=$(psql "$url" -XAtc "SELECT count(*) FROM events WHERE completion IS NOT NULL")

# The suspect set: 2,000 served completions (deterministic sample) and 8,000 other outputs.
# (Unaligned psql output, not \copy: COPY's text format would escape the JSON's backslashes.)
psql "$url" -XAtc "SELECT json_build_object('prompt', prompt, 'output', 'Sure! ' || completion)
    FROM events WHERE completion IS NOT NULL ORDER BY md5(account_id || event_id) LIMIT 2000" > "$work/served.jsonl"
python3 scripts/bench/output_pool.py "$data" "$work/pool.jsonl"
head -n 8000 "$work/pool.jsonl" > "$work/others.jsonl"
cat "$work/served.jsonl" "$work/others.jsonl" > "$work/suspect.jsonl"
# Stored without vectors: the run by meaning below embeds (and stores) the outputs it compares.
"$bin" --data-dir "$state" reference add suspect "$work/suspect.jsonl" --lexical-only 2>&1 | tail -1
psql "$url" -XAtc "\copy (SELECT account_id, event_id, prompt, completion FROM events WHERE completion IS NOT NULL
    ORDER BY account_id, ts, event_id) TO '$work/completions.csv' WITH (FORMAT csv)"
psql "$url" -XAtc "\copy (SELECT id, output FROM reference_items ORDER BY id) TO '$work/items.csv' WITH (FORMAT csv)"
items=$(wc -l < "$work/suspect.jsonl")
echo "completions: $events; suspect items: $items"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() { # name, command...
    local name=$1; shift
    for _ in $(seq "$runs"); do
        /usr/bin/time -f "%e %M" -o "$work/time" "$@" > "$work/$name.out"
        cat "$work/time"
    done > "$work/$name.times"
    local wall rss
    wall=$(cut -d' ' -f1 "$work/$name.times" | median)
    rss=$(cut -d' ' -f2 "$work/$name.times" | median)
    echo "$name: median ${wall} s, peak RSS $((rss / 1024)) MB"
}
measure distillwatch "$bin" --data-dir "$state" reference attribute suspect --json --lexical-only
measure python python3 scripts/bench/attribution_baseline.py "$work/items.csv" "$work/completions.csv"
# The comparison by meaning: our completions for the prompts the suspect's items carry, embedded on CPU
# with the item outputs (one run: the embedding time is reported by the command itself).
"$bin" --data-dir "$state" reference attribute suspect --json > "$work/semantic.out"
python3 - "$work/semantic.out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"with meaning: {r['aligned_pairs']} aligned pairs (of {r['aligned_pairs_found']} found) and "
      f"{r['candidate_pairs']} candidate pairs (of {r['candidate_pairs_found']} found) embedded in "
      f"{r['embedding_seconds']:.1f} s ({r['embedding_model']}); "
      f"{r['items_matched']} items matched, {sum(a['semantic_matches'] for a in r['accounts'])} completions matched by meaning")
PY
python3 - "$work/distillwatch.out" "$work/python.out" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))
base = json.load(open(sys.argv[2]))
print(f"distillwatch: {ours['completions_read']} completions, {ours['items_matched']} items matched, "
      f"{ours['accounts_matched']} accounts")
print(f"python:       {base['completions_read']} completions, {base['items_matched']} items matched, "
      f"{base['accounts_matched']} accounts")
PY
