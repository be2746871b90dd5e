#!/usr/bin/env bash
# The test command: starts a throwaway PostgreSQL cluster, runs every test of
# the workspace against it (extra arguments go to `cargo test`), and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
dir=$(mktemp -d "${TMPDIR:-/tmp}/distillwatch-test.XXXXXX")
cleanup() { scripts/test-cluster.sh stop "$dir"; rm -rf "$dir"; }
trap cleanup EXIT
eval "$(scripts/test-cluster.sh start "$dir")"

# Compile against the committed query metadata (.sqlx/), as CI does.
export SQLX_OFFLINE=true

# The golden-vector and embedding tests need the real all-MiniLM-L6-v2: fetch
# it once (checked by SHA-256) into a cache outside the checkout and reuse it.
if [[ -z "${DW_MODEL_DIR:-}" ]]; then
    models="${DW_MODELS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/distillwatch/models}"
    DISTILLWATCH__EMBED__MODELS_DIR="$models" cargo run --locked -q -- model fetch
    export DW_MODEL_DIR="$models/all-MiniLM-L6-v2"
fi

# Every test but the browser tests, then those (a real Chromium through
# WebDriver; their screenshots land in target/browser-screenshots/), timed.
cargo test --workspace --locked "$@" -- --skip browser_
start=$SECONDS
cargo test --locked --test console_browser "$@"
echo "::: browser tests (headless Chromium through WebDriver) took $((SECONDS - start)) s"
