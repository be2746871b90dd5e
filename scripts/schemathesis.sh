#!/usr/bin/env bash
# Schema-driven API tests (issue #23): schemathesis against the /openapi.json
# of a running `serve` on a fresh database, with a real admin key (every route
# is open to it); then the answers on the demo's audited data checked against
# the same description (scripts/record_responses.py --validate). The checks: no 5xx answer, every status code, content type,
# body and header as the description declares. Generated bodies that the API
# refuses with a 4xx are fine; which valid requests it refuses is not checked
# (the description does not spell out every rule, such as a window's order).
#
#   scripts/bootstrap.sh --ci          # installs the pinned schemathesis
#   scripts/schemathesis.sh            # ST_MAX_EXAMPLES per operation (default 25), ST_SEED (default fixed)
#
# DW_BIN picks the binary (default target/debug/distillwatch, built if absent).
# A run with another seed explores other cases: ST_SEED=random.
set -euo pipefail
cd "$(dirname "$0")/.."

tools="${DW_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/distillwatch/tools}"
st="$tools/schemathesis/bin/st"
[[ -x "$st" ]] || { echo "schemathesis is not installed: run scripts/bootstrap.sh --ci" >&2; exit 1; }
bin="${DW_BIN:-target/debug/distillwatch}"
if [[ ! -x "$bin" ]]; then
    SQLX_OFFLINE=true cargo build --locked -q --bin distillwatch
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/distillwatch-schemathesis.XXXXXX")
serve_pid=
cleanup() {
    [[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null || true
    scripts/test-cluster.sh stop "$dir"
    rm -rf "$dir"
}
trap cleanup EXIT
source scripts/lib/service.sh
service_database "$dir" schemathesis
key=$("$bin" keys create --role admin --name schemathesis)
service_start "$bin" "$dir"

seed=${ST_SEED:-20261207}
seed_args=(--seed "$seed")
[[ "$seed" == random ]] && seed_args=()
status=0
PYTHONPATH=scripts/schemathesis SCHEMATHESIS_HOOKS=hooks "$st" run "$base/openapi.json" \
    -H "Authorization: Bearer $key" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    --max-examples "${ST_MAX_EXAMPLES:-25}" --workers 1 "${seed_args[@]}" || status=$?
# The generated requests above meet an empty database. The answers on data
# an audit wrote (flags with their evidence, accounts, clusters, audits, the
# workflow's moves and refusals) are checked against the description too:
# the demo's database, 88 requests, every JSON answer against its schema.
"$tools/schemathesis/bin/python" scripts/record_responses.py --bin "$bin" --out "$dir/responses.json" \
    --validate docs/openapi.json || status=$?
if grep -qiE "panicked|internal error" "$dir/serve.err"; then
    echo "serve logged a fault during the run:" >&2
    grep -iE "panicked|internal error" "$dir/serve.err" | head -20 >&2
    status=1
fi
exit $status
