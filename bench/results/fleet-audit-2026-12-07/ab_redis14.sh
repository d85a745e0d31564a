#!/bin/bash
# Redis down from 14 s to 19 s, while the tenants climb to the limit: spend made locally
# during the outage is replayed afterwards and crosses thresholds. After, then before.
cd /tmp/fl_empty
export FLEET_REDIS_DOWN_AT=14
for v in after before; do
  if [ $v = before ]; then W=/tmp/fl_whlb/*.whl; else W=/tmp/fl_whl3/*.whl; fi
  /tmp/fl_venv/bin/pip install -q --force-reinstall --no-deps $W 2>/dev/null
  echo "== $v (redis down 14-19 s) $(uptime)"
  timeout 400 /tmp/fl_venv/bin/python /work/wt/fleet/bench/results/fleet-audit-2026-12-07/fleet.py --out /tmp/fl_redis14_$v.json > /tmp/fl_redis14_$v.txt 2>&1
  echo "rc $? $(uptime)"
done
/tmp/fl_venv/bin/pip install -q --force-reinstall --no-deps /tmp/fl_whl3/*.whl 2>/dev/null
