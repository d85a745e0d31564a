#!/usr/bin/env bash
# docs/litellm.md "Running the proxy", as written, from a copy of the checkout's integrations/
# folder, with the wheel venv's `litellm`. The upstream is a local fake OpenAI server
# (fake_openai.py: fixed answer, usage 12 in / 5 out), reached through the config's
# OPENAI_API_BASE; OPENAI_API_KEY is a dummy. One request with metadata, then SIGTERM, then
# `llm-cost report` on the ledger the page names.
#   VENV=/tmp/dr2-venv REPO=/work/wt/docsrun2 bash run_proxy.sh
set -u
VENV=${VENV:?} REPO=${REPO:?}
here=$(cd "$(dirname "$0")" && pwd)
export PATH="$VENV/bin:$PATH" ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1
unset PYTHONPATH
work=$(mktemp -d /tmp/dr2-proxy.XXXX) && cd "$work" || exit 1
cp -r "$REPO/integrations" .
"$VENV/bin/python" "$here/fake_openai.py" > fake.port 2> fake.log &
fake=$!
for _ in $(seq 50); do [ -s fake.port ] && break; sleep 0.2; done
export OPENAI_API_BASE="http://127.0.0.1:$(cat fake.port)/v1" OPENAI_API_KEY=sk-dummy ANTHROPIC_API_KEY=sk-ant-dummy
# the page's two lines (sk-... filled in)
export LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_MASTER_KEY=sk-local LLM_COST_HOOKS_LEDGER=sqlite:///llm_costs.db
litellm --config integrations/litellm-proxy/config.yaml --port 4000 > proxy.log 2>&1 &
proxy=$!
up=0
for _ in $(seq 240); do curl -sf -o /dev/null http://127.0.0.1:4000/health/liveliness && up=1 && break; sleep 0.5; done
echo "proxy up: $up"
curl -s http://127.0.0.1:4000/chat/completions -H "Authorization: Bearer sk-local" -H "Content-Type: application/json" \
  -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "When will my card arrive?"}], "metadata": {"tenant_id": "acme", "feature": "support_answer"}}' \
  | "$VENV/bin/python" -c "import json,sys; r=json.load(sys.stdin); print('answer:', r['choices'][0]['message']['content'], '| usage:', r['usage']['prompt_tokens'], r['usage']['completion_tokens'])"
kill -TERM $proxy; wait $proxy; echo "proxy exit: $?"
grep -E "closed: |Traceback|Error" proxy.log | tail -3
llm-cost report llm_costs.db --by tenant,feature; echo "report exit: $?"
kill $fake; cd /; rm -rf "$work"
