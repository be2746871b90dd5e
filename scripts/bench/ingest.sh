#!/usr/bin/env bash
# Bulk-ingest benchmark: `distillwatch ingest` and `POST /v1/events` against the
# floor any loader of this data pays, psql \copy of the same raw JSONL lines into
# an unindexed one-column jsonb table. All three load the same file into fresh
# databases of one PostgreSQL cluster (the embedded one, default durability:
# fsync and synchronous_commit on), one after the other, RUNS times (each run in
# another order, each load after a CHECKPOINT).
#
#   cargo build --release --bin distillwatch
#   python3 scripts/bench/gen_events.py --n 200000 --data ../shared/data --out bench-out/events.jsonl
#   scripts/bench/ingest.sh bench-out/events.jsonl 3
set -euo pipefail
cd "$(dirname "$0")/../.."

file=$(realpath "${1:-bench-out/events.jsonl}")
runs=${2:-3}
bin=$(realpath target/release/distillwatch)
http_batch=${HTTP_BATCH:-5000}
http_parallel=${HTTP_PARALLEL:-2}
work=$(mktemp -d "${TMPDIR:-/tmp}/dw-bench.XXXXXX")
state="$work/state"
unset DATABASE_URL
export DISTILLWATCH__LOG__FILTER=warn
# The generated events are dated November 2026: that stands for "now" in the
# timestamp window, so the production path (window checked) is measured in any year.
export DISTILLWATCH__INGEST__CLOCK=2026-12-01T00:00:00Z

url=$("$bin" --data-dir "$state" db start)
base="${url%/distillwatch}"
serve_pid=
cleanup() {
    [[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null || true
    "$bin" --data-dir "$state" db remove --yes >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

events=$(wc -l <"$file")
bytes=$(stat -c %s "$file")
echo "file: $file ($events events, $bytes bytes); runs: $runs; PostgreSQL: $(psql "$base/postgres" -XAtc 'SHOW server_version')"
split -l "$http_batch" -d -a 4 "$file" "$work/chunk."

now() { date +%s.%N; }
fresh_db() {
    psql "$base/postgres" -Xqc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
    echo "$base/$1"
}
count() { psql "$1" -XAtc "SELECT count(*) FROM $2"; }

results="$work/results.tsv"
# A CHECKPOINT before each timed load, so that none pays for the dirty pages
# and WAL the load before it left.
checkpoint() { psql "$base/postgres" -Xqc "CHECKPOINT"; }

# 1. The floor: raw lines into one jsonb column, no indexes, no validation.
load_floor() {
    local db t0 t1
    db=$(fresh_db bench_floor)
    psql "$db" -Xqc "CREATE TABLE raw_events (doc jsonb)"
    checkpoint
    t0=$(now)
    psql "$db" -Xqc "\\copy raw_events FROM '$file' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')"
    t1=$(now)
    [[ $(count "$db" raw_events) -eq $events ]] || { echo "floor loaded a wrong count" >&2; exit 1; }
    echo -e "floor\t$1\t$(echo "$t1 - $t0" | bc)" | tee -a "$results"
}

# 2. The CLI.
load_cli() {
    local db t0 t1
    db=$(fresh_db bench_cli)
    DATABASE_URL="$db" "$bin" db migrate 2>/dev/null
    checkpoint
    t0=$(now)
    DATABASE_URL="$db" "$bin" ingest "$file" 2>"$work/cli.err"
    t1=$(now)
    [[ $(count "$db" events) -eq $events ]] || { cat "$work/cli.err" >&2; exit 1; }
    echo -e "cli\t$1\t$(echo "$t1 - $t0" | bc)" | tee -a "$results"
}

# 3. HTTP: batches of $http_batch events, $http_parallel requests at a time (as a log shipper would).
load_http() {
    local db key endpoint t0 t1
    db=$(fresh_db bench_http)
    DATABASE_URL="$db" "$bin" db migrate 2>/dev/null
    key=$(DATABASE_URL="$db" "$bin" keys create --role ingest --name bench 2>/dev/null)
    DATABASE_URL="$db" "$bin" serve --bind 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
    serve_pid=$!
    for _ in $(seq 100); do grep -q listening "$work/serve.out" && break; sleep 0.1; done
    endpoint="$(sed -n 's/^distillwatch listening on //p' "$work/serve.out")/v1/events"
    checkpoint
    t0=$(now)
    ls "$work"/chunk.* | xargs -P "$http_parallel" -I{} \
        curl -sS -f -o /dev/null -H "Authorization: Bearer $key" -H "Content-Type: application/x-ndjson" \
             --data-binary @{} "$endpoint"
    t1=$(now)
    kill "$serve_pid"; wait "$serve_pid" || true; serve_pid=
    [[ $(count "$db" events) -eq $events ]] || { cat "$work/serve.err" >&2; exit 1; }
    echo -e "http\t$1\t$(echo "$t1 - $t0" | bc)" | tee -a "$results"
}

# Each run starts one path further along, so that no path always loads last.
paths=(floor cli http)
for run in $(seq 1 "$runs"); do
    for i in "${!paths[@]}"; do
        "load_${paths[$(((i + run - 1) % ${#paths[@]}))]}" "$run"
    done
done

python3 - "$results" "$events" "$bytes" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
events, size = int(sys.argv[2]), int(sys.argv[3])
med = {}
for name in ("floor", "cli", "http"):
    times = [float(t) for n, _, t in rows if n == name]
    med[name] = statistics.median(times)
print()
print("| path | median s (runs) | events/s | MB/s | ratio to floor |")
print("| --- | --- | ---: | ---: | ---: |")
for name, label in (("floor", "psql \\copy into one jsonb column (floor)"), ("cli", "distillwatch ingest"), ("http", "POST /v1/events")):
    runs = ", ".join(f"{float(t):.2f}" for n, _, t in rows if n == name)
    print(f"| {label} | {med[name]:.2f} ({runs}) | {events / med[name]:,.0f} | {size / 1e6 / med[name]:.1f} | {med['floor'] / med[name]:.2f} |")
PY
