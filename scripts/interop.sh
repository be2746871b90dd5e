#!/usr/bin/env bash
# Real clients against a running `serve` (issue #22): the clients of
# ../shared/docs/ecosystem.md section 3, each in a venv of its own installed
# from scripts/interop/*.txt (every package pinned by version and sha256,
# installed with --require-hashes), all on loopback against a stand-in model
# provider (scripts/interop/upstream.py). Then what `serve` stored is checked
# field by field. It runs outside .ci/run: the first run installs about 300
# packages (minutes); later runs reuse the venvs while their pins are unchanged.
#
#   scripts/interop.sh                         # every client
#   INTEROP_ONLY="otel langfuse" scripts/interop.sh    # a subset: otel, otlp-json, langfuse, litellm
#
# The clients: the OpenTelemetry SDK with the official OpenAI instrumentation
# (OTLP/HTTP protobuf, the older GenAI convention with messages in log records
# and the current one on the span, each call under a parent span that names
# the account, one call exported before its parent); the OTLP/HTTP JSON
# exporter; the Langfuse SDK (Basic auth, uncompressed and gzip); a LiteLLM
# proxy with its generic API logger (format=litellm) and its OTel callback,
# driven by the official OpenAI SDK. DW_BIN picks the binary (default
# target/debug/distillwatch, built if absent).
set -euo pipefail
cd "$(dirname "$0")/.."

tools="${DW_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/distillwatch/tools}"
only=" ${INTEROP_ONLY:-otel otlp-json langfuse litellm} "
bin="${DW_BIN:-target/debug/distillwatch}"
if [[ ! -x "$bin" ]]; then
    SQLX_OFFLINE=true cargo build --locked -q --bin distillwatch
fi

# A venv per client family (they pin conflicting OpenTelemetry versions), made
# anew when its requirements change.
venv() {
    local name=$1 req="scripts/interop/$1.txt" dir="$tools/interop-$1"
    local want
    want=$(sha256sum "$req" | cut -d' ' -f1)
    if [[ "$(cat "$dir/.requirements" 2>/dev/null)" != "$want" ]]; then
        echo "installing $name (pinned, hashed) into $dir" >&2
        rm -rf "$dir"
        python3 -m venv "$dir"
        "$dir/bin/pip" install -q --disable-pip-version-check --no-deps --require-hashes -r "$req"
        # A package that drops a .pth file runs code at every start of Python: none of ours should.
        local pth
        pth=$(find "$dir/lib" -name '*.pth' ! -name 'distutils-precedence.pth')
        [[ -z "$pth" ]] || { echo "unexpected .pth files in $name: $pth" >&2; exit 1; }
        echo "$want" >"$dir/.requirements"
    fi
    echo "$dir/bin/python"
}

port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/distillwatch-interop.XXXXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}" ${serve_pid:-}; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    scripts/test-cluster.sh stop "$dir" >/dev/null 2>&1 || true
    [[ -n "${INTEROP_KEEP:-}" ]] && echo "kept $dir" >&2 || rm -rf "$dir"
}
trap cleanup EXIT
source scripts/lib/service.sh
service_database "$dir" interop
key=$("$bin" keys create --role ingest --name interop)
service_start "$bin" "$dir"
upstream_port=$(port)
python3 scripts/interop/upstream.py "$upstream_port" &
pids+=($!)
upstream="http://127.0.0.1:$upstream_port/v1"

failures=0
# check NAME SQL EXPECTED: what the store answers to SQL must be EXPECTED.
check() {
    local got
    got=$(psql "$DATABASE_URL" -qAtc "$2" | tr '\n' ';')
    if [[ "$got" == "$3" ]]; then
        echo "ok   $1"
    else
        echo "FAIL $1: expected [$3], got [$got]"
        echo "     stored: $(psql "$DATABASE_URL" -qAtc "SELECT account_id || ' ' || left(prompt, 40) FROM events ORDER BY 1" | tr '\n' ';')"
        echo "     ingests: $(psql "$DATABASE_URL" -qAtc "SELECT lines || ' lines ' || accepted || ' accepted ' || rejected || ' rejected ' || coalesce(first_error, '') FROM ingest_log" | tr '\n' ';')"
        failures=$((failures + 1))
    fi
}
# wait_for SQL COUNT: until the store holds COUNT rows for SQL (exporters flush on timers), at most 30 s.
wait_for() {
    for _ in $(seq 300); do
        [[ "$(psql "$DATABASE_URL" -qAtc "$1")" -ge "$2" ]] && return 0
        sleep 0.1
    done
}

if [[ "$only" == *" otel "* ]]; then
    py=$(venv otel)
    OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true \
        "$py" scripts/interop/otel_openai.py "$base" "$key" "$upstream" acct-otel-older
    OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY \
        "$py" scripts/interop/otel_openai.py "$base" "$key" "$upstream" acct-otel-current
    for account in acct-otel-older acct-otel-current; do
        wait_for "SELECT count(*) FROM events WHERE account_id = '$account'" 2
    done
    check "otel, older convention (messages from log records), each call under its account and session" \
        "SELECT prompt, system_prompt, conversation_id, metadata->'otlp'->>'content_from', temperature, max_tokens
         FROM events WHERE account_id = 'acct-otel-older' ORDER BY prompt" \
        "Explain step by step, case 0: 17*23|be terse|acct-otel-older-session|log records|0.2|64;Explain step by step, case 1: 17*23|be terse|acct-otel-older-session|log records|0.2|64;"
    check "otel, current convention (messages on the span)" \
        "SELECT prompt, system_prompt, conversation_id, coalesce(metadata->'otlp'->>'content_from', '-'), completion
         FROM events WHERE account_id = 'acct-otel-current' ORDER BY prompt" \
        "Explain step by step, case 0: 17*23|be terse|acct-otel-current-session|-|A canned answer from the loopback upstream.;Explain step by step, case 1: 17*23|be terse|acct-otel-current-session|-|A canned answer from the loopback upstream.;"
