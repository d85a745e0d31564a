"""A process of a release whose task outcomes had no key, running across the migration that
adds it: writes records and task outcomes, waits for a signal file, then writes more records
and the same outcomes again (what it sends again after a lost commit).

argv: ledger_url prefix dead_letter_path go_file
"""

import json
import os
import sys
import time
from datetime import datetime, timezone

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import PostgresLedger, TaskOutcome

url, prefix, dead_letter, go = sys.argv[1:5]
ledger = PostgresLedger(url, dead_letter=dead_letter)
base = datetime(2026, 12, 1, tzinfo=timezone.utc)
outcomes = [
    TaskOutcome(task_id=f"{prefix}-t{i}", success=True, source="user", timestamp=base) for i in range(5)
]


def records(start: int) -> None:
    for i in range(start, start + 50):
        ledger.write(
            CostRecord(
                request_id=f"{prefix}-{i}", task_id=f"{prefix}-t{i % 5}", model="gpt-4o-mini", cost_usd=0.001
            )
        )


records(0)
for o in outcomes:
    ledger.write_task(o)
assert ledger.flush(timeout=30)
print("first batch written", flush=True)
while not os.path.exists(go):
    time.sleep(0.05)
records(50)
for o in outcomes:
    ledger.write_task(o)
ledger.flush(timeout=30)
ledger.close()
st = ledger.stats
print(
    json.dumps(
        {
            "written": st.written,
            "duplicates": st.duplicates,
            "dead_lettered": st.dead_lettered,
            "dropped": st.dropped,
            "last_error": st.last_error,
        }
    )
)
