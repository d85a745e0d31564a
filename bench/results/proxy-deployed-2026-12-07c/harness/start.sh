#!/bin/bash
# start.sh NAME PORT [extra litellm args]; env: UP (upstream port), LEDGER, LIMITS, CALLBACK, VENV
set -e
name=$1 port=$2; shift 2
d=/tmp/pxd/run/$name; rm -rf $d; mkdir -p $d; cd $d
cp /work/wt/proxy/integrations/litellm-proxy/cost_hooks_callback.py .
$VENV/bin/python /work/wt/proxy/bench/results/proxy-deployed-2026-12-07c/harness/mkconfig.py $UP config.yaml $CALLBACK
export LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_MASTER_KEY=sk-master-test ANTHROPIC_API_KEY=sk-ant
export LLM_COST_HOOKS_LEDGER=${LEDGER:-sqlite:///$d/llm_costs.db}
export LLM_COST_HOOKS_PROXY_LIMITS=${LIMITS-'[{"metric": "usd", "amount": 0.0001, "period": "day", "scope": "tenant", "route": "/budgeted"}]'}
[ -n "$BUDGET_STORE" ] && export LLM_COST_HOOKS_PROXY_BUDGET_STORE=$BUDGET_STORE
nohup $VENV/bin/litellm --config config.yaml --host 127.0.0.1 --port $port "$@" > proxy.log 2>&1 &
echo $! > pid
