#!/usr/bin/env bash
# Coverage-guided fuzzing (issue #23) of every parser of outside input, with
# cargo-afl on the stable toolchain: event bodies (canonical, LiteLLM, OpenAI
# pairs; NDJSON and arrays), body decoding (gzip, zstd), the attributes CSV,
# reference items, OTLP exports and files, and Batch API file pairs. Each
# target (fuzz/src/bin) also checks that the answer accounts for the input
# and keeps its error texts bounded.
#
#   scripts/fuzz.sh [SECONDS]     # each target for SECONDS (default 10), from fuzz/seeds
#   FUZZ_TARGETS="otlp events" scripts/fuzz.sh 60   # only those
#
# Needs afl++ (Debian's package) and cargo-afl: scripts/bootstrap.sh --ci
# installs both. Exits non-zero when a target crashed or hung, printing the
# inputs (kept under fuzz/findings/TARGET/ when FUZZ_KEEP is set).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${1:-10}
read -r -a targets <<<"${FUZZ_TARGETS:-events body attributes reference otlp openai_batch}"
command -v afl-fuzz >/dev/null || { echo "afl-fuzz not found: run scripts/bootstrap.sh --ci" >&2; exit 1; }
cargo afl --version >/dev/null 2>&1 || { echo "cargo-afl not found: run scripts/bootstrap.sh --ci" >&2; exit 1; }

cargo afl build --release --locked -q
out=$(mktemp -d "${TMPDIR:-/tmp}/distillwatch-fuzz.XXXXXX")
trap 'rm -rf "$out"' EXIT
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_QUIET=1
status=0
for target in "${targets[@]}"; do
    cargo afl fuzz -V "$seconds" -i "seeds/$target" -o "$out/$target" -- "target/release/$target" >"$out/$target.log" 2>&1 \
        || { echo "afl-fuzz failed on $target:" >&2; tail -20 "$out/$target.log" >&2; status=1; continue; }
    stats="$out/$target/default/fuzzer_stats"
    execs=$(awk -F: '/^execs_done/ {gsub(/ /, "", $2); print $2}' "$stats")
    paths=$(awk -F: '/^corpus_count/ {gsub(/ /, "", $2); print $2}' "$stats")
    crashes=$(find "$out/$target/default/crashes" -type f ! -name README.txt | wc -l)
    hangs=$(find "$out/$target/default/hangs" -type f | wc -l)
    echo "$target: $execs executions, $paths inputs in the corpus, $crashes crashes, $hangs hangs (${seconds} s)"
    if ((crashes + hangs > 0)); then
        status=1
        for input in "$out/$target/default/crashes"/id:* "$out/$target/default/hangs"/id:*; do
            [[ -f $input ]] || continue
            echo "--- $input" >&2
            head -c 600 "$input" | od -c | head -15 >&2
        done
        if [[ -n "${FUZZ_KEEP:-}" ]]; then
            mkdir -p "findings/$target" && cp "$out/$target/default/crashes"/id:* "$out/$target/default/hangs"/id:* "findings/$target/" 2>/dev/null || true
        fi
    fi
done
exit $status
