#!/usr/bin/env bash
# Regenerates the tables of docs/evaluation.md: the standard suite (three
# seeds at scale 1.6 on ../shared/data), the same suite on the held-out half
# of the data (sources the weights' fit never saw), and the small CI suite
# (two seeds at scale 0.2 on the shipped sample), each detector beside the
# baseline.
#
#   scripts/evaluation.sh            # all three
#   scripts/evaluation.sh small      # only the small one
#
# Uses DATABASE_URL when set, else the embedded cluster (.distillwatch/).
# Every number is a pure function of the seeds, the data and the code, so a
# re-run on any machine prints the same tables.
set -euo pipefail
cd "$(dirname "$0")/.."

suites=("${@:-standard holdout small}")
read -r -a suites <<<"${suites[*]}"
data_standard=${DW_EVAL_DATA:-../shared/data}

cargo build --quiet --locked --bin distillwatch
bin=target/debug/distillwatch
out=docs/evaluation
mkdir -p "$out"

for suite in "${suites[@]}"; do
  half=()
  case "$suite" in
    standard) data=$data_standard; name=standard ;;
    holdout) data=$data_standard; name=standard; half=(--half holdout) ;;
    small) data=data/sample; name=small ;;
    *) echo "unknown suite: $suite (standard, holdout or small)" >&2; exit 2 ;;
  esac
  report=$suite
  [[ $suite == holdout ]] && report=standard-holdout
  echo "== suite $suite on $data" >&2
  start=$(date +%s)
  "$bin" eval --suite "$name" --seed 1 --data "$data" "${half[@]}" \
    --json "$out/$report.json" --markdown "$out/$report.md"
  echo "== suite $suite took $(( $(date +%s) - start )) s" >&2
done

# Splice each suite's tables into docs/evaluation.md between its markers.
python3 - "$@" <<'PY'
import pathlib, re
doc = pathlib.Path("docs/evaluation.md")
text = doc.read_text()
for suite, report in (("standard", "standard"), ("holdout", "standard-holdout"), ("small", "small")):
    tables = pathlib.Path(f"docs/evaluation/{report}.md")
    if not tables.exists():
        continue
    begin, end = f"<!-- {suite}:begin -->", f"<!-- {suite}:end -->"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: f"{begin}\n{tables.read_text().strip()}\n{end}", text)
doc.write_text(text)
PY
echo "docs/evaluation.md updated" >&2
