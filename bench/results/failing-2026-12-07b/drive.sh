#!/bin/bash
# drive.sh PY SCENARIO ACTION(stop|hang) OUT : run the app, act on the server at its cue, then restore it.
PY=$1; S=$2; ACT=$3; OUT=$4
URL=$(cat /tmp/fail_s/pg.url)
PGCTL=$(ps -eo pid,args | grep "[p]gctl.py" | awk '{print $1}')
cd /tmp/fail_s/app && rm -f llm_costs.dead-letter.jsonl*
start=$(date +%s.%N)
( WAIT=${WAIT:-3} $PY -W default app_pg.py $URL $S > $OUT 2>&1; echo "rc=$? wall=$(echo "$(date +%s.%N) - $start" | bc)" >> $OUT ) &
while ! grep -q STOP-SERVER-NOW $OUT 2>/dev/null; do sleep 0.1; done
PM=$(ps --ppid $PGCTL -o pid= | tr -d ' ')
if [ "$ACT" = stop ]; then echo stop > /tmp/fail_s/pg.fifo; fi
if [ "$ACT" = hang ]; then ALL="$PM $(ps --ppid $PM -o pid= | tr '\n' ' ')"; kill -STOP $ALL; fi
wait
if [ "$ACT" = hang ]; then kill -CONT $ALL; fi
if [ "$ACT" = stop ]; then echo start > /tmp/fail_s/pg.fifo; sleep 2; fi
cat $OUT
