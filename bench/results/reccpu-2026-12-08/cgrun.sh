#!/bin/bash
# calls.py (whole LangChain calls, both threads) under callgrind, one file per thread.
# Usage: bash bench/results/reccpu-2026-12-08/cgrun.sh TAG none|usage|ours N
# Per call: (totals at N=1500 - totals at N=500) / 1000, thread by thread (-01 caller, -02 writer).
HERE=$(cd "$(dirname "$0")" && pwd)
TREE=${TREE:-$(cd "$HERE/../../.." && pwd)}
OUT=${OUT:-/tmp/reccpu/cg}; mkdir -p "$OUT"
cd "$TREE"
export PYTHONPATH=$TREE LITELLM_LOCAL_MODEL_COST_MAP=True ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1
MODE=$2 N=$3 valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$OUT/$1.%p" \
  ${PY:-/work/main/.venv/bin/python} "$HERE/calls.py" > "$OUT/$1.log" 2>&1
