#!/bin/bash
# usage: outage5.sh TENANT ; like outage.sh, plus a 5th worker that starts after Redis is back
export LITELLM_LOCAL_MODEL_COST_MAP=True LIMIT=0.0006 PAUSE=1.0 TENANT=$1
PY=${PY:-/tmp/bud/venv/bin/python}
C=${CHK:-/tmp/bud/chk}
rm -f $C/ready_* $C/go $C/go5
$PY prespend.py $1 $LIMIT 0.00027
for i in 1 2 3 4; do LLM_COST_HOOKS_SPEND_JOURNAL=$C/j$i $PY worker.py redis://127.0.0.1:6391 http://127.0.0.1:8711/hook 16 1 w$i & done
GO=$C/go5 LLM_COST_HOOKS_SPEND_JOURNAL=$C/j5 PAUSE=0 $PY worker.py redis://127.0.0.1:6391 http://127.0.0.1:8711/hook 2 1 w5 > $C/w5.log 2>&1 &
W5=$!
while [ $(ls $C/ready_* 2>/dev/null | wc -l) -lt 5 ]; do sleep 0.1; done
# w5 waits for its own go file (GO=$C/go5), touched 8 s after Redis is back
touch $C/go; sleep 0.3; kill -STOP $REDIS_PID; echo STOP; sleep 10; kill -CONT $REDIS_PID; echo CONT; sleep 8; touch $C/go5; echo GO5
wait
