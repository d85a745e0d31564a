"""`llm-cost ledger copy` reads and writes a batch at a time: a million records and their
task outcomes took 663 MB when the outcomes (and a JSONL file's records) were all held as
objects; memory must not grow with the ledger. Rerunning a copy still adds nothing."""

from __future__ import annotations

import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import JSONLLedger, SQLiteLedger, TaskOutcome
from llm_cost_hooks.ledger._copy import copy_ledger

N = 20_000


def _fill(ledger: SQLiteLedger | JSONLLedger) -> None:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(0, N, 1000):
        records = [
            CostRecord(
                model="gpt-4o-mini",
                tenant=f"t{j % 7}",
                feature="chat",
                task_id=f"task-{j}",
                timestamp=start + timedelta(minutes=j),
                cost_usd=0.001,
            )
            for j in range(i, i + 1000)
        ]
        outcomes = [
            TaskOutcome(task_id=f"task-{j}", success=j % 3 > 0, timestamp=start + timedelta(minutes=j))
            for j in range(i, i + 1000)
        ]
        ledger._write_batch(records, outcomes)
    ledger.close()


def _copy_peak(source: Path, destination: Path) -> tuple[dict[str, int], int]:
    tracemalloc.start()
    try:
        counts = copy_ledger(source, f"sqlite:///{destination}", batch_size=500)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return counts, peak


@pytest.mark.parametrize("kind", ["db", "jsonl"])
def test_copy_memory_does_not_grow_with_the_ledger(tmp_path: Path, kind: str) -> None:
    source = tmp_path / f"source.{kind}"
    _fill(SQLiteLedger(source, background=False) if kind == "db" else JSONLLedger(source, background=False))
    destination = tmp_path / "copy.db"

    counts, peak = _copy_peak(source, destination)
    assert counts == {"records": N, "records_added": N, "outcomes": N, "outcomes_added": N}
    # Held as objects, the outcomes alone took ~25 MB here (and a JSONL file's records
    # ~100 MB more); a batch of 500 rows takes well under the bound.
    assert peak < 12e6, f"peak {peak / 1e6:.0f} MB of Python objects while copying {N} records"

    # Rerun: everything is there already; nothing added, still in batches.
    counts, peak = _copy_peak(source, destination)
    assert counts == {"records": N, "records_added": 0, "outcomes": N, "outcomes_added": 0}
    assert peak < 12e6, f"peak {peak / 1e6:.0f} MB of Python objects on a rerun"

    reader = SQLiteLedger(destination, background=False)
    try:
        outcomes = list(reader.task_outcomes())
    finally:
        reader.close()
    assert len(outcomes) == N
    assert sum(o.success for o in outcomes) == sum(j % 3 > 0 for j in range(N))
