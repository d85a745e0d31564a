#!/bin/bash
# docs/litellm.md "Running the proxy", in an empty directory, upstream = tests/openai_stub_server.py,
# then proxy settings with a wrong value (each start is given 60 s). Usage: bash proxy.sh [PYTHONPATH]
set -u
REPO=$(cd "$(dirname "$0")/../../../.." && pwd)
export PATH=/tmp/o3v/bin:/usr/bin:/bin HOME=/tmp/o3e/home
[ $# -ge 1 ] && export PYTHONPATH=$1
cat /proc/loadavg
rm -rf /tmp/o3e/proxy && mkdir -p /tmp/o3e/proxy && cd /tmp/o3e/proxy
/work/main/.venv/bin/python "$REPO/tests/openai_stub_server.py" 48211 > stub.log 2>&1 & STUB=$!
cat > config.yaml <<'YAML'
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: os.environ/OPENAI_API_KEY

litellm_settings:
  callbacks: llm_cost_hooks.litellm.proxy.proxy_handler_instance
YAML
export LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_MASTER_KEY=sk-$(openssl rand -hex 32)
export OPENAI_API_KEY=sk-test OPENAI_API_BASE=http://127.0.0.1:48211/v1
export LLM_COST_HOOKS_LEDGER=sqlite:///llm_costs.db
litellm --config config.yaml --port 48212 > proxy.log 2>&1 & PROXY=$!
for i in $(seq 1 60); do curl -s -o /dev/null http://127.0.0.1:48212/health/liveliness && break; sleep 2; done
curl -s http://127.0.0.1:48212/v1/chat/completions \
  -H "Authorization: Bearer $LITELLM_MASTER_KEY" -H 'Content-Type: application/json' \
  -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
       "metadata": {"tenant_id": "acme", "feature": "faq"}}' | head -c 200; echo
sleep 2; llm-cost report llm_costs.db --by tenant,feature 2>&1 | grep -A2 "^tenant"
kill $PROXY; wait $PROXY 2>/dev/null; grep "closed:" proxy.log
for bad in 'LLM_COST_HOOKS_PROXY_REQUIRE_TENANT=ture' 'LLM_COST_HOOKS_PROXY_LIMITS=[{"metric": "usd", "amount": -25, "period": "day", "scope": "tenant"}]' 'LLM_COST_HOOKS_PROXY_CACHE=semantik'; do
  echo "=== $bad"; env "$bad" timeout 60 litellm --config config.yaml --port 48213 > bad.log 2>&1; echo "exit=$? (124: still running after 60 s)"
  grep -E "ConfigurationError|Exiting" bad.log | cut -c1-300 | head -3
done
kill $STUB
