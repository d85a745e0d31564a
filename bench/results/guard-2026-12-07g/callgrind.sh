#!/bin/bash
# Instructions (callgrind Ir) of a whole run of loop.py against one checkout.
# usage: callgrind.sh <checkout> <n calls> [past50]   -> prints total Ir
# Per reserve+settle: (Ir at 10000 - Ir at 2000) / 8000 (imports and warm-up cancel out).
here=$(dirname "$(readlink -f "$0")")
tree=$1; n=$2; scenario=$3
out=$(mktemp /tmp/cg.XXXXXX)
cd "$tree" && PYTHONPATH="$tree" valgrind --tool=callgrind --callgrind-out-file="$out" \
    /work/main/.venv/bin/python "$here/loop.py" "$n" run $scenario 2>&1 \
    | grep -o "Collected : [0-9]*" | awk '{print $3}'
rm -f "$out"
