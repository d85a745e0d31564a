#!/bin/bash
# usage: rounds.sh TAG ROUNDS files...
tag=$1; rounds=$2; shift 2
cd "$(dirname "$0")/../../.."
export PYTHONPATH=$PWD LITELLM_LOCAL_MODEL_COST_MAP=True ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1
for r in $(seq 1 $rounds); do
  [ -e /tmp/flk2/STOP-$tag ] && break
  for f in "$@"; do
    [ -e /tmp/flk2/STOP-$tag ] && break
    name=$(basename $f .py)
    out=/tmp/flk2/runs/$tag-$name-$r.txt
    t0=$(date +%s.%N)
    timeout 900 /work/main/.venv/bin/python -m pytest -q -p no:cacheprovider -x $f > $out 2>&1; rc=$?
    t1=$(date +%s.%N)
    printf "%s round=%s rc=%s %.1fs load=%s %s\n" "$name" "$r" "$rc" "$(echo "$t1-$t0"|bc)" "$(cut -d' ' -f1 /proc/loadavg)" "$(tail -1 $out)" >> /tmp/flk2/$tag.log
    [ $rc -eq 0 ] && rm -f $out
  done
done
echo DONE >> /tmp/flk2/$tag.log
