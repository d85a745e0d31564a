#!/bin/bash
# usage: icount.sh <pkgroot> <N> -> instructions of the main thread (the caller), then of all threads
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
out=$(mktemp -d /tmp/pricing-cg.XXXXXX)
N=$2 PYTHONHASHSEED=0 PYTHONPATH=$1:$PWD LITELLM_LOCAL_MODEL_COST_MAP=True HF_HUB_OFFLINE=1 valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=$out/cg /work/main/.venv/bin/python bench/results/pricing-2026-12-07d/icount_invoke.py >/dev/null 2>&1
main=$(grep -hE "^summary:" $out/cg-01 | head -1 | awk '{print $2}')
all=$(cat $out/cg-* | grep -E "^summary:" | awk '{s+=$2} END {print s}')
echo "$main $all"
rm -rf $out
