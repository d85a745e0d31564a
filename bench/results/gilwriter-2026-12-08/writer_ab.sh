#!/usr/bin/env bash
# writer_ab.py in main's tree (BASE) and this tree alternately, RUNS pairs, both models.
# Usage: BASE=/tmp/gw_base RUNS=3 bash bench/results/gilwriter-2026-12-08/writer_ab.sh
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
NEW=$(cd "$HERE/../../.." && pwd)
BASE=${BASE:-/tmp/gw_base}
PY=${PY:-/work/main/.venv/bin/python}
export LITELLM_LOCAL_MODEL_COST_MAP=True ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1
for i in $(seq 1 "${RUNS:-3}"); do
  for model in cheap realistic; do
    if [ $((i % 2)) = 1 ]; then PAIR="$BASE $NEW"; else PAIR="$NEW $BASE"; fi
    for tree in $PAIR; do
      tag=$([ "$tree" = "$BASE" ] && echo main || echo this)
      (cd "$tree" && PYTHONPATH="$tree" TAG="$i $model $tag" MODEL=$model N=${N:-6000} "$PY" "$HERE/writer_ab.py")
    done
  done
done
