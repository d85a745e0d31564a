#!/bin/bash
# icount.py under callgrind in TREE (default: this worktree), instructions per call of the
# caller's part (functools_reduce) and the writer's part (_operator_call).
# Usage: [TREE=/tmp/base] [MODEL=realistic] [N=2000] bash bench/results/gilwriter-2026-12-08/ic.sh TAG
HERE=$(cd "$(dirname "$0")" && pwd)
TREE=${TREE:-$(cd "$HERE/../../.." && pwd)}
OUT=${OUT:-/tmp/gw/cg}; mkdir -p "$OUT"
cd "$TREE"
export PYTHONPATH=$TREE LITELLM_LOCAL_MODEL_COST_MAP=True ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1
n=${N:-2000}
MODEL=${MODEL:-cheap} N=$n B=256 valgrind --tool=callgrind --collect-atstart=no --toggle-collect=functools_reduce \
  --toggle-collect=_operator_call --callgrind-out-file="$OUT/ic_$1.out" ${PY:-/work/main/.venv/bin/python} "$HERE/icount.py" > "$OUT/ic_$1.log" 2>&1
callgrind_annotate --inclusive=yes "$OUT/ic_$1.out" 2>/dev/null | grep -E "functools_reduce|_operator_call" | grep -v "'" \
  | awk -v n=$n -v t=$1 '{gsub(",","",$1); split($3,a,":"); printf "%s %s %.0f instr/call\n", t, a[2], $1/n}'
