#!/bin/bash
# usage: icount.sh PKG_ROOT SCRIPT [ENV=VALUE ...] -> instructions per call (all threads)
# SCRIPT is icount_invoke.py (N=400 calls) or handler_ab.py (N=300 pairs of LiteLLM events).
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d /tmp/prices2-cg.XXXXXX)
pkg=$1 script=$2
shift 2
cd "$out" && env "$@" CG=1 PYTHONHASHSEED=0 PYTHONPATH=$pkg LITELLM_LOCAL_MODEL_COST_MAP=True \
    valgrind --tool=callgrind --callgrind-out-file=$out/cg.out /work/main/.venv/bin/python "$here/$script" >/dev/null 2>&1
n=$(env "$@" sh -c 'echo ${N:-}')
total=$(cat $out/cg.out.* 2>/dev/null | grep -E "^summary:" | awk '{s+=$2} END {print s}')
echo "$total ${n}"
rm -rf "$out"
