"""The error a full ledger queue logs says why it is full: the writer fell behind a burst
(the store is fine), the writer is waiting on a store that does not answer, or the store is
failing (with its last error); and where the records that do not fit went."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from _ledger_doubles import HeldSQLiteLedger

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger, TaskOutcome, _base


def _queue_full_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "queue is full" in r.getMessage()]


def _wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def test_a_burst_the_writer_has_not_caught_up_with_is_not_called_a_failing_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The writer sleeps (a long flush interval, a wake-up threshold above max_buffer) and the
    # store is fine: a burst of 150 records fills the queue of 100.
    ledger = SQLiteLedger(tmp_path / "burst.db", max_buffer=100, flush_interval=3600, batch_size=5000)
    with caplog.at_level(logging.ERROR, logger="llm_cost_hooks.ledger"):
        for _ in range(150):
            ledger.write(CostRecord(model="gpt-4o-mini"))
    (line,) = _queue_full_lines(caplog)
    assert "failing" not in line and "None" not in line
    assert "100 records queued, max_buffer=100" in line
    assert "fell behind a burst" in line
    assert f"set aside in {tmp_path / 'burst.db.dead-letter.jsonl'}: 1 so far" in line
    assert "(counted in ledger.stats.dead_lettered)" in line and "replay_dead_letters(" in line
    assert ledger.flush(timeout=30)
    stats = ledger.stats
    assert stats.written == 100 and stats.dead_lettered == 50 and stats.dropped == 0  # as said
    ledger.close()


class _FullDisk(SQLiteLedger):
    def _write_batch(self, records: Sequence[CostRecord], outcomes: Sequence[TaskOutcome]) -> None:
        raise sqlite3.OperationalError("database or disk is full")


def test_a_failing_store_is_named_with_its_last_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = _FullDisk(tmp_path / "full.db", max_buffer=100, flush_interval=0.01)
    with caplog.at_level(logging.ERROR, logger="llm_cost_hooks.ledger"):
        ledger.write(CostRecord(model="gpt-4o-mini"))
        _wait_for(lambda: ledger.stats.write_failures >= 1, "the store never failed")
        # The writer keeps at most half the queue while the store fails; 1,000 records in a
        # row fill the other half whenever the writer runs.
        for _ in range(1000):
            ledger.write(CostRecord(model="gpt-4o-mini"))
    lines = _queue_full_lines(caplog)
    assert lines
    assert "because the store is failing (last error: OperationalError: database or disk is full)" in lines[0]
    assert "max_buffer=100" in lines[0] and "fell behind" not in lines[0]
    ledger.close(timeout=5)


def test_a_store_that_does_not_answer_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_base, "_SLOW_STORE_SECONDS", 0.0)  # any wait counts: no timing here
    ledger = HeldSQLiteLedger(tmp_path / "silent.db", max_buffer=100, flush_interval=0.01)
    try:
        with caplog.at_level(logging.ERROR, logger="llm_cost_hooks.ledger"):
            ledger.write(CostRecord(model="gpt-4o-mini"))
            _wait_for(ledger.entered.is_set, "the writer never called the store")
            for _ in range(150):
                ledger.write(CostRecord(model="gpt-4o-mini"))
        (line,) = _queue_full_lines(caplog)
        assert "for the store to answer (no error yet)" in line
        assert "failing" not in line and "fell behind" not in line
    finally:
        ledger.release.set()
    assert ledger.flush(timeout=30)
    ledger.close()
