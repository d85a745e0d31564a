"""A record (or task outcome) that arrives while the ledger's queue is full is set aside in
the dead-letter file and counted there, not lost: once the store answers again, what was
written plus what was set aside is everything, and replaying the file brings the rest back.
Only when the dead-letter file cannot be written either is it lost, counted in ``dropped``
with an error that says so; the caller never sees an exception."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from _ledger_doubles import HeldSQLiteLedger

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import TaskOutcome, _base, replay_dead_letters

N = 60
MAX_BUFFER = 5


def _blocked(tmp_path: Path) -> HeldSQLiteLedger:
    ledger = HeldSQLiteLedger(tmp_path / "costs.db", max_buffer=MAX_BUFFER, flush_interval=0.01)
    ledger.write(CostRecord(model="gpt-4o-mini", request_id="first"))
    assert ledger.entered.wait(30), "the writer never called the store"
    return ledger


def test_records_that_overflow_the_queue_are_set_aside_and_replayed(tmp_path: Path) -> None:
    ledger = _blocked(tmp_path)
    ids = ["first"]
    try:
        for i in range(N - 1):
            rid = f"r{i}"
            ids.append(rid)
            if i % 3:
                ledger.write(CostRecord(model="gpt-4o-mini", request_id=rid))
            else:  # a deferred record (the tracker's way) is built and set aside too
                ledger.write_deferred(lambda rid=rid: CostRecord(model="gpt-4o-mini", request_id=rid))
        during = ledger.stats
        assert during.dropped == 0
        assert during.dead_lettered == N - 1 - MAX_BUFFER  # set aside at once, not at exit
    finally:
        ledger.release.set()
    assert ledger.flush(timeout=30)
    stats = ledger.stats
    assert stats.dropped == 0
    assert stats.written + stats.dead_lettered == N
    dead_letter = Path(stats.dead_letter_path or "")
    assert dead_letter == tmp_path / "costs.db.dead-letter.jsonl"
    lines = [json.loads(line) for line in dead_letter.read_text().splitlines()]
    assert len(lines) == stats.dead_lettered
    assert all("queue was full" in line["reason"] for line in lines)

    # Replayed into the same small queue: queued no faster than it takes them, so none of
    # them overflows into the file being replayed.
    assert replay_dead_letters(dead_letter, ledger) == stats.dead_lettered
    assert not dead_letter.exists() and dead_letter.with_name(dead_letter.name + ".replayed").exists()
    assert sorted(r.request_id for r in ledger.records()) == sorted(ids)
    assert ledger.stats.written == N and ledger.stats.dropped == 0
    ledger.close()


def test_task_outcomes_that_overflow_the_queue_are_set_aside(tmp_path: Path) -> None:
    ledger = _blocked(tmp_path)
    try:
        for i in range(MAX_BUFFER + 7):
            ledger.write_task(TaskOutcome(task_id=f"t{i}", success=True))
        assert ledger.stats.dead_lettered_outcomes == 7 and ledger.stats.dropped_outcomes == 0
    finally:
        ledger.release.set()
    assert ledger.flush(timeout=30)
    replay_dead_letters(tmp_path / "costs.db.dead-letter.jsonl", ledger)
    assert sorted(o.task_id for o in ledger.task_outcomes()) == sorted(f"t{i}" for i in range(MAX_BUFFER + 7))
    ledger.close()


def test_an_overflow_no_dead_letter_file_takes_is_lost_counted_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both dead-letter files sit under a regular file: no folder can be made for them.
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setattr(_base, "_fallback_dead_letter_path", lambda: tmp_path / "not-a-folder" / "tmp.jsonl")
    ledger = HeldSQLiteLedger(
        tmp_path / "costs.db",
        max_buffer=MAX_BUFFER,
        flush_interval=0.01,
        dead_letter=tmp_path / "not-a-folder" / "dead.jsonl",
    )
    try:
        ledger.write(CostRecord(model="gpt-4o-mini"))
        assert ledger.entered.wait(30)
        with caplog.at_level(logging.ERROR, logger="llm_cost_hooks.ledger"):
            for _ in range(MAX_BUFFER + 3):
                ledger.write(CostRecord(model="gpt-4o-mini"))  # must not raise
        assert ledger.stats.dropped == 3 and ledger.stats.dead_lettered == 0
        (line,) = [r.getMessage() for r in caplog.records if "queue is full" in r.getMessage()]
        assert "could not be set aside either" in line and "LOST: 1 so far (ledger.stats.dropped)" in line
        assert "not-a-folder" in line  # the reason: where it tried
    finally:
        ledger.release.set()
    assert ledger.flush(timeout=30)
    assert ledger.stats.written == MAX_BUFFER + 1
    ledger.close(timeout=5)


def test_a_full_queue_costs_the_caller_no_error_when_a_deferred_record_fails_to_build(
    tmp_path: Path,
) -> None:
    ledger = _blocked(tmp_path)
    try:
        for _ in range(MAX_BUFFER):
            ledger.write(CostRecord(model="gpt-4o-mini"))

        def broken() -> CostRecord:
            raise RuntimeError("no price")

        ledger.write_deferred(broken)  # must not raise
        assert ledger.stats.dropped == 1
    finally:
        ledger.release.set()
    assert ledger.flush(timeout=30)
    assert ledger.stats.written == MAX_BUFFER + 1
    ledger.close()
