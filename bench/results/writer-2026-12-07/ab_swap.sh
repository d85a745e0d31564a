#!/usr/bin/env bash
# ab_recpath.py with the roles swapped every other run: "normal" = base package as the copy
# (llm_cost_hooks_base), this tree as llm_cost_hooks; "swapped" = this tree's copy as
# llm_cost_hooks_base, the base tree as llm_cost_hooks. The harness favours its "new" side
# (A/A: about -4 us), so the effect is (normal - swapped)/2 of "new - base".
# BASEPKG: the base package copied as llm_cost_hooks_base; NEWPKG: this tree's package copied
# so; BASETREE: the base tree (its llm_cost_hooks and bench).
W=/work/wt/writer
for i in $(seq 1 ${RUNS:-2}); do
  for m in ${MODELS:-cheap realistic}; do
    echo "== run $i $m normal (new = this tree); load $(cut -d' ' -f1-3 /proc/loadavg)"
    BASE_PKG_DIR=${BASEPKG:-/tmp/wr/basepkg} PYTHONPATH=$W LITELLM_LOCAL_MODEL_COST_MAP=True MODEL=$m ROUNDS=${ROUNDS:-20} /work/main/.venv/bin/python $W/bench/results/recpath-2026-12-06s/ab_recpath.py | grep -E "^\[|new - base|  (base|new) "
    echo "== run $i $m swapped (new = base tree); load $(cut -d' ' -f1-3 /proc/loadavg)"
    (cd ${BASETREE:-/tmp/wr/base} && BASE_PKG_DIR=${NEWPKG:-/tmp/wr/newpkg} PYTHONPATH=${BASETREE:-/tmp/wr/base}:$W LITELLM_LOCAL_MODEL_COST_MAP=True MODEL=$m ROUNDS=${ROUNDS:-20} /work/main/.venv/bin/python $W/bench/results/recpath-2026-12-06s/ab_recpath.py | grep -E "^\[|new - base|  (base|new) ")
  done
done
