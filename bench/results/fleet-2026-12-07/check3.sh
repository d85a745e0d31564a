. ./run1.sh; lim=$1; out=$2; reset; rm -rf $out w_$out journal; mkdir -p w_$out; cd w_$out
$PY ../fleet.py --ledger $U --redis redis://127.0.0.1:56379 --workers 3 --n ${N:-150} --sleep 0.08 --tenant acme --limit $lim --out ../$out \
  --fault 'kill -9 $(cat /tmp/fleet_srv/redis.pid)' --fault-at ${FAULT_AT:-2} --restore /tmp/fleet_srv/redis_start.sh --restore-at ${RESTORE_AT:-10} 2>&1 | cut -c1-200 | sort | uniq -c | sort -rn | head -12; cd ..
$PY check.py $U $out 2>&1 | sed -n '1p;4,20p'
su postgres -c "psql -q -h /tmp/fleet_srv -p 55432 -d llm_costs -c \"select success, count(*), sum(cost_usd) from cost_records group by 1\""
cat $out/alerts.jsonl
