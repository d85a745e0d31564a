#!/bin/bash
# start.sh NAME MODE PORT  (upstreams already running: STUB SLOW FAIL ports in env)
set -e
name=$1 mode=$2 port=$3
d=/tmp/lp_run/$name; rm -rf $d; mkdir -p $d; cd $d
cp /work/wt/proxy/integrations/litellm-proxy/cost_hooks_callback.py .
/tmp/lp_venv/bin/python "$(dirname "$0")"/mkconfig.py $SLOW $FAIL $mode config.yaml
export LITELLM_MASTER_KEY=sk-master-test OPENAI_API_KEY=sk-upstream OPENAI_API_BASE=http://127.0.0.1:$STUB/v1 ANTHROPIC_API_KEY=sk-ant
export LLM_COST_HOOKS_LEDGER=sqlite:///$d/llm_costs.db
export LLM_COST_HOOKS_PROXY_LIMITS='[{"metric": "usd", "amount": 0.00002, "period": "day", "scope": "tenant", "route": "/budgeted"}]'
export PYTHONPATH=/tmp/lp_run/netwatch NETWATCH_LOG=$d/net.log
[ -n "$NOLOCALMAP" ] || export LITELLM_LOCAL_MODEL_COST_MAP=True
nohup /tmp/lp_venv/bin/litellm --config config.yaml --host 127.0.0.1 --port $port $EXTRA > proxy.log 2>&1 &
echo $! > pid
