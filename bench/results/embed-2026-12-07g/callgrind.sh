#!/bin/sh
# Instruction counts for one pass over the same 50 Banking77 + 50 HWU64 queries, model loading
# excluded: valgrind starts with instrumentation off, measure.py loads and warms up, then
# callgrind_control turns it on for the pass (interpreter exit is counted too, the same for all).
# Valgrind emulates no AVX-512, so onnxruntime runs its AVX2 kernels here.
# EMBED_CODE_ROOT=<tree> imports llm_cost_hooks from another tree (the code before).
cd "$(dirname "$0")/../../.."
PY=${PY:-/work/main/.venv/bin/python}
for v in "$@"; do
  sync=/tmp/embed_cg_sync.$$
  rm -f $sync.ready $sync.go
  CG_SYNC=$sync valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$sync.out \
    "$PY" bench/results/embed-2026-12-07g/measure.py fixed 50 "$v" 1 >$sync.log 2>&1 &
  vp=$!
  while [ ! -e $sync.ready ]; do sleep 1; done
  callgrind_control -i on $vp >/dev/null
  touch $sync.go
  wait $vp
  grep -h embedded $sync.log
  ir=$(grep -h '^summary:\|^totals:' $sync.out | head -1 | awk '{print $2}')
  echo "$v: Ir for the pass of 100 queries $ir, per query $((ir / 100))"
  rm -f $sync.ready $sync.go $sync.out $sync.log
done
