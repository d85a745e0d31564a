#!/bin/bash
# usage: icount.sh <pkgroot> <N> -> total instructions
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
out=$(mktemp /tmp/pricing-cg.XXXXXX)
N=$2 PYTHONHASHSEED=0 PYTHONPATH=$1:$PWD LITELLM_LOCAL_MODEL_COST_MAP=True HF_HUB_OFFLINE=1 valgrind --tool=callgrind --callgrind-out-file=$out /work/main/.venv/bin/python bench/results/pricing-2026-12-07d/icount_invoke.py >/dev/null 2>&1
grep -E "^(summary|totals):" $out | head -1 | awk '{print $2}'
rm -f $out
