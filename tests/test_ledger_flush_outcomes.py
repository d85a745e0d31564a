"""``flush()`` returns True only once what was queued is in the store, also when the batch
being written holds only task outcomes (it returned while such a batch was still being
written: a report read right after it missed the outcome; on PostgreSQL, the first batch
also waits for the schema migration)."""

from __future__ import annotations

from pathlib import Path

from _ledger_doubles import HeldSQLiteLedger

from llm_cost_hooks.ledger import TaskOutcome


def test_flush_waits_for_a_batch_of_task_outcomes_being_written(tmp_path: Path) -> None:
    ledger = HeldSQLiteLedger(tmp_path / "costs.db")
    try:
        ledger.write_task(TaskOutcome(task_id="t1", success=True))
        ledger._wake.set()  # the writer takes the batch now, not at its next tick
        assert ledger.entered.wait(30), "the writer never called the store"
        # The outcome left the queue but is not in the store: not flushed yet.
        assert not ledger.flush(timeout=0.2)
    finally:
        ledger.release.set()
    assert ledger.flush(timeout=30)
    assert [o.task_id for o in ledger.task_outcomes()] == ["t1"]
    ledger.close()
