#!/usr/bin/env bash
# The docs' llm-cost commands that read the reader's own files, run as written on public data
# (../shared/data), from the installed wheel, in an empty directory. A local PostgreSQL
# (tests/_servers.py's PostgresServer) stands in for db.internal in the fleet commands.
#   VENV=/tmp/dr2-venv DATA=/work/shared/data REPO=/work/wt/docsrun2 bash run_cli.sh
set -u
VENV=${VENV:?} DATA=${DATA:?} REPO=${REPO:?}
export PATH="$VENV/bin:$PATH" LITELLM_LOCAL_MODEL_COST_MAP=True ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1
unset PYTHONPATH
work=$(mktemp -d) && cd "$work" || exit 1
run() { echo "\$ $*"; local t0=$SECONDS; "$@" > out.txt 2>&1; local rc=$?; tail -n "${TAIL:-4}" out.txt | sed 's/^/    /'; echo "    -> exit $rc, $((SECONDS - t0)) s"; }

# README quick start, then the report commands it names
python - "$REPO/README.md" <<'PY'
import re, sys
exec(re.findall(r"```python\n(.*?)```", open(sys.argv[1]).read(), flags=re.S)[0])
PY
run llm-cost report llm_costs.db --by tenant,feature
run llm-cost report llm_costs.db --by tenant,feature --html report.html
run llm-cost report llm_costs.db --by tenant,feature --since 2026-11-01 --show totals,tasks,cache --format csv
run llm-cost report llm_costs.db --show cache --by route
run llm-cost estimate --input-tokens 1500 --output-tokens 300 --requests-per-day 10000 --models gpt-4o,gpt-4o-mini --cached-fraction 0.5 --batch
run llm-cost prices show

# ledger.md / cli.md retention: 200 records 120 days old written beside the quick start's
# records, then the page's commands (dry run first), a JSONL copy, the error cases the page
# names (a future date, a date that is not one, a path with no ledger: exit 2, no file made)
python - <<'PY'
from datetime import datetime, timedelta, timezone
from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import JSONLLedger, SQLiteLedger
now = datetime.now(timezone.utc)
for ledger in (SQLiteLedger("llm_costs.db"), JSONLLedger("llm_costs.jsonl")):
    with ledger:
        for i in range(200):
            age = timedelta(days=120 if i % 2 else 1, minutes=i)
            ledger.write(CostRecord(model="gpt-4o-mini", tenant="acme", input_tokens=100, output_tokens=10,
                                    cost_usd=0.000021, timestamp=now - age))
PY
cp llm_costs.jsonl old.jsonl   # for the PostgreSQL prune below
run llm-cost ledger prune llm_costs.db --older-than 90d --dry-run
run llm-cost ledger prune llm_costs.db --older-than 90d
run llm-cost ledger prune llm_costs.db --before 2026-09-01
run llm-cost ledger prune llm_costs.jsonl --older-than 90d --batch-size 50
run llm-cost report llm_costs.jsonl --by tenant
run llm-cost ledger prune llm_costs.db --before 2099-01-01
run llm-cost ledger prune llm_costs.db --before 2026-13-45
run llm-cost ledger prune nothing_here.db --older-than 90d
echo "    nothing_here.db made: $(test -e nothing_here.db && echo yes || echo no)"

# routing-training.md: outcomes.csv / test.csv in the documented long format, from
# RouterBench ARC-Challenge (rows where both models have a result); --strong names a model
# of that data (the page's gpt-4o is not in it)
python - "$DATA" <<'PY'
import csv, gzip, sys
rows = list(csv.DictReader(gzip.open(f"{sys.argv[1]}/routing/routerbench_train/arc_challenge_train.csv.gz", "rt")))
models = ["gpt-3.5-turbo-1106", "gpt-4-1106-preview"]
rows = [r for r in rows if all(r[m] != "" and r[m + "|total_cost"] != "" for m in models)]
for name, part in (("outcomes.csv", rows[:700]), ("test.csv", rows[700:1000])):
    with open(name, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["prompt_id", "prompt", "model", "quality", "cost"])
        for r in part:
            for m in models:
                w.writerow([r["sample_id"], r["prompt"], m, r[m], r[m + "|total_cost"]])
b = list(csv.DictReader(gzip.open(f"{sys.argv[1]}/semantic_cache/banking77/train.csv.gz", "rt")))
with open("intents.csv", "w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(["text", "label"])
    w.writerows([r["text"], r["category"]] for r in b[:2000])
PY
TAIL=2 run llm-cost route train outcomes.csv --out router/ --strong gpt-4-1106-preview --quality-share 0.95
TAIL=12 run llm-cost route eval test.csv --router router/ --train outcomes.csv
TAIL=5 run llm-cost cache calibrate intents.csv --target 0.99 --route faq --out cache_config.json

# routing-training.md shadow mode: the page's block with ledger.db in the cwd and 80 requests
# (its 20 give 7 outcomes; training needs 10), then route train --from-ledger
python - "$REPO/docs/routing-training.md" <<'PY'
import re, sys
code = [c for c in re.findall(r"```python\n(.*?)```", open(sys.argv[1]).read(), flags=re.S) if "ShadowMode" in c][0]
exec(code.replace('os.path.join(tempfile.mkdtemp(), "ledger.db")', '"ledger.db"').replace("range(20)", "range(80)"))
PY
TAIL=2 run llm-cost route train ledger.db --from-ledger --out router2/ --strong large

# fleet.md on a local PostgreSQL
# (tests/_servers.py imports no llm_cost_hooks; any python 3 runs it)
python - "$REPO" <<'PY'
import os, subprocess, sys
sys.path.insert(0, f"{sys.argv[1]}/tests")
from _servers import PostgresServer
pg = PostgresServer().start()
try:
    for cmd in (
        f"llm-cost ledger migrate {pg.url}",
        "mkdir -p pods/a && cp llm_costs.db pods/a/",
        f'for f in pods/*/llm_costs.db; do llm-cost ledger copy "$f" {pg.url}; done',
        f"llm-cost report {pg.url} --by tenant,day",
        f"llm-cost report {pg.url} --show totals,tasks,cache,budget --since 2026-11-01",
        f"llm-cost report {pg.url} --html costs.html",
        f"llm-cost ledger copy old.jsonl {pg.url}",
        f"llm-cost ledger prune {pg.url} --older-than 90d --dry-run",
        f"llm-cost ledger prune {pg.url} --older-than 90d",
        f"llm-cost report {pg.url} --by tenant,day",
    ):
        out = subprocess.run(cmd, shell=True, capture_output=True, text=True)
        print("$", cmd.replace(pg.url, "postgresql://<local>"))
        print("    " + "\n    ".join((out.stdout + out.stderr).strip().splitlines()[-3:]))
        print(f"    -> exit {out.returncode}")
finally:
    pg.stop()
PY
cd / && rm -rf "$work"
