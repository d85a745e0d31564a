#!/bin/bash
# before (the branch point's wheel) and after, alternating
cd /tmp/fl_empty
for round in 1 2; do
  for v in before after; do
    if [ $v = before ]; then W=/tmp/fl_whlb/*.whl; else W=/tmp/fl_whl3/*.whl; fi
    /tmp/fl_venv/bin/pip install -q --force-reinstall --no-deps $W 2>/dev/null
    echo "== $v round $round $(uptime)"
    timeout 400 /tmp/fl_venv/bin/python /work/wt/fleet/bench/results/fleet-audit-2026-12-07/fleet.py --out /tmp/fl_$v$round.json > /tmp/fl_$v$round.txt 2>&1
    echo "rc $? $(uptime)"
  done
done
