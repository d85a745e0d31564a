#!/usr/bin/env bash
# `python -m bench foundation`'s CPU rows (bench_foundation._cpu_rows), run in main's tree and
# this tree alternately, RUNS times each; FIRST=this runs this tree first in every pair.
# Usage: BASE=/tmp/gw_base RUNS=2 FIRST=this bash bench/results/gilwriter-2026-12-08/cpu_rows_ab.sh
# (from bench/results/reccpu-2026-12-08/)
set -u
NEW=$(pwd)
BASE=${BASE:-/tmp/gw_base}
PY=${PY:-/work/main/.venv/bin/python}
if [ "${FIRST:-main}" = this ]; then PAIR="$NEW $BASE"; else PAIR="$BASE $NEW"; fi
for i in $(seq 1 "${RUNS:-3}"); do
  for tree in $PAIR; do
    echo "== run $i: $([ "$tree" = "$BASE" ] && echo main || echo this branch) ($tree); load $(cut -d' ' -f1-3 /proc/loadavg)"
    (cd "$tree" && PYTHONPATH="$tree" LITELLM_LOCAL_MODEL_COST_MAP=True ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1 "$PY" -c '
from bench.bench_foundation import _cpu_rows
for r in _cpu_rows(False):
    if "overhead" in r.metric:
        ratio = f"  {r.ratio:.2f}x" if r.ratio is not None else ""
        print(f"{r.metric}: {r.value:.1f} {r.unit}{ratio}")
        if r.note:
            print("    " + r.note.split("; means")[0])
')
  done
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
