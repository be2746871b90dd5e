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
cargo test --workspace --locked "$@"
