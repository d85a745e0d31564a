#!/usr/bin/env bash
# docs/pr-estimate.md as written, in a new git repository holding only the page's
# [tool.llm-cost-hooks] table (prompt_files; no prompt module) and two prompt files, with
# the quick start's ledger: a main branch, then a commit that grows one prompt and adds one.
#   VENV=/tmp/dr2-venv REPO=/work/wt/docsrun2 bash run_pr_estimate.sh
set -u
VENV=${VENV:?} REPO=${REPO:?}
export PATH="$VENV/bin:$PATH" LITELLM_LOCAL_MODEL_COST_MAP=True
unset PYTHONPATH
work=$(mktemp -d /tmp/dr2-pr.XXXX) && cd "$work" || exit 1
git init -q -b main . && git config user.email docs@example.com && git config user.name docs
cat > pyproject.toml <<'TOML'
[project]
name = "myapp"
version = "0"

[tool.llm-cost-hooks]
prompt_files = ["prompts/*.txt"]     # .txt/.md/.prompt = one system prompt; .yaml/.json = {name, version, model, messages}
default_model = "gpt-4o-mini"
TOML
mkdir prompts && echo "You are ACME's support bot. Answer in two sentences." > prompts/support.txt
git add -A && git commit -qm base && git update-ref refs/remotes/origin/main HEAD
echo "You are ACME's support bot. Answer in two sentences. Never promise a refund; link the refund policy page instead and say a human will review the request." > prompts/support.txt
echo "Classify the message as billing, card or other." > prompts/classify.txt
git add -A && git commit -qm head
python - "$REPO/README.md" <<'PY'
import re, sys
exec(re.findall(r"```python\n(.*?)```", open(sys.argv[1]).read(), flags=re.S)[0])
PY
llm-cost pr-estimate --base origin/main --head HEAD --ledger llm_costs.db --calls-per-month 10000 --fail-above 50
echo "exit $?"
llm-cost pr-estimate --base origin/main --head HEAD --calls-per-month 10000000 --fail-above 50 --format json > est.json
echo "exit $? (10 million calls a month: over the 50 USD gate)"; python -c "import json; d=json.load(open('est.json')); print({k: d[k] for k in list(d)[:6]})"
llm-cost pr-estimate --base nope --head HEAD; echo "exit $?"
cd / && rm -rf "$work"
