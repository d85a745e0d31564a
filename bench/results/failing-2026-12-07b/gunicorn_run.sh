#!/bin/bash
# gunicorn_run.sh VENV OUT [stop]: gunicorn --preload with 2 workers, 20 requests, then SIGTERM (optionally the server stopped before).
V=$1; OUT=$2; ACT=$3
export PG_URL=$(cat /tmp/fail_s/pg.url)
PORT=$(/work/main/.venv/bin/python -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
cd /tmp/fail_s/app && rm -f llm_costs.dead-letter.jsonl*
$V/bin/gunicorn --preload -w 2 -b 127.0.0.1:$PORT --log-level warning wsgi_app:app > $OUT 2>&1 &
GPID=$!
for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:$PORT/ && break; sleep 0.2; done
for i in $(seq 20); do curl -s http://127.0.0.1:$PORT/ > /dev/null; done
if [ "$ACT" = stop ]; then echo stop > /tmp/fail_s/pg.fifo; sleep 3; for i in $(seq 5); do curl -s http://127.0.0.1:$PORT/ > /dev/null; done; fi
sleep 1
start=$(date +%s.%N)
kill -TERM $GPID; wait $GPID; echo "rc=$? shutdown=$(echo "$(date +%s.%N) - $start" | bc)" >> $OUT
if [ "$ACT" = stop ]; then echo start > /tmp/fail_s/pg.fifo; sleep 2; fi
cat $OUT
