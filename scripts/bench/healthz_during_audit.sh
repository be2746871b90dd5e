#!/usr/bin/env bash
# How long `serve` takes to answer /healthz while one of its workers audits a
# large window (issue #21: compute off the async runtime). One database is
# loaded once; each binary given (say, the build before the change and the
# build after) serves it in turn, an audit of the whole window is queued
# through the API, and /healthz is asked every 20 ms until the audit is done.
# Latencies are curl's time_total; the audit's wall time is the same loop's.
#
#   cargo build --release --bin distillwatch
#   target/release/distillwatch simulate --seed 21 --scale 1 --data ../shared/data \
#       --out bench-out/audit/events-1.jsonl --labels bench-out/audit/labels-1.csv
#   scripts/bench/healthz_during_audit.sh bench-out/audit/events-1.jsonl BEFORE_BIN target/release/distillwatch
set -euo pipefail
cd "$(dirname "$0")/../.."

file=$(realpath "${1:?events file}")
shift
bins=("$@")
[[ ${#bins[@]} -gt 0 ]] || bins=(target/release/distillwatch)
loader=$(realpath "${bins[-1]}")
work=$(mktemp -d "${TMPDIR:-/tmp}/dw-healthz.XXXXXX")
state="$work/state"
unset DATABASE_URL
export DISTILLWATCH__LOG__FILTER=warn DISTILLWATCH__AUDIT__POLL_SECONDS=1 DISTILLWATCH__AUDIT__WORKERS=1
serve_pid=
cleanup() {
    [[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null || true
    "$loader" --data-dir "$state" db remove --yes >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

url=$("$loader" --data-dir "$state" db start)
export DATABASE_URL=$url
# Simulated November 2026: a backfill (builds before the timestamp window have no such flag).
backfill=$("$loader" ingest --help | grep -q -- --backfill && echo --backfill || true)
"$loader" ingest $backfill "$file" >/dev/null 2>"$work/ingest.log" || { cat "$work/ingest.log"; exit 1; }
psql "$url" -XqAtc "VACUUM ANALYZE"
read -r events accounts < <(psql "$url" -XAtF ' ' -c "SELECT count(*), count(DISTINCT account_id) FROM events")
read -r from to < <(psql "$url" -XAtF ' ' -c \
    "SELECT to_char(date_trunc('day', min(ts)), 'YYYY-MM-DD'), to_char(date_trunc('day', max(ts)) + interval '1 day', 'YYYY-MM-DD') FROM events")
echo "$events events, $accounts accounts, window [$from, $to); $(nproc) cores"
printf '%-40s | %8s | %8s | %8s | %8s | %s\n' binary probes "p50 ms" "p99 ms" "max ms" "audit s"

for bin in "${bins[@]}"; do
    bin=$(realpath "$bin")
    key=$("$bin" keys create --role analyst --name "bench-$RANDOM" 2>/dev/null)
    "$bin" serve --bind 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
    serve_pid=$!
    for _ in $(seq 100); do grep -q listening "$work/serve.out" && break; sleep 0.1; done
    base=$(sed -n 's/^distillwatch listening on //p' "$work/serve.out")
    [[ -n $base ]] || { cat "$work/serve.err"; exit 1; }
    # Warm: the first probe of a fresh process pays for its connection setup.
    for _ in 1 2 3; do curl -sf -o /dev/null "$base/healthz"; done
    start=$(date +%s.%N)
    id=$(curl -sf -H "Authorization: Bearer $key" -H "Content-Type: application/json" \
        -d "{\"from\":\"${from}T00:00:00Z\",\"to\":\"${to}T00:00:00Z\",\"dry_run\":true}" "$base/v1/audits" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    : >"$work/latencies"
    state_now=queued
    while [[ $state_now != done && $state_now != failed ]]; do
        for _ in $(seq 10); do
            curl -sf -o /dev/null -w '%{time_total}\n' "$base/healthz" >>"$work/latencies"
            sleep 0.02
        done
        state_now=$(curl -sf -H "Authorization: Bearer $key" "$base/v1/audits/$id" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
    done
    wall=$(echo "$(date +%s.%N) - $start" | bc)
    kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; serve_pid=
    [[ $state_now == done ]] || { echo "the audit failed"; cat "$work/serve.err"; exit 1; }
    python3 - "$work/latencies" "$bin" "$wall" <<'PY'
import sys
ms = sorted(float(x) * 1000 for x in open(sys.argv[1]) if x.strip())
pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
print(f"{sys.argv[2][-40:]:<40} | {len(ms):>8} | {pick(0.5):>8.1f} | {pick(0.99):>8.1f} | {ms[-1]:>8.1f} | {float(sys.argv[3]):.1f}")
PY
done
