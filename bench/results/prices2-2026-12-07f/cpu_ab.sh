#!/bin/bash
# Interleaved A/B of a timing script: BASE and NEW package trees one after the other, the order
# alternated, PAIRS times. Usage: cpu_ab.sh BASE_PKG_ROOT NEW_PKG_ROOT PAIRS SCRIPT [ENV=VALUE ...]
here=$(cd "$(dirname "$0")" && pwd)
base=$1 new=$2 pairs=$3 script=$4
shift 4
cd /tmp
for i in $(seq "$pairs"); do
  if [ $((i % 2)) -eq 1 ]; then order="$base $new"; else order="$new $base"; fi
  for pkg in $order; do
    us=$(env "$@" PYTHONHASHSEED=0 PYTHONPATH=$pkg LITELLM_LOCAL_MODEL_COST_MAP=True /work/main/.venv/bin/python "$here/$script")
    [ "$pkg" = "$base" ] && a=$us || b=$us
  done
  echo "pair $i ($(cut -d' ' -f1 /proc/loadavg)): before $a us/call, after $b us/call"
done
