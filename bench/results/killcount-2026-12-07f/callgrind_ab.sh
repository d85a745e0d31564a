#!/bin/sh
# Instructions per LangChain call (caller and writer threads), before and after the change:
# bench/results/tracking_record_path.py under callgrind at N=1000 and N=4000 calls; the
# difference over 3000 calls removes start-up. BASE is an unpacked copy of the package
# before the change (git archive of the parent commit).
BASE=${BASE:-/tmp/kc-base}
HERE=$(cd "$(dirname "$0")/../../.." && pwd)
for rep in 1 2; do
  for side in base branch; do
    if [ $side = base ]; then P=$BASE; else P=$HERE; fi
    for n in 1000 4000; do
      out=/tmp/kc/cg.$side.$n.$rep
      N=$n PYTHONPATH=$P LITELLM_LOCAL_MODEL_COST_MAP=True valgrind --tool=callgrind \
        --callgrind-out-file=$out /work/main/.venv/bin/python "$HERE/bench/results/tracking_record_path.py" 2>&1 \
        | sed -n "s/.*Collected : \([0-9]*\).*/$side $n $rep \1/p"
      rm -f $out
    done
  done
done
