#!/usr/bin/env bash
# The tools audit, from an empty directory, against an installed wheel:
#   bash run.sh VENV POSTGRES_URL [N_BIG]
# VENV has llm-cost-hooks[charts,litellm,postgres] installed; POSTGRES_URL is an empty database.
set -u
VENV=$1; PG=$2; NBIG=${3:-200000}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=$VENV/bin/python; LC=$VENV/bin/llm-cost
export LITELLM_LOCAL_MODEL_COST_MAP=True
WORK=$(mktemp -d); cd "$WORK" || exit 1
echo "work dir: $WORK"; uptime
step() { echo; echo "== $*"; }

step "fill SQLite and PostgreSQL through LangChain and LiteLLM"
$PY "$HERE/fill.py" sqlite:///a.db 60 > /dev/null 2>&1
$PY "$HERE/fill.py" "$PG" 60 > /dev/null 2>&1
step "reports add up (SQLite, PostgreSQL)"
$PY "$HERE/check.py" a.db | tail -2
$PY "$HERE/check.py" "$PG" | tail -2
step "same report on SQLite and PostgreSQL"
for by in tenant feature model route prompt_version tenant,feature,model; do
  for fmt in csv json; do
    $LC report a.db --by $by --show totals,tasks,cache,budget --format $fmt > s.out
    $LC report "$PG" --by $by --show totals,tasks,cache,budget --format $fmt > p.out
    cmp -s s.out p.out && echo "same  --by $by --format $fmt" || echo "DIFFERENT --by $by --format $fmt"
  done
done
step "terminal table: no raw escape, one line per row"
$LC report a.db --by tenant --show totals > t.out
echo "ESC bytes: $(grep -c $'\x1b' t.out)  lines: $(wc -l < t.out)"
step "HTML report in headless Chromium"
$LC report a.db --html 'r<b>.html' --show totals > /dev/null && echo "html written"
chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$WORK/prof" \
  --virtual-time-budget=3000 --dump-dom "file://$WORK/r<b>.html" 2>/dev/null > dom.html
echo "hostile names on the page: $(grep -o 'data-pwned' dom.html | wc -l)  scripts that ran: $(grep -o 'data-pwned="' dom.html | wc -l)"
chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$WORK/prof2" \
  --window-size=1200,2400 --screenshot="$WORK/r.png" "file://$WORK/r<b>.html" 2>/dev/null; ls -la r.png
PGPW=$(echo "$PG" | sed 's|postgresql://\([^@:]*\)@|postgresql://\1:s3cret-pw@|')
$LC report "$PGPW" --html pg.html --show totals > /dev/null 2>&1
echo "HTML of a PostgreSQL URL with a password: password in the page $(grep -c s3cret-pw pg.html) time(s)"
step "bad ledgers: exit code and message"
$PY -c "from llm_cost_hooks.ledger import SQLiteLedger; SQLiteLedger('empty.db').close()"
$LC report empty.db --format json; echo "empty ledger: rc=$?"
$LC report missing.db; echo "missing: rc=$?"
echo hello > junk.db; $LC report junk.db; echo "not a database: rc=$?"
$LC report "$WORK"; echo "directory: rc=$?"
head -c 400 a.db > /dev/null; printf '{"request_id": "cut sh' > torn.jsonl; $LC report torn.jsonl; echo "torn jsonl: rc=$?"
$PY - <<'PYEOF' &
import sqlite3, time
c = sqlite3.connect("a.db", isolation_level=None); c.execute("PRAGMA locking_mode=EXCLUSIVE"); c.execute("BEGIN EXCLUSIVE")
time.sleep(9)
PYEOF
sleep 2; $LC report a.db; echo "locked: rc=$?"; wait
step "$NBIG records: time and peak memory, 3 runs each"
$PY "$HERE/big.py" big.db "$NBIG"; ls -la big.db
for args in "--show totals" "--show totals,tasks" "--by tenant,feature --show totals,tasks,cache,budget" "--by day --show totals,tasks" "--html big.html --show totals"; do
  for rep in 1 2 3; do
    /usr/bin/time -f "%e s wall  %U s user  %M KB max RSS  [report big.db $args]" $LC report big.db $args > /dev/null 2> time.err; tail -1 time.err
  done
done
$PY "$HERE/check.py" big.db | tail -1
$LC report big.db --by tenant --format json 2> pipe.err | head -1 > /dev/null
echo "closed pipe (| head -1): rc=${PIPESTATUS[0]}, traceback lines: $(grep -c Traceback pipe.err)"

step "prompt-cache and batch prices"
$PY "$HERE/prices.py"

step "pr-estimate: empty, huge, not UTF-8, unpriced model, no change"
mkdir repo && cd repo && git init -q -b main && mkdir prompts
printf '[project]\nname = "x"\nversion = "0"\n[tool.llm-cost-hooks]\nprompt_files = ["prompts/*.txt", "prompts/*.yaml"]\ndefault_model = "gpt-4o-mini"\n' > pyproject.toml
echo "You are a support bot." > prompts/support.txt
G="git -c user.name=t -c user.email=t@e -c commit.gpgsign=false"
$G add -A && $G commit -qm base
: > prompts/empty.txt; $PY -c "print('Answer politely. ' * 50000)" > prompts/huge.txt; $G add -A && $G commit -qm head
$LC pr-estimate --base HEAD~1 --head HEAD --calls-per-month 1000 --format json > pr.json; echo "empty+huge: rc=$?"
$PY -c "import json; d=json.load(open('pr.json')); print([(p['name'], p['status'], p['tokens_after'], round(p['delta_usd_per_month'], 4)) for p in d['prompts']], round(d['delta_usd_per_month'], 4))"
$LC pr-estimate --base HEAD --head HEAD --format json > /dev/null; echo "no change: rc=$?"
printf 'R\xe9ponds poliment.\n' > prompts/latin1.txt; $G add -A && $G commit -qm latin1
$LC pr-estimate --base HEAD~1 --head HEAD; echo "not UTF-8: rc=$?"
$G rm -q prompts/latin1.txt; printf 'name: triage\nmodel: in-house-model-7b\nmessages:\n  - [system, Sort the ticket]\n' > prompts/triage.yaml
$G add -A && $G commit -qm triage
$LC pr-estimate --base HEAD~2 --head HEAD; echo "unpriced model: rc=$?"
cd ..
uptime
