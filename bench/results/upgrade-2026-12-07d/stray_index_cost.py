"""What the indexes earlier releases add to a current SQLite file when they open it cost the
current writer: CPU of writing N records through SQLiteLedger into a file of the current
schema, without (A) and with (B) ix_records_time and ix_outcomes_task (what releases of
schema 1 and 2 create), A and B interleaved. argv: N repeats [A|B: that one only, once,
for callgrind]"""

import os
import resource
import sqlite3
import sys
import tempfile
import uuid
from datetime import datetime, timedelta, timezone

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger, TaskOutcome

n, repeats = int(sys.argv[1]), int(sys.argv[2])
base = datetime(2026, 12, 1, tzinfo=timezone.utc)
records = [
    CostRecord(
        request_id=uuid.uuid4().hex, task_id=uuid.uuid4().hex, timestamp=base + timedelta(milliseconds=i),
        model="gpt-4o-mini", tenant="acme", input_tokens=100, output_tokens=10, cost_usd=0.001,
    )
    for i in range(n)
]  # fmt: skip
outcomes = [TaskOutcome(task_id=r.task_id or "", success=True) for r in records[::10]]


def cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def one(stray: bool) -> float:
    with tempfile.TemporaryDirectory(prefix="upgrade-stray-") as d:
        path = os.path.join(d, "costs.db")
        SQLiteLedger(path).close()
        if stray:
            with sqlite3.connect(path) as conn:
                conn.execute("CREATE INDEX ix_records_time ON cost_records(timestamp)")
                conn.execute("CREATE INDEX ix_outcomes_task ON task_outcomes(task_id)")
        ledger = SQLiteLedger(path, max_buffer=2 * n)
        t0 = cpu()
        for i, r in enumerate(records):
            ledger.write(r)
            if i % 10 == 0:
                ledger.write_task(outcomes[i // 10])
        ledger.close()
        return cpu() - t0


if len(sys.argv) > 3:
    print(f"{sys.argv[3]}: {one(sys.argv[3] == 'B'):.2f} s CPU")
    sys.exit()
for rep in range(repeats):
    for stray in (False, True) if rep % 2 == 0 else (True, False):
        took = one(stray)
        print(
            f"rep {rep} {'B with stray indexes' if stray else 'A current schema   '}: {took:.2f} s CPU, {took / n * 1e6:.1f} us/record",
            flush=True,
        )
