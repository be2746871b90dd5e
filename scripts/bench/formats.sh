#!/usr/bin/env bash
# Gateway formats against the canonical path (issue #22): the same calls, written
# by scripts/bench/to_formats.py as canonical events, OpenAI request/response
# pairs, LiteLLM StandardLoggingPayloads and OTLP JSON export requests, each
# loaded with `distillwatch ingest --format F` into a fresh database of one
# PostgreSQL cluster (the embedded one), one after the other, RUNS times (each
# run in another order, each load after a CHECKPOINT); beside them the floor of
# ingest.sh (psql \copy of the canonical lines into one jsonb column). What was
# stored is checked to be the same calls in every format.
#
#   cargo build --release --bin distillwatch
#   python3 scripts/bench/gen_events.py --n 100000 --data ../shared/data --out bench-out/events.jsonl
#   python3 scripts/bench/to_formats.py bench-out/events.jsonl bench-out/formats
#   scripts/bench/formats.sh bench-out/events.jsonl bench-out/formats 3
set -euo pipefail
cd "$(dirname "$0")/../.."

canonical=$(realpath "${1:-bench-out/events.jsonl}")
formats=$(realpath "${2:-bench-out/formats}")
runs=${3:-3}
bin=$(realpath "${BIN:-target/release/distillwatch}")
work=$(mktemp -d "${TMPDIR:-/tmp}/dw-bench.XXXXXX")
state="$work/state"
unset DATABASE_URL
export DISTILLWATCH__LOG__FILTER=warn
export DISTILLWATCH__INGEST__CLOCK=2026-12-01T00:00:00Z

url=$("$bin" --data-dir "$state" db start)
base="${url%/distillwatch}"
cleanup() {
    "$bin" --data-dir "$state" db remove --yes >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

events=$(wc -l <"$canonical")
echo "calls: $events; runs: $runs; PostgreSQL: $(psql "$base/postgres" -XAtc 'SHOW server_version')"
now() { date +%s.%N; }
fresh_db() {
    psql "$base/postgres" -Xqc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
    echo "$base/$1"
}
digest() {
    psql "$1" -XAtc "SELECT md5(string_agg(account_id || '|' || prompt || '|' || coalesce(completion, ''), ',' \
        ORDER BY account_id, prompt, completion)) || ' ' || count(*) FROM events"
}

results="$work/results.tsv"
# One timed load of path $1 in run $2, into a fresh database. A CHECKPOINT
# first, so that no load pays for the dirty pages and WAL the one before it left
# (PostgreSQL writes them back in the background, and a checkpoint that falls
# inside a load slows it down).
load() {
    local path=$1 run=$2 db t0 t1 got file
    if [[ $path == floor ]]; then
        db=$(fresh_db bench_floor)
        psql "$db" -Xqc "CREATE TABLE raw_events (doc jsonb)"
        psql "$base/postgres" -Xqc "CHECKPOINT"
        t0=$(now)
        psql "$db" -Xqc "\\copy raw_events FROM '$canonical' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')"
        t1=$(now)
        echo -e "floor\t$run\t$(echo "$t1 - $t0" | bc)\t$(stat -c %s "$canonical")" | tee -a "$results"
        return
    fi
    file="$formats/$path.jsonl"
    [[ $path == canonical ]] && file=$canonical
    db=$(fresh_db "bench_$path")
    DATABASE_URL="$db" "$bin" db migrate 2>/dev/null
    psql "$base/postgres" -Xqc "CHECKPOINT"
    t0=$(now)
    DATABASE_URL="$db" "$bin" ingest --format "$path" "$file" 2>"$work/$path.err"
    t1=$(now)
    got=$(digest "$db")
    expected=${expected:-$got}
    [[ "$got" == "$expected" && "$got" == *" $events" ]] || {
        echo "$path stored other calls: $got, expected $expected" >&2
        cat "$work/$path.err" >&2
        exit 1
    }
    echo -e "$path\t$run\t$(echo "$t1 - $t0" | bc)\t$(stat -c %s "$file")" | tee -a "$results"
}

# Each run starts one path further along, so that over five runs every path
# loads once in every position: whichever loads after the others is not always
# the same one.
paths=(floor canonical openai litellm otlp)
expected=
for run in $(seq 1 "$runs"); do
    for i in "${!paths[@]}"; do
        load "${paths[$(((i + run - 1) % ${#paths[@]}))]}" "$run"
    done
done

python3 - "$results" "$events" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
events = int(sys.argv[2])
names = ("floor", "canonical", "openai", "litellm", "otlp")
med = {n: statistics.median(float(t) for m, _, t, _ in rows if m == n) for n in names}
size = {n: int(next(b for m, _, _, b in rows if m == n)) for n in names}
labels = {"floor": "psql \\copy of the canonical lines into one jsonb column (floor)",
          "canonical": "distillwatch ingest (canonical)", "openai": "distillwatch ingest --format openai",
          "litellm": "distillwatch ingest --format litellm", "otlp": "distillwatch ingest --format otlp"}
print()
print("| path | file MB | median s (runs) | calls/s | ratio to canonical | ratio to floor |")
print("| --- | ---: | --- | ---: | ---: | ---: |")
for n in names:
    runs = ", ".join(f"{float(t):.2f}" for m, _, t, _ in rows if m == n)
    print(f"| {labels[n]} | {size[n] / 1e6:.0f} | {med[n]:.2f} ({runs}) | {events / med[n]:,.0f} | "
          f"{med['canonical'] / med[n]:.2f} | {med['floor'] / med[n]:.2f} |")
PY
