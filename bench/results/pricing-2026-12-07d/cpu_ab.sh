#!/bin/bash
# Interleaved A/B of cpu_invoke.py: base package tree (before) and new tree (after), one after
# the other, PAIRS times. Usage: cpu_ab.sh BASE_PKG_ROOT NEW_PKG_ROOT PAIRS
cd "$(git rev-parse --show-toplevel)"
for i in $(seq "$3"); do
  a=$(PYTHONHASHSEED=0 PYTHONPATH=$1:$PWD /work/main/.venv/bin/python bench/results/pricing-2026-12-07d/cpu_invoke.py)
  b=$(PYTHONHASHSEED=0 PYTHONPATH=$2:$PWD /work/main/.venv/bin/python bench/results/pricing-2026-12-07d/cpu_invoke.py)
  echo "pair $i: before $a us/call, after $b us/call"
done
