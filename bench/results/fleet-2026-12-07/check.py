"""Compare a fleet run's calls with the PostgreSQL records, the Redis spend and the alerts.

python check.py LEDGER_URL OUT_DIR [unused] [REDIS_URL]
"""

import collections
import json
import os
import sys
from pathlib import Path

import psycopg

from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard

url, out = sys.argv[1], Path(sys.argv[2])
rurl = sys.argv[4] if len(sys.argv) > 4 else "redis://127.0.0.1:56379"


def lines(path: Path) -> list[dict]:
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


calls = lines(out / "calls.jsonl")
with psycopg.connect(url) as c:
    rows = c.execute("select tenant, tags, cost_usd from cost_records").fetchall()
per_pid: collections.Counter = collections.Counter()
cost: dict[str, float] = collections.defaultdict(float)
tenant_of = {str(x["pid"]): x["tenant"] for x in calls}
mismatched = 0
for tenant, tags, usd in rows:
    pid = (json.loads(tags) if tags else {}).get("pid")
    per_pid[pid] += 1
    cost[tenant] += usd or 0
    if tenant_of.get(pid) != tenant:
        mismatched += 1
made = sum(x["made"] for x in calls)
failed = sum(x["failed"] for x in calls)
print("calls made", made, "failed", failed, "records", len(rows), "attribution mismatches", mismatched)
print("records per pid", dict(per_pid), "expected", {str(x["pid"]): x["made"] for x in calls})
print("cost by tenant", {k: round(v, 8) for k, v in cost.items()})
guard = SpendGuard(
    [Limit.usd(100, per="day", scope="tenant", name="daily")], store=rurl, alerts=AlertManager(log=False)
)
for t in sorted(cost):
    s = guard.spent("daily", t)
    print(f"tenant {t}: records ${cost[t]:.8f} redis ${s:.8f} diff {s - cost[t]:+.2e}")
if os.path.exists(out / "alerts.jsonl"):
    alerts = lines(out / "alerts.jsonl")
    print(
        "alerts",
        collections.Counter((x["kind"], x["threshold"], x["reason"], x["scope_value"]) for x in alerts),
    )
