"""Reports over a large ledger read it in pieces: a JSONL ledger is streamed into a
temporary database, not held in memory as objects (a year of records took 6.4 GB), and
a report over a time window looks only at that window's tasks."""

from __future__ import annotations

import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import JSONLLedger, LedgerReports, TaskOutcome

N = 20_000


def test_jsonl_report_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "costs.jsonl"
    ledger = JSONLLedger(path, background=False)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(0, N, 1000):
        for j in range(i, i + 1000):
            ledger.write(
                CostRecord(
                    model="gpt-4o-mini",
                    tenant=f"t{j % 7}",
                    feature="chat",
                    task_id=f"task-{j // 2}",
                    timestamp=start + timedelta(minutes=j),
                    cost_usd=0.001,
                )
            )
        ledger.write_task(TaskOutcome(task_id=f"task-{i // 2}", success=True, timestamp=start))
    ledger.close()

    tracemalloc.start()
    try:
        reports = LedgerReports.open(path)
        try:
            totals = reports.totals(by="tenant")
            tasks = reports.tasks()
        finally:
            reports.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(r["calls"] for r in totals) == N
    assert tasks[0]["tasks"] == N // 2
    # As objects the records alone take ~6 KB each (120 MB here); streamed, a batch of rows.
    assert peak < 40e6, f"peak {peak / 1e6:.0f} MB of Python objects while reading {N} records"
