#!/bin/bash
# hang_all.sh PY SCENARIO OUT: run the app while every postgres process is stopped (SIGSTOP)
PY=$1; S=$2; OUT=$3
URL=$(cat /tmp/fail_s/pg.url)
PGCTL=$(ps -eo pid,args | grep "[p]gctl.py" | awk '{print $1}')
PM=$(ps --ppid $PGCTL -o pid= | tr -d ' ')
ALL="$PM $(ps --ppid $PM -o pid= | tr '\n' ' ')"
cd /tmp/fail_s/app && rm -f llm_costs.dead-letter.jsonl*
kill -STOP $ALL
start=$(date +%s.%N)
timeout 120 $PY -W default app_pg.py $URL $S > $OUT 2>&1; echo "rc=$? wall=$(echo "$(date +%s.%N) - $start" | bc)" >> $OUT
kill -CONT $ALL
cat $OUT
