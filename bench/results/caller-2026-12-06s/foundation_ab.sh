#!/usr/bin/env bash
# `python -m bench foundation` in the starting commit's tree and this tree alternately, RUNS times
# each; prints the load before each run. Usage:
#   git worktree add --detach /tmp/caller-base 61c1330
#   BASE=/tmp/caller-base RUNS=2 bash bench/results/caller-2026-12-06s/foundation_ab.sh
set -u
NEW=$(pwd)
BASE=${BASE:-/tmp/caller-base}
PY=${PY:-/work/main/.venv/bin/python}
for i in $(seq 1 "${RUNS:-2}"); do
  for tree in "$BASE" "$NEW"; do
    echo "== run $i: $([ "$tree" = "$BASE" ] && echo start 61c1330 || echo this branch) ($tree); load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%H:%M:%S)"
    (cd "$tree" && PYTHONPATH="$tree" LITELLM_LOCAL_MODEL_COST_MAP=True ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1 "$PY" -m bench foundation 2>&1)
  done
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%H:%M:%S)"
