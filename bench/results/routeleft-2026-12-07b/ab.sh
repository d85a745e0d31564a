#!/bin/bash
# Cached-call CPU of two trees, one process per run, alternated (base head, head base, ...).
#   BASE=/tmp/rl/base HEAD=/work/wt/routeleft bash ab.sh {rules|trained} REPEATS
# (BASE: an export of bca1c48: git archive bca1c48 | tar -x -C /tmp/rl/base)
kind=$1; reps=$2
S=$(cd "$(dirname "$0")" && pwd)/cached_call_tree.py
for i in $(seq 1 "$reps"); do
  if [ $((i % 2)) = 1 ]; then order="base head"; else order="head base"; fi
  for t in $order; do
    if [ "$t" = base ]; then P=$BASE; else P=$HEAD; fi
    echo "$t $(cd /tmp && PYTHONPATH=$P LITELLM_LOCAL_MODEL_COST_MAP=True ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1 python "$S" "$kind" 10 30) load=$(cut -d' ' -f1 /proc/loadavg)"
  done
done
