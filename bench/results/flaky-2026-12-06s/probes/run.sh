#!/bin/bash
# Run test files with the probes loaded (each does nothing unless its variable is set):
#   FORCE_RNG=lo|hi|<seed>   the package's unseeded random.Random draws 0.0 / 0.9999999 / from <seed>
#   SIM_JITTER=up:0.01|down:0.01|<seed>:0.01   the real embedder's similarities moved before the cache decides
#   PERTURB_EMB=<seed>:<scale>  noise added to the real embedder's vectors
#   MARGINS=file.jsonl       log each real-embedder cache decision's similarity, score and bars
#   SLOW_WRITER=s, SLOW_RENEW=s  the ledger writer's first batch / the lease renewer's second run late by s
# usage: bench/results/flaky-2026-12-06s/probes/run.sh tests/test_x.py ...
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../../.." || exit 1
out=$(mktemp)
PYTHONPATH=$PWD:$here LITELLM_LOCAL_MODEL_COST_MAP=True ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1 \
  "${PYTHON:-python}" -m pytest -q -p no:cacheprovider -p force_rng -p perturb_emb -p margins \
  -p slow_threads -p sim_jitter "$@" >"$out" 2>&1
grep -E "^(FAILED|ERROR)|passed|failed|FORCE_" "$out" | grep -v "^  "
rm -f "$out"
