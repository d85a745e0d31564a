#!/bin/bash
# usage: outage.sh TENANT ; pre-spend 45 %, 4 workers, Redis paused (SIGSTOP) 1.5 s after they start, for 10 s
export LITELLM_LOCAL_MODEL_COST_MAP=True LIMIT=0.0004 PAUSE=0.3 TENANT=$1
PY=${PY:-/tmp/bud/venv/bin/python}
rm -f ${CHK:-/tmp/bud/chk}/ready_* ${CHK:-/tmp/bud/chk}/go
$PY prespend.py $1 $LIMIT ${PRE:-0.00016}
for i in 1 2 3 4; do LLM_COST_HOOKS_SPEND_JOURNAL=${CHK:-/tmp/bud/chk}/j$i $PY worker.py redis://127.0.0.1:6391 http://127.0.0.1:8711/hook 40 1 w$i & done
while [ $(ls ${CHK:-/tmp/bud/chk}/ready_* 2>/dev/null | wc -l) -lt 4 ]; do sleep 0.1; done
touch ${CHK:-/tmp/bud/chk}/go; sleep ${STOP_AFTER:-0.3}; kill -STOP $REDIS_PID; echo "STOP"; sleep 10; kill -CONT $REDIS_PID; echo CONT
wait
