"""A tracker with one observer tells it directly (no notification loop): what the observer
sees and what a failing one leaves behind are what several observers get."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from llm_cost_hooks import CostTracker, TokenUsage
from llm_cost_hooks.ledger._base import RECORD_COLUMNS
from llm_cost_hooks.tracking import RunInfo, RunObserver, TaskState

COST = RECORD_COLUMNS.index("cost_usd")


class RowReader(RunObserver):
    deferrable = True
    reads_rows = True
    digests_calls = True

    def __init__(self) -> None:
        self.started: list[str] = []
        self.told: list[tuple[str, tuple[Any, ...], TaskState | None, Any]] = []

    def on_run_start(self, run: RunInfo) -> None:
        self.started.append(run.run_id)

    def digest_call(self, run: RunInfo, outputs: Any) -> Any:
        return ("digest", outputs)

    def on_model_row(self, run: RunInfo, *, row: tuple[Any, ...], task: Any, outputs: Any = None) -> None:
        self.told.append((run.run_id, row, task, outputs))


class Quiet(RunObserver):
    deferrable = True
    reads_rows = True


@pytest.mark.parametrize("alone", [True, False])
def test_one_row_reader_sees_what_it_sees_beside_another(tmp_path: Any, alone: bool) -> None:
    obs = RowReader()
    observers: list[RunObserver] = [obs] if alone else [obs, Quiet()]
    tracker = CostTracker(ledger=f"sqlite:///{tmp_path / 'l.db'}", observers=observers)
    tracker.start_llm("r1", None, model="gpt-4o-mini", provider="openai", metadata={"k": "v"})
    assert tracker._tasks["r1"] == TaskState(task_id="r1", root_run_id="r1")
    tracker.end_llm("r1", TokenUsage(input_tokens=1000, output_tokens=200), outputs="out", defer=True)
    assert tracker.flush()
    assert obs.started == ["r1"]
    [(run_id, row, task, outputs)] = obs.told
    assert run_id == "r1" and row[0] == "r1"
    # The root call's task: this call's totals, counted before the observer is told.
    assert task is not None and (task.task_id, task.root_run_id) == ("r1", "r1")
    assert (task.calls, task.failed_calls, task.input_tokens, task.output_tokens) == (1, 0, 1000, 200)
    assert task.cost_usd == pytest.approx(row[COST]) and task.cost_usd > 0
    # Digested only for a sole observer (see RunObserver.digests_calls).
    assert outputs == (("digest", "out") if alone else "out")
    assert "r1" not in tracker._tasks
    assert [r.request_id for r in tracker.ledger.records()] == ["r1"]
    tracker.close()


def test_a_failing_sole_observer_is_logged_and_the_call_still_recorded(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(RowReader):
        def on_run_start(self, run: RunInfo) -> None:
            raise RuntimeError("start")

        def digest_call(self, run: RunInfo, outputs: Any) -> Any:
            raise RuntimeError("digest")

        def on_model_row(self, run: RunInfo, *, row: tuple[Any, ...], task: Any, outputs: Any = None) -> None:
            raise RuntimeError("row")

    tracker = CostTracker(ledger=f"sqlite:///{tmp_path / 'l.db'}", observers=[Broken()])
    with caplog.at_level(logging.ERROR, logger="llm_cost_hooks"):
        run = tracker.start_llm("r1", None, model="gpt-4o-mini", provider="openai", metadata={"k": "v"})
        tracker.end_llm("r1", TokenUsage(input_tokens=10, output_tokens=2), outputs="out", defer=True)
        assert tracker.flush()
    messages = [r.getMessage() for r in caplog.records]
    assert any("failed on run start" in m for m in messages)
    assert any("failed to digest a call" in m for m in messages)
    assert any("failed on run end" in m for m in messages)
    # A failed digest keeps the call's objects as they were.
    assert run.metadata == {"k": "v"}
    assert [r.request_id for r in tracker.ledger.records()] == ["r1"]
    tracker.close()
