#!/usr/bin/env bash
# Measures the coverage signals (topic entropy, evenness, re-ask share) on
# one standard seed: simulate seed 1 at scale 1.6 on ../shared/data, ingest
# it into a fresh database, audit the week with an embedded daily sample
# (2 prompts per account and day) and a flag level of `none`, so that the
# evidence file holds every account's signals, then compare the signals'
# values per kind and their ROC AUC (attack against benign).
#
#   scripts/coverage.sh [OUT_DIR]     # default bench-out/coverage
#
# Needs DATABASE_URL pointing at a server database (another database,
# dw_coverage, is created and dropped on it) and the model (fetched on first
# use). Takes about 10 minutes on 2 cores, nearly all of it embedding.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-out/coverage}
mkdir -p "$out"
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL server database}"
cargo build --quiet --locked --release --bin distillwatch
bin=target/release/distillwatch
if [[ ! -f $out/events.jsonl ]]; then
  $bin simulate --seed 1 --scale 1.6 --data ../shared/data --out "$out/events.jsonl" \
    --labels "$out/labels.csv" --accounts "$out/accounts.csv"
fi
db="${DATABASE_URL%/*}/dw_coverage"
psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS dw_coverage" -c "CREATE DATABASE dw_coverage"
trap 'psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS dw_coverage"' EXIT
DATABASE_URL=$db $bin ingest --backfill "$out/events.jsonl"   # simulated November 2026
DATABASE_URL=$db $bin accounts import "$out/accounts.csv"
DATABASE_URL=$db DISTILLWATCH__EMBED__AUDIT_PER_ACCOUNT_DAY=2 DISTILLWATCH__DETECT__FLAGS__FLAG_LEVEL=none \
  $bin audit --from 2026-11-02 --to 2026-11-09 --dry-run --output "$out/scores.csv" --evidence "$out/evidence.jsonl"
python3 scripts/coverage_stats.py "$out/evidence.jsonl" "$out/labels.csv"
