. ./run1.sh; lim=$1; out=$2; reset; rm -rf $out journal; mkdir -p w_$out
( sleep ${KILL_AT:-6}; kill -9 $(cat /tmp/fleet_srv/redis.pid); echo "$(date -u +%T) redis killed"; sleep ${DOWN_FOR:-8}; /tmp/fleet_srv/redis_start.sh; echo "$(date -u +%T) redis started" ) &
cd w_$out; date -u +%T; $PY ../fleet.py --ledger $U --redis redis://127.0.0.1:56379 --workers 3 --n 150 --sleep 0.08 --tenant acme --limit $lim --out ../$out 2>&1 | cut -c1-200 | sed 's/pid: [0-9]*//; s/[0-9]\{4,\}/N/g' | sort | uniq -c | sort -rn | head -12; date -u +%T; wait; cd ..
$PY check.py $U $out 2>&1 | sed -n '1p;4,20p'
$PY -c "
from llm_cost_hooks.budget import Limit, SpendGuard, AlertManager
g = SpendGuard([Limit.usd($lim, per='day', scope='tenant', name='daily')], store='redis://127.0.0.1:56379', alerts=AlertManager(log=False))
print('redis spent', g.spent('daily','acme'))"
sort ../$out/errors.txt 2>/dev/null | cut -d' ' -f2- | cut -c1-120 | uniq -c | head -3
