#!/bin/sh
# Process CPU per call, before (BASE: the package at the parent commit) and after, interleaved.
BASE=${BASE:-/tmp/kc-base}
HERE=$(cd "$(dirname "$0")/../../.." && pwd)
uptime
for rep in 1 2 3 4 5 6 7 8; do
  for side in base branch; do
    if [ $side = base ]; then P=$BASE; else P=$HERE; fi
    SIDE=$side N=30000 PYTHONPATH=$P LITELLM_LOCAL_MODEL_COST_MAP=True /work/main/.venv/bin/python "$HERE/bench/results/killcount-2026-12-07f/cpu_per_call.py"
  done
done
uptime
