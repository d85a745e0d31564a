"""CPU (SQLite, in process) and wall time (PostgreSQL) of the reports the name fix touches.

python report_speed.py build LEDGER N      # N records: 40 tenants, 12 features (one ""), 3 models
python report_speed.py time LEDGER         # prints one JSON line of seconds per query
Run `time` with PYTHONPATH set to the code to measure (before / after), interleaved."""

import json
import random
import sys
import time
from datetime import datetime, timedelta, timezone

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import LedgerReports, open_ledger

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)

if sys.argv[1] == "build":
    rng = random.Random(7)
    ledger = open_ledger(sys.argv[2])
    for i in range(int(sys.argv[3])):
        ledger.write(
            CostRecord(
                model=rng.choice(["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5"]),
                tenant=f"tenant-{rng.randrange(40)}",
                feature=rng.choice(["", *(f"feature-{k}" for k in range(11))]),
                route=f"route-{rng.randrange(5)}",
                cost_usd=rng.random() / 1000,
                task_id=f"task-{i // 3}",
                timestamp=T0 + timedelta(seconds=i * 13),
            )
        )
    ledger.close()
else:
    reports = LedgerReports.open(sys.argv[2])
    pg = sys.argv[2].startswith("postgresql")
    clock = time.perf_counter if pg else time.process_time
    out = {}
    queries = {
        "totals_feature": lambda: reports.totals(by="feature"),
        "totals_tenant_route": lambda: reports.totals(by=["tenant", "route"]),
        "totals_feature_offhour": lambda: reports.totals(by="feature", since="2026-11-01T00:30:00"),
        "tasks_tenant": lambda: reports.tasks(by="tenant"),
    }
    for name, q in queries.items():
        t = clock()
        q()
        out[name] = round(clock() - t, 4)
    reports.close()
    print(json.dumps(out))
