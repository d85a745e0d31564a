#!/bin/sh
# Instructions per call, main's copy (llm_cost_hooks_base) and this tree side by side, one pair
# at a time: ARMS (default "otel noop_rows none"), N calls (default 500), PAIRS (default 1).
# From the worktree root with BASE_PKG_DIR set (see README.md).
N=${N:-500}
out=${OUT:-/tmp/icount-pairs}
mkdir -p "$out"
uptime
for pair in $(seq 1 "${PAIRS:-1}"); do
  for arm in ${ARMS:-otel noop_rows none}; do
    for pkg in llm_cost_hooks_base llm_cost_hooks; do
      CG=1 N=$N ARM=$arm PKG=$pkg valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$out/$arm-$pkg.out" python bench/results/otel-2026-12-06e/icount_otel.py \
        >"$out/$arm-$pkg.log" 2>&1
      echo "pair $pair arm $arm $pkg $(grep ^summary "$out/$arm-$pkg.out.1") per call k: $(awk -v n="$N" '/^summary/ {printf "%.1f", $2 / n / 1000}' "$out/$arm-$pkg.out.1")"
    done
  done
done
uptime
