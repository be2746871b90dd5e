#!/usr/bin/env bash
# Audit benchmark: `distillwatch audit` (the whole job: score every account
# with its evidence, store the scores, open or update the flags, in one
# transaction) over a 7-day window of simulated traffic at 1x, 2x and 4x
# (about 100,000 / 200,000 / 400,000 events) with the accounts' attributes
# imported, against the floor any audit of this data pays: reading the same
# columns of the same window out of PostgreSQL (psql \copy of the audit's
# SELECT to /dev/null). Each size is loaded into a fresh database of one
# embedded cluster; each audit runs RUNS times (the first opens the flags,
# the others update them); wall time and peak RSS come from /usr/bin/time, the
# stage split from the audit's own logs.
#
#   cargo build --release --bin distillwatch
#   for s in 1 2 4; do target/release/distillwatch simulate --seed 21 --scale $s --data ../shared/data \
#       --out bench-out/audit/events-$s.jsonl --labels bench-out/audit/labels-$s.csv \
#       --accounts bench-out/audit/accounts-$s.csv; done
#   scripts/bench/audit.sh 3
#
# SCALES picks the sizes (default "1 2 4"); issue #20's linking check runs
# SCALES="1 4 16" (simulate those scales the same way first). BIN picks the
# binary (default target/release/distillwatch), to compare two builds.
set -euo pipefail
cd "$(dirname "$0")/../.."

runs=${1:-3}
bin=$(realpath "${BIN:-target/release/distillwatch}")
work=$(mktemp -d "${TMPDIR:-/tmp}/dw-audit.XXXXXX")
state="$work/state"
unset DATABASE_URL
export DISTILLWATCH__LOG__FILTER=warn

url=$("$bin" --data-dir "$state" db start)
base="${url%/distillwatch}"
cleanup() {
    "$bin" --data-dir "$state" db remove --yes >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
echo "PostgreSQL $(psql "$base/postgres" -XAtc 'SHOW server_version'); $(nproc) cores; runs: $runs"

select_sql="SELECT account_id, event_id, ts, model, prompt, system_prompt,
  CASE WHEN history_logged IS FALSE THEN NULL ELSE
  greatest(coalesce(jsonb_array_length(messages) - jsonb_array_length(jsonb_path_query_array(messages,
  '\$[*] ? (@.role == \"system\" || @.role == \"developer\")')) - 1, 0), 0) END::int,
  conversation_id, temperature, max_tokens, n, logprobs, finish_reason, prompt_tokens, completion_tokens,
  client_ip, user_agent FROM events WHERE ts >= '2026-11-02' AND ts < '2026-11-09' ORDER BY account_id, ts, event_id"

printf '%-6s %9s %9s | %-28s | %-8s | %-34s | %s\n' scale events accounts "audit wall s (median, runs)" "RSS MB" "stages ms (stream+signals / score+link / operators / publish)" "scan floor s (median) | ratio"
for scale in ${SCALES:-1 2 4}; do
    file=bench-out/audit/events-$scale.jsonl
    [[ -f $file ]] || { echo "missing $file (see the header)"; exit 2; }
    db="audit_$scale"
    psql "$base/postgres" -XqAtc "CREATE DATABASE $db"
    # Simulated November 2026: a backfill (builds before the timestamp window have no such flag).
    backfill=$("$bin" ingest --help | grep -q -- --backfill && echo --backfill || true)
    DATABASE_URL="$base/$db" "$bin" ingest $backfill "$file" >/dev/null 2>"$work/ingest.log" || { cat "$work/ingest.log"; exit 1; }
    DATABASE_URL="$base/$db" "$bin" accounts import "bench-out/audit/accounts-$scale.csv" 2>"$work/ingest.log" || { cat "$work/ingest.log"; exit 1; }
    psql "$base/$db" -XqAtc "VACUUM ANALYZE"
    events=$(psql "$base/$db" -XAtc "SELECT count(*) FROM events")
    accounts=$(psql "$base/$db" -XAtc "SELECT count(DISTINCT account_id) FROM events")
    walls=(); rss=0; stages=""
    for _ in $(seq "$runs"); do
        DATABASE_URL="$base/$db" DISTILLWATCH__LOG__FILTER="warn,dw_app=debug" /usr/bin/time -f '%e %M' -o "$work/time" \
            "$bin" audit --from 2026-11-02 --to 2026-11-09 --output /dev/null 2>"$work/log" || { cat "$work/log"; exit 1; }
        read -r wall kb <"$work/time"
        walls+=("$wall")
        (( kb / 1024 > rss )) && rss=$(( kb / 1024 ))
        signals=$(grep -o 'stream_and_signals_ms=[0-9]*' "$work/log" | tail -1 | cut -d= -f2)
        scoring=$(grep -o 'scoring_and_linking_ms=[0-9]*' "$work/log" | tail -1 | cut -d= -f2)
        operators=$(grep -o 'operators_ms=[0-9]*' "$work/log" | tail -1 | cut -d= -f2 || true)
        publish=$(grep -o 'publish_ms=[0-9]*' "$work/log" | tail -1 | cut -d= -f2)
        stages="$signals / $scoring / ${operators:--} / $publish"
    done
    floors=()
    for _ in $(seq "$runs"); do
        start=$(date +%s.%N)
        psql "$base/$db" -XqAc "\\copy ($select_sql) TO '/dev/null'"
        floors+=("$(echo "$(date +%s.%N) - $start" | bc)")
    done
    median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    mw=$(median "${walls[@]}"); mf=$(median "${floors[@]}")
    printf '%-6s %9s %9s | %-28s | %-8s | %-34s | %.2f | %.1fx\n' "${scale}x" "$events" "$accounts" \
        "$mw (${walls[*]})" "$rss" "$stages" "$mf" "$(echo "$mw / $mf" | bc -l)"
done
