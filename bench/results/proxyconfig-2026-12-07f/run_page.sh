#!/usr/bin/env bash
# docs/litellm.md "Running the proxy", followed literally by a user who ran
# `pip install 'llm-cost-hooks[litellm-proxy]'` (the wheel venv VENV), in an empty directory:
# nothing from the checkout but the page (PAGE) and the local fake upstream.
#   MODE=old: the page's one command (`litellm --config integrations/litellm-proxy/config.yaml`).
#   MODE=clone: the same command from a copy of the checkout's integrations/ (REPO), as a
#             reader of a clone runs it, with the installed package.
#   MODE=new: the page's config.yaml (its ```yaml block naming the package callback, written
#             as is), its export lines (placeholders filled), `litellm --config config.yaml`,
#             its curl request, SIGTERM, then `llm-cost report` and the record in the ledger.
#   VENV=/tmp/proxyconfig-venv PAGE=docs/litellm.md MODE=new bash run_page.sh
set -u
VENV=${VENV:?} PAGE=$(realpath "${PAGE:?}") MODE=${MODE:?}
here=$(cd "$(dirname "$0")" && pwd)
export PATH="$VENV/bin:$PATH" ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1
unset PYTHONPATH
work=$(mktemp -d /tmp/proxyconfig-run.XXXX) && cd "$work" || exit 1
echo "empty directory: $(ls -A | wc -l) entries; llm-cost-hooks $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("llm-cost-hooks"))'), litellm $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))')"
"$VENV/bin/python" "$here/fake_openai.py" > "$work.fake.port" 2> /dev/null &
fake=$!
for _ in $(seq 50); do [ -s "$work.fake.port" ] && break; sleep 0.2; done
port=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# placeholders of the page: the key, and the upstream (the fake server instead of api.openai.com)
export OPENAI_API_KEY=sk-dummy OPENAI_API_BASE="http://127.0.0.1:$(cat "$work.fake.port")/v1"
export LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_MASTER_KEY=sk-local LLM_COST_HOOKS_LEDGER=sqlite:///llm_costs.db
if [ "$MODE" = old ] || [ "$MODE" = clone ]; then
  [ "$MODE" = clone ] && cp -r "${REPO:?}/integrations" .
  cmd=(litellm --config integrations/litellm-proxy/config.yaml --port "$port")
else
  "$VENV/bin/python" - "$PAGE" > config.yaml <<'PY'
import re, sys
blocks = re.findall(r"```yaml\n(.*?)```", open(sys.argv[1]).read(), flags=re.S)
print([b for b in blocks if "model_list:" in b][0], end="")
PY
  echo "--- config.yaml (from the page) ---"; cat config.yaml; echo "---"
  cmd=(litellm --config config.yaml --port "$port")
fi
echo "\$ ${cmd[*]}   (the page says --port 4000; a free port here)"
start=$(date +%s.%N)
"${cmd[@]}" > proxy.log 2>&1 &
proxy=$!
up=0
for _ in $(seq 600); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/health/liveliness" && up=1 && break
  kill -0 $proxy 2>/dev/null || break
  sleep 0.5
done
echo "proxy up: $up after $(python3 -c "import time; print(round(time.time() - $start, 1))") s"
if [ $up = 0 ]; then
  wait $proxy; echo "proxy exit: $?"; echo "--- last lines of the proxy's output ---"; grep -v '^\s*$' proxy.log | tail -4
else
  curl -s "http://127.0.0.1:$port/v1/chat/completions" \
    -H "Authorization: Bearer $LITELLM_MASTER_KEY" -H 'Content-Type: application/json' \
    -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
         "metadata": {"tenant_id": "acme", "feature": "faq"}}' \
    | python3 -c "import json,sys; r=json.load(sys.stdin); print('answer:', r['choices'][0]['message']['content'], '| usage:', r['usage']['prompt_tokens'], r['usage']['completion_tokens'])"
  kill -TERM $proxy; wait $proxy; echo "proxy exit after SIGTERM: $?"
  grep -E "closed: |Traceback" proxy.log | tail -3
  llm-cost report llm_costs.db --by tenant,feature; echo "report exit: $?"
  "$VENV/bin/python" - <<'PY'
from llm_cost_hooks import PriceBook
from llm_cost_hooks.ledger import open_ledger
led = open_ledger("sqlite:///llm_costs.db")
for r in led.records():
    want = PriceBook.default().cost(r.usage, r.model).total
    print(f"record: tenant={r.tenant} feature={r.feature} model={r.model} tokens={r.input_tokens}/{r.output_tokens} "
          f"cost_usd={r.cost_usd:.8f} (price book: {want:.8f}) success={r.success}")
led.close()
PY
fi
echo "files in the directory: $(ls | tr '\n' ' ')"
kill $fake; cd /; rm -rf "$work" "$work.fake.port"
