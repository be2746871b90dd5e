#!/usr/bin/env bash
# The console's pages at 10,000 flags: server time and transfer size of the
# queue (first page, filtered, deep in the paging) and of a case, an account
# and a cluster page, measured with curl on loopback against a release build
# of `distillwatch demo` whose flag table is filled to FLAGS flags (the demo's
# own flags, copied with other subjects, risks and ages). Prints a markdown
# table of medians and 95th percentiles (docs/benchmarks.md keeps the run of
# record). Usage: scripts/console-bench.sh [FLAGS] [REQUESTS_PER_PAGE]
set -euo pipefail
cd "$(dirname "$0")/.."
flags=${1:-10000}
n=${2:-40}

cargo build --release --locked -q
work=$(mktemp -d "${TMPDIR:-/tmp}/distillwatch-console-bench.XXXXXX")
dbdir=$(mktemp -d "${TMPDIR:-/tmp}/distillwatch-console-bench-db.XXXXXX")
cleanup() {
    if [[ -n "${demo_pid:-}" ]]; then
        kill "$demo_pid" 2>/dev/null || true
        wait "$demo_pid" 2>/dev/null || true
    fi
    scripts/test-cluster.sh stop "$dbdir" >/dev/null 2>&1 || true
    rm -rf "$work" "$dbdir"
}
trap cleanup EXIT
eval "$(scripts/test-cluster.sh start "$dbdir")"

DISTILLWATCH__LOG__FILTER=warn target/release/distillwatch demo --bind 127.0.0.1:0 >"$work/out" 2>"$work/err" &
demo_pid=$!
for _ in $(seq 600); do
    grep -q "listening on" "$work/out" 2>/dev/null && break
    kill -0 "$demo_pid" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
    sleep 0.5
done
base=$(sed -n 's/^distillwatch listening on //p' "$work/out")
key=$(sed -n 's/^Analyst key: //p' "$work/err")
db="${DATABASE_URL%/postgres}/postgres_demo"

# Fill the table to $flags: copies of the demo's flags under other subjects,
# their risks spread below the original's and their ages over three weeks.
psql -q "$db" <<SQL
INSERT INTO flags (subject_kind, subject_id, status, risk, level, fired, reason, evidence,
                   first_audit_id, last_audit_id, opened_at, updated_at)
SELECT f.subject_kind, f.subject_id || '~' || g, f.status, f.risk * (0.5 + 0.5 * random()), f.level, f.fired,
       f.reason, f.evidence, f.first_audit_id, f.last_audit_id,
       now() - random() * interval '21 days', now()
FROM flags f, generate_series(1, $flags) g
LIMIT greatest(0, $flags - (SELECT count(*) FROM flags));
ANALYZE flags;
SQL
total=$(psql -Atq "$db" -c "SELECT count(*) FROM flags")

curl -s -o /dev/null -c "$work/jar" --data-urlencode "key=$key" "$base/sign-in"
top_account=$(psql -Atq "$db" -c "SELECT flag_id FROM flags WHERE subject_kind = 'account' AND subject_id NOT LIKE '%~%' ORDER BY risk DESC LIMIT 1")
top_cluster=$(psql -Atq "$db" -c "SELECT flag_id FROM flags WHERE subject_kind = 'cluster' AND subject_id NOT LIKE '%~%' ORDER BY risk DESC LIMIT 1")
account=$(psql -Atq "$db" -c "SELECT subject_id FROM flags WHERE flag_id = $top_account")
cluster=$(psql -Atq "$db" -c "SELECT subject_id FROM flags WHERE flag_id = ${top_cluster:-0}")
deep=$(psql -Atq "$db" -c "SELECT risk || ':' || flag_id FROM flags WHERE status = 'open' ORDER BY risk DESC, flag_id OFFSET 5000 LIMIT 1")

measure() {
    local name=$1 path=$2 marker=$3
    # A warm-up, which must be the page itself (its marker in it), not an error.
    curl -s -o "$work/page" -b "$work/jar" "$base$path"
    grep -q "$marker" "$work/page" || { echo "$name: no \"$marker\" in $path" >&2; head -c 600 "$work/page" >&2; exit 1; }
    for _ in $(seq "$n"); do
        curl -s -o /dev/null -b "$work/jar" -w '%{http_code} %{time_total} %{size_download}\n' "$base$path"
    done >"$work/m"
    if grep -qv '^200 ' "$work/m"; then
        echo "$name: not every answer was 200: $(sort -u "$work/m" | head -3)" >&2
        exit 1
    fi
    local median p95 size
    median=$(awk '{ print $2 * 1000 }' "$work/m" | sort -n | awk '{ t[NR] = $1 } END { print t[int((NR + 1) / 2)] }')
    p95=$(awk '{ print $2 * 1000 }' "$work/m" | sort -n | awk '{ t[NR] = $1 } END { print t[int(NR * 0.95 + 0.5)] }')
    size=$(awk 'END { printf "%.1f", $3 / 1024 }' "$work/m")
    printf '| %s | `%s` | %.1f | %.1f | %s |\n' "$name" "$path" "$median" "$p95" "$size"
}

echo "flags in the table: $total; $n requests a page, one at a time, after one warm-up"
echo
echo "| page | path | median ms | p95 ms | KiB |"
echo "| --- | --- | ---: | ---: | ---: |"
measure "queue, open flags (first page)" "/" 'class="flag"'
measure "queue, filtered (high accounts)" "/?status=open&level=high&kind=account" 'class="flag"'
measure "queue, 100 pages deep" "/?status=open&cursor=$deep" 'class="flag"'
measure "queue, any status, older than 7 days" "/?status=any&older_than_hours=168" 'class="flag"'
measure "case (account)" "/flags/$top_account" "<h2>Findings"
if [[ -n "$top_cluster" ]]; then measure "case (cluster)" "/flags/$top_cluster" "<h2>Summary"; fi
measure "account" "/accounts/$account" 'id="events"'
if [[ -n "$cluster" ]]; then measure "cluster" "/clusters/$cluster" 'id="members"'; fi
