#!/bin/sh
# pieces_tracker.py under callgrind, main's copy and this tree side by side: k instructions per
# call of the caller's part (.1) and the writer's part (.2). OBSS (default "none rows otel"), N.
N=${N:-2000}
out=${OUT:-/tmp/pieces-pairs}
mkdir -p "$out"
for obs in ${OBSS:-none rows otel}; do
  for pkg in llm_cost_hooks_base llm_cost_hooks; do
    CG=1 N=$N OBS=$obs PKG=$pkg valgrind --tool=callgrind --instr-atstart=no \
      --callgrind-out-file="$out/$obs-$pkg.out" python bench/results/otel-2026-12-06h/pieces_tracker.py \
      >"$out/$obs-$pkg.log" 2>&1
    echo "$obs $pkg caller / writer k per call: $(awk -v n="$N" '/^summary/ {printf "%.2f ", $2 / n / 1000}' "$out/$obs-$pkg.out.1" "$out/$obs-$pkg.out.2")"
  done
done
