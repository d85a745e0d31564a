"""One fleet process: writes N cost records (and one task outcome per 10 records) to a
ledger, with a pause between records, then closes the ledger and prints what it counted.

Run with the release under test first on sys.path (PYTHONPATH=<site of its wheel>).
argv: ledger_url prefix n pause_s [dead_letter_path]
"""

import json
import logging
import sys
import time
from datetime import datetime, timedelta, timezone

import llm_cost_hooks
from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import TaskOutcome, open_ledger

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
url, prefix, n, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
if url.startswith("postgres"):
    from llm_cost_hooks.ledger import PostgresLedger

    ledger = PostgresLedger(url, dead_letter=sys.argv[5]) if len(sys.argv) > 5 else PostgresLedger(url)
else:
    ledger = open_ledger(url)
base = datetime(2026, 12, 1, tzinfo=timezone.utc)
for i in range(n):
    task = f"{prefix}-t{i // 10}"
    ledger.write(
        CostRecord(
            request_id=f"{prefix}-{i}",
            task_id=task,
            timestamp=base + timedelta(seconds=i),
            model="gpt-4o-mini",
            tenant=prefix.split("-")[0],
            input_tokens=100,
            output_tokens=10,
            cost_usd=0.001,
        )
    )
    if i % 10 == 9:
        ledger.write_task(
            TaskOutcome(task_id=task, success=True, source="user", timestamp=base + timedelta(seconds=i))
        )
    if pause:
        time.sleep(pause)
ledger.close()
st = ledger.stats
print(
    json.dumps(
        {
            "version": getattr(llm_cost_hooks, "__file__", ""),
            "written": st.written,
            "duplicates": getattr(st, "duplicates", None),
            "dead_lettered": getattr(st, "dead_lettered", None),
            "dropped": getattr(st, "dropped", None),
            "last_error": st.last_error,
        }
    )
)
