"""A model call queued for the ledger's writer keeps only what its record needs: every
object it keeps alive counts towards the next garbage collection of the caller's process
(a call without a handler keeps none), and collections walk the queue."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from llm_cost_hooks import CostTracker
from llm_cost_hooks.ledger import SQLiteLedger
from llm_cost_hooks.tracking import RunInfo, RunObserver


def _asleep(path: Path) -> SQLiteLedger:
    """A SQLite ledger whose writer waits for flush(): calls stay queued."""
    ledger = SQLiteLedger(path, flush_interval=3600)
    ledger._wake_at = 10**9
    return ledger


def _runs_holding(obj: Any) -> list[RunInfo]:
    return [r for r in gc.get_referrers(obj) if isinstance(r, RunInfo)]


def test_a_queued_call_keeps_no_dict_of_its_run(tmp_path: Path) -> None:
    tracker = CostTracker(ledger=_asleep(tmp_path / "l.db"), defaults={"tenant_id": "acme"})
    run = tracker.start_llm("r1", None, model="gpt-4o-mini", provider="openai", params={"temperature": 0.2})
    params, data = run.params, run.observer_data
    assert _runs_holding(params) == [run] and _runs_holding(data) == [run]

    assert tracker.end_llm("r1", (1000, 200, 0, 0, 0), defer=True) is None
    assert len(tracker.ledger._buffer) == 1  # queued, not written yet
    assert _runs_holding(params) == [] and _runs_holding(data) == []

    assert tracker.flush()
    (record,) = list(tracker.ledger.records())
    assert (record.request_id, record.tenant, record.model) == ("r1", "acme", "gpt-4o-mini")
    assert (record.input_tokens, record.output_tokens) == (1000, 200)
    assert round(record.cost_usd, 6) == 0.00027
    tracker.close()


class Recorder(RunObserver):
    deferrable = True

    def __init__(self) -> None:
        self.ended: list[str] = []

    def on_run_end(self, run: RunInfo, **kwargs: Any) -> None:
        self.ended.append(run.run_id)


def test_an_observer_added_while_a_call_is_queued_is_not_told_of_it(tmp_path: Path) -> None:
    tracker = CostTracker(ledger=_asleep(tmp_path / "l.db"))
    tracker.start_llm("r1", None, model="gpt-4o-mini", provider="openai")
    tracker.end_llm("r1", (10, 2, 0, 0, 0), defer=True)
    late = Recorder()
    tracker.add_observer(late)  # after r1 ended, before the writer built its record
    tracker.start_llm("r2", None, model="gpt-4o-mini", provider="openai")
    tracker.end_llm("r2", (10, 2, 0, 0, 0), defer=True)

    assert tracker.flush()
    assert late.ended == ["r2"]  # told of the run it saw start, not of the one before it
    assert sorted(r.request_id for r in tracker.ledger.records()) == ["r1", "r2"]
    tracker.close()
