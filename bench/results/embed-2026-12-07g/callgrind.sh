#!/bin/sh
# Instruction counts for one pass over 50 Banking77 + 50 HWU64 queries: Ir(reps=2) - Ir(reps=1).
# Valgrind emulates no AVX-512, so onnxruntime runs its AVX2 kernels here.
cd "$(dirname "$0")/../../.."
PY=${PY:-/work/main/.venv/bin/python}
OUT=${OUT:-/tmp/embed_cg}
for v in $*; do
  for r in 1 2; do
    valgrind --tool=callgrind --callgrind-out-file=$OUT.$v.$r "$PY" bench/results/embed-2026-12-07g/measure.py fixed 50 $v $r 2>&1 | grep -E "Collected|embedded"
  done
  a=$(grep -h '^summary:' $OUT.$v.1 | awk '{print $2}'); b=$(grep -h '^summary:' $OUT.$v.2 | awk '{print $2}')
  echo "$v: Ir per pass of 100 queries $((b - a)), per query $(((b - a) / 100))"
  rm -f $OUT.$v.1 $OUT.$v.2
done
