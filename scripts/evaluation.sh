#!/usr/bin/env bash
# Regenerates the tables of docs/evaluation.md: the standard suite (three
# seeds at scale 1.6 on ../shared/data), the same suite on the held-out half
# of the data (sources the weights' fit never saw), the small CI suite
# (two seeds at scale 0.2 on the shipped sample), each detector beside the
# baseline; the ablations (issue #20: the standard and the frozen suite
# re-run with account attributes, without them, and without them and each
# of the fields a gateway may not log); and the frozen test suite.
#
#   scripts/evaluation.sh                      # standard, holdout, small
#   scripts/evaluation.sh small                # only the small one
#   scripts/evaluation.sh ablations            # the ablation table (10 runs)
#   scripts/evaluation.sh frozen               # the frozen suite, once per detector version
#
# Uses DATABASE_URL when set, else the embedded cluster (.distillwatch/).
# DW_BIN runs an already built binary (a copy, so that building goes on
# while a long run evaluates) instead of building target/debug/distillwatch.
# Every number is a pure function of the seeds, the data and the code, so a
# re-run on any machine prints the same tables.
set -euo pipefail
cd "$(dirname "$0")/.."

suites=("${@:-standard holdout small}")
read -r -a suites <<<"${suites[*]}"
data_standard=${DW_EVAL_DATA:-../shared/data}

if [[ -n ${DW_BIN:-} ]]; then
  bin=$DW_BIN
else
  cargo build --quiet --locked --bin distillwatch
  bin=target/debug/distillwatch
fi
out=docs/evaluation
mkdir -p "$out"

run() { # run REPORT ARGS...: one evaluation, its JSON and Markdown under docs/evaluation/
  local report=$1
  shift
  echo "== $report: eval $*" >&2
  local start
  start=$(date +%s)
  "$bin" eval "$@" --json "$out/$report.json" --markdown "$out/$report.md"
  echo "== $report took $(($(date +%s) - start)) s" >&2
}

for suite in "${suites[@]}"; do
  case "$suite" in
    standard) run standard --suite standard --seed 1 --data "$data_standard" ;;
    holdout) run standard-holdout --suite standard --seed 1 --data "$data_standard" --half holdout ;;
    small) run small --suite small --seed 1 --data data/sample ;;
    frozen) run frozen --suite frozen --without attributes ;;
    ablations)
      mkdir -p "$out/ablations"
      for s in standard frozen; do
        for without in "" attributes attributes,client attributes,params attributes,history; do
          args=(--suite "$s" --seed 1 --data "$data_standard")
          [[ -n $without ]] && args+=(--without "$without")
          run "ablations/$s-${without:-all}" "${args[@]}"
        done
      done
      python3 scripts/ablation_table.py "$out/ablations" >"$out/ablations.md"
      # The frozen suite's row without attributes is its run of record for this detector version.
      cp "$out/ablations/frozen-attributes.md" "$out/frozen.md"
      cp "$out/ablations/frozen-attributes.json" "$out/frozen.json"
      ;;
    *) echo "unknown suite: $suite (standard, holdout, small, frozen or ablations)" >&2; exit 2 ;;
  esac
done

# Splice each table into docs/evaluation.md between its markers.
python3 - <<'PY'
import pathlib, re
doc = pathlib.Path("docs/evaluation.md")
text = doc.read_text()
for marker, report in (("standard", "standard"), ("holdout", "standard-holdout"), ("small", "small"),
                       ("ablations", "ablations"), ("frozen", "frozen")):
    tables = pathlib.Path(f"docs/evaluation/{report}.md")
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    if not tables.exists() or begin not in text:
        continue
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: f"{begin}\n{tables.read_text().strip()}\n{end}", text)
doc.write_text(text)
PY
echo "docs/evaluation.md updated" >&2
