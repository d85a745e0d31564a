#!/bin/bash
# A/B, old and new test files interleaved, pytest pinned to the CPU the hog is pinned to.
cd "$(dirname "$0")/../../.."
export PYTHONPATH=$PWD LITELLM_LOCAL_MODEL_COST_MAP=True ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1
for r in 1 2; do
  for f in tests/test_zz_old_loop_end_no_loss.py tests/test_litellm_loop_end_no_loss.py tests/test_zz_old_stream_partial.py tests/test_litellm_stream_partial.py; do
    [ -e /tmp/flk2/STOP-AB ] && exit
    t0=$(date +%s)
    taskset -c 1 timeout 900 /work/main/.venv/bin/python -m pytest -q -p no:cacheprovider $f > /tmp/flk2/runs/AB-$(basename $f .py)-$r.txt 2>&1; rc=$?
    echo "$(basename $f .py) round=$r rc=$rc $(( $(date +%s)-t0 ))s load=$(cut -d' ' -f1 /proc/loadavg) $(tail -1 /tmp/flk2/runs/AB-$(basename $f .py)-$r.txt)" >> /tmp/flk2/AB.log
  done
done
echo DONE >> /tmp/flk2/AB.log
