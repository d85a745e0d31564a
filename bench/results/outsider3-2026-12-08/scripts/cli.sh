#!/bin/bash
# docs/cli.md, docs/fleet.md and docs/pr-estimate.md commands, from an empty directory, on
# the wheel's venv. PG: the URL printed by servers.py. Output: stdout.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
export PATH=/tmp/o3v/bin:/usr/bin:/bin HOME=/tmp/o3e/home HF_HUB_OFFLINE=1
PG=${PG:-postgresql://postgres@127.0.0.1:1/llm_costs}
run(){ echo "\$ llm-cost $*"; timeout 120 llm-cost "$@" > o.txt 2>&1; rc=$?; head -${LINES_SHOWN:-12} o.txt; echo "exit=$rc"; }
cat /proc/loadavg
rm -rf /tmp/o3e/cli && mkdir -p /tmp/o3e/cli && cd /tmp/o3e/cli
python - <<'PY'
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
h = CostCallbackHandler(ledger="sqlite:///llm_costs.db")
m = FakeChatModelWithUsage(model_name="gpt-4o-mini")
for t in ["acme", "globex", "=cmd()", "\x1b[31mred"]:
    m.invoke("hello " + t, config={"callbacks": [h], "metadata": {"tenant_id": t, "feature": "faq"}})
h.flush()
PY
echo "## docs/cli.md"
run estimate --input-tokens 1500 --output-tokens 300 --requests-per-day 10000 --models gpt-4o,gpt-4o-mini
run estimate --input-tokens 1500 --output-tokens 300 --requests-per-day 10000 --models gpt-4o,gpt-4o-mnii
run estimate --input-tokens -1500 --output-tokens 300 --requests-per-day 10000
run estimate --input-tokens 1500 --output-tokens 300 --requests-per-day 10000 --cached-fraction 1.5
run report llm_costs.db --by tenant,feature
run report llm_costs.db --by tenant --format csv
run report llm_costs.db --since 2026-12-09 --until 2026-12-01
run report llm_costs.db --since yesterday
run report nosuch.db
run report llm_costs.db --show totalz
run report llm_costs.db --by tenant,dya
run report llm_costs.db --html r.html
run audit-prompts --ledger llm_costs.db
run breakeven fine-tune --model gpt-4o-mnii --prompt-tokens 1200 --training-tokens 500000
run breakeven self-host --gpu-hourly 2.5 --throughput 1500 --tokens-per-month 100000000 --api-cost-per-month 800
run breakeven self-host --gpu-hourly -2.5 --throughput 1500 --tokens-per-month 100000000 --api-cost-per-month 800
run ledger prune llm_costs.db --older-than 90d --dry-run
run ledger prune llm_costs.db --older-than 90
run ledger prune llm_costs.db --before 2099-01-01
run ledger copy llm_costs.db copy.jsonl
run ledger copy llm_costs.db copy.db
run prices show
run export-finetune --ledger llm_costs.db --content capture.jsonl --out train.jsonl
run pr-estimate --base HEAD~1
echo "## docs/fleet.md (PostgreSQL)"
run report "$PG" --by tenant,day
run report "$PG" --show totals,tasks,cache,budget --since 2026-11-01
run ledger migrate "$PG"
run ledger copy llm_costs.db "$PG"
run ledger copy llm_costs.db "$PG"
run ledger prune "$PG" --older-than 90d --dry-run
run report postgresql://postgres@127.0.0.1:1/llm_costs --by tenant
echo "## docs/pr-estimate.md"
rm -rf /tmp/o3e/pr && mkdir -p /tmp/o3e/pr/myapp /tmp/o3e/pr/prompts && cd /tmp/o3e/pr
git init -q -b main . && git config user.email a@b && git config user.name u && touch myapp/__init__.py
printf '[project]\nname = "myapp"\nversion = "0.1"\n\n[tool.llm-cost-hooks]\nprompt_modules = ["myapp.prompts"]\nprompt_files = ["prompts/*.txt"]\ndefault_model = "gpt-4o-mini"\n' > pyproject.toml
printf 'from langchain_core.prompts import ChatPromptTemplate\nSUPPORT = ChatPromptTemplate.from_messages([("system", "You are ACME support."), ("human", "{q}")]).with_config(metadata={"model": "gpt-4o"})\n' > myapp/prompts.py
echo "Answer FAQ questions briefly." > prompts/faq.txt; echo "llm_costs.db*" > .gitignore
git add -A && git commit -qm base
printf 'from langchain_core.prompts import ChatPromptTemplate\nSUPPORT = ChatPromptTemplate.from_messages([("system", "You are ACME support. Always answer politely, cite the policy section, never promise refunds."), ("human", "{q}")]).with_config(metadata={"model": "gpt-4o"})\n' > myapp/prompts.py
echo "Refund policy: explain it." > prompts/refund.txt; git add -A && git commit -qm head
python -c "
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
h = CostCallbackHandler(ledger='sqlite:///llm_costs.db')
for i in range(20):
    FakeChatModelWithUsage(model_name='gpt-4o-mini').invoke('q', config={'callbacks': [h], 'metadata': {'prompt_version': 'faq'}})
h.flush()"
LINES_SHOWN=30 run pr-estimate --base HEAD~1 --head HEAD --ledger llm_costs.db --calls-per-month 10000 --fail-above 50
LINES_SHOWN=3 run pr-estimate --base HEAD~1 --head HEAD --calls-per-month 10000 --fail-above 0.01 --format json
run pr-estimate --base nosuchrev
run pr-estimate --base HEAD~1 --calls-per-month support=-5