fi

if [[ "$only" == *" otlp-json "* ]]; then
    py=$(venv otlp-json)
    "$py" scripts/interop/otlp_json.py "$base" "$key" acct-otlp-json
    wait_for "SELECT count(*) FROM events WHERE account_id = 'acct-otlp-json'" 1
    check "OTLP/HTTP JSON exporter: the account, the client and the messages on the span" \
        "SELECT prompt, completion, host(client_ip), user_agent, max_tokens FROM events WHERE account_id = 'acct-otlp-json'" \
        "Summarise the plot of Hamlet in three lines.|A prince, a ghost, a tragedy.|203.0.113.9|interop-json/1.0|128;"
fi

if [[ "$only" == *" langfuse "* ]]; then
    py=$(venv langfuse)
    for compression in none gzip; do
        "$py" scripts/interop/langfuse_client.py "$base" "$key" acct-langfuse "$compression"
    done
    wait_for "SELECT count(*) FROM events WHERE account_id = 'acct-langfuse'" 2
    check "Langfuse SDK, Basic auth, uncompressed and gzip: generations under the user, the public key kept" \
        "SELECT prompt, conversation_id, metadata->>'langfuse_public_key', temperature, max_tokens
         FROM events WHERE account_id = 'acct-langfuse' ORDER BY prompt" \
        "Name three rivers (gzip).|acct-langfuse-session|pk-lf-interop|0.3|256;Name three rivers (none).|acct-langfuse-session|pk-lf-interop|0.3|256;"
fi

if [[ "$only" == *" litellm "* ]]; then
    py=$(venv litellm)
    proxy_port=$(port)
    cat >"$dir/litellm.yaml" <<YAML
model_list:
  - model_name: gpt-4o-mini
    litellm_params: {model: openai/gpt-4o-mini, api_base: "$upstream", api_key: sk-fake}
  - model_name: broken-upstream
    litellm_params: {model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:9/v1", api_key: sk-fake, num_retries: 0}
litellm_settings:
  callbacks: ["otel", "distillwatch"]
callback_settings:
  distillwatch:
    callback_type: generic_api
    endpoint: $base/v1/events?format=litellm
    headers:
      Authorization: Bearer $key
    log_format: json_array
general_settings: {master_key: sk-master-interop}
YAML
    # Our DATABASE_URL is not the proxy's: with it set, LiteLLM would try to run its own schema there.
    env -u DATABASE_URL LITELLM_LOCAL_MODEL_COST_MAP=True DEFAULT_FLUSH_INTERVAL_SECONDS=1 OTEL_EXPORTER=otlp_http \
        OTEL_ENDPOINT="$base/v1/traces" OTEL_HEADERS="authorization=Bearer $key" \
        "$(dirname "$py")/litellm" --config "$dir/litellm.yaml" --host 127.0.0.1 --port "$proxy_port" --telemetry False \
        >"$dir/litellm.out" 2>&1 &
    pids+=($!)
    for _ in $(seq 600); do curl -sf "http://127.0.0.1:$proxy_port/health/liveliness" >/dev/null && break; sleep 0.1; done
    "$py" scripts/interop/litellm_calls.py "http://127.0.0.1:$proxy_port" sk-master-interop interop-end-user
    wait_for "SELECT count(*) FROM events WHERE metadata->>'source' = 'litellm'" 2
    wait_for "SELECT count(*) FROM events WHERE metadata->>'source' = 'otlp' AND metadata->'otlp'->>'scope' LIKE '%litellm%'" 2
    check "LiteLLM generic API logger: the chat and the stream under the key's hash, the end user, the parameters" \
        "SELECT prompt, metadata->>'user', coalesce(n::text, '-'), coalesce(temperature::text, '-'), coalesce(logprobs::text, '-')
         FROM events WHERE metadata->>'source' = 'litellm' AND completion IS NOT NULL ORDER BY prompt" \
        "Prove that the square root of two is irrational.|interop-end-user|2|0.4|true;Stream a haiku about rivers.|interop-end-user|-|-|-;"
    # Calls made with the proxy's master key (virtual keys need the proxy's own database) carry LiteLLM's
    # label for it where a virtual key's hash would be.
    check "LiteLLM generic API logger: every call under the key that made it" \
        "SELECT DISTINCT account_id FROM events WHERE metadata->>'source' = 'litellm'" "litellm_proxy_master_key;"
    check "LiteLLM OTel callback: its calls under the same key hash" \
        "SELECT count(*) >= 2, bool_and(account_id IN (SELECT account_id FROM events WHERE metadata->>'source' = 'litellm'))
         FROM events WHERE metadata->>'source' = 'otlp' AND metadata->'otlp'->>'scope' LIKE '%litellm%'" "t|t;"
fi

check "nothing refused, no fault logged" \
    "SELECT coalesce(sum(rejected), 0) FROM ingest_log" "0;"
if grep -qiE "panicked|internal error" "$dir/serve.err"; then
    echo "FAIL serve logged a fault:" && grep -iE "panicked|internal error" "$dir/serve.err" | head -20
    failures=$((failures + 1))
fi
echo "$failures check(s) failed"
[[ $failures -eq 0 ]]
