# PostgreSQL stopped mid-run (STOP_AT s after start, for DOWN_FOR s); workers keep calling.
. ./run1.sh; out=$1; reset; rm -rf $out w_$out; mkdir -p w_$out; cd w_$out
( sleep ${STOP_AT:-8}; bash ../pgctl.sh stop; echo "$(date -u +%T) pg stopped"; sleep ${DOWN_FOR:-15}; bash ../pgctl.sh start; echo "$(date -u +%T) pg started" ) &
echo "$(date -u +%T) start"; $PY ../fleet.py --ledger $U --redis redis://127.0.0.1:56379 --workers 3 --n ${N:-100} --sleep ${SLEEP:-0.3} --out ../$out 2>&1 | grep -v "error connecting\|Is the server\|^\s*$" | cut -c1-260 | sed 's/pid: [0-9]*//' | sort | uniq -c | sort -rn | head -8; echo "$(date -u +%T) workers done"; wait
ls *.jsonl 2>/dev/null && for f in *.jsonl; do wc -l $f; /tmp/fleet_venv/bin/llm-cost ledger copy $f $U; /tmp/fleet_venv/bin/llm-cost ledger copy $f $U; done
cd ..; $PY check.py $U $out 2>&1 | head -1
/tmp/fleet_venv/bin/llm-cost report $U --by tenant --format csv 2>/dev/null | head -5
