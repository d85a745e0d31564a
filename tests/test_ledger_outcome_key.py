"""A task outcome written to a SQLite ledger twice (a dead-letter file replayed into a ledger
that holds its outcomes already, a batch set aside at exit that its writer then finished) is
stored once; files of earlier versions, which may hold such copies, are cleaned when opened."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import (
    JSONLLedger,
    LedgerReports,
    SQLiteLedger,
    TaskOutcome,
    replay_dead_letters,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def _records() -> list[CostRecord]:
    # Three tasks of two calls each; B's run failed, C's user mark says it failed.
    return [
        CostRecord(
            request_id=f"{task}-{i}",
            task_id=task,
            model="gpt-4o-mini",
            input_tokens=100,
            output_tokens=20,
            cost_usd=0.01 * (n + 1),
            timestamp=T0 + timedelta(minutes=n, seconds=i),
        )
        for n, task in enumerate("ABC")
        for i in range(2)
    ]


def _outcomes() -> list[TaskOutcome]:
    return [
        TaskOutcome(task_id="A", success=True, timestamp=T0 + timedelta(minutes=5)),
        TaskOutcome(task_id="B", success=False, reason="tool error", timestamp=T0 + timedelta(minutes=6)),
        TaskOutcome(task_id="C", success=True, timestamp=T0 + timedelta(minutes=7)),
        TaskOutcome(
            task_id="C",
            success=False,
            source="user",
            reason="wrong answer",
            timestamp=T0 + timedelta(minutes=8),
        ),
    ]


def _key(o: TaskOutcome) -> tuple[Any, ...]:
    return (o.task_id, o.success, o.source, o.reason, o.timestamp)


def _reports(ledger: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    reports = LedgerReports.from_ledger(ledger)
    try:
        return reports.tasks(), reports.tasks(by="model")
    finally:
        reports.close()


def _reference(tmp_path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The task reports of a ledger that got every record and outcome once."""
    with SQLiteLedger(tmp_path / "reference.db") as ledger:
        for r in _records():
            ledger.write(r)
        for o in _outcomes():
            ledger.write_task(o)
        assert ledger.flush()
        return _reports(ledger)


def _dead_letter_file(path: Path) -> None:
    """A dead-letter file holding every record and outcome (as a ledger sets them aside)."""
    holder = SQLiteLedger(path.with_suffix(".unused.db"), background=False, dead_letter=path)
    holder._set_aside(_records(), _outcomes(), reason="test")
    holder.close()


def test_replaying_outcomes_the_ledger_holds_stores_each_once(tmp_path: Path) -> None:
    expected = _reference(tmp_path)
    dead = tmp_path / "costs.db.dead-letter.jsonl"
    _dead_letter_file(dead)
    with SQLiteLedger(tmp_path / "costs.db") as ledger:
        for r in _records():
            ledger.write(r)
        for o in _outcomes():
            ledger.write_task(o)
        assert ledger.flush()
        assert replay_dead_letters(dead, ledger) == len(_records())
        assert sorted(map(_key, ledger.task_outcomes())) == sorted(map(_key, _outcomes()))
        assert len(list(ledger.records())) == len(_records())
        assert ledger.stats.duplicate_outcomes == len(_outcomes())
        assert _reports(ledger) == expected
        (tasks,) = expected[0]
        assert tasks["successful_tasks"] == 1 and tasks["cost_per_successful_task"] == 0.12
    # The file was written and renamed; replaying the renamed copy again changes nothing.
    replayed = dead.with_name(dead.name + ".replayed")
    with SQLiteLedger(tmp_path / "costs.db") as again:
        replay_dead_letters(replayed, again)
        assert len(list(again.task_outcomes())) == len(_outcomes())
        assert again.stats.duplicate_outcomes == len(_outcomes())
        assert _reports(again) == expected


class _StuckSQLite(SQLiteLedger):
    """Its writer hangs inside the store call that holds outcomes until released."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        super().__init__(*args, **kwargs)

    def _write_batch(self, records: Sequence[Any], outcomes: Sequence[TaskOutcome]) -> None:
        if outcomes and not self.release.is_set():
            self.entered.set()
            self.release.wait(30)
        super()._write_batch(records, outcomes)


def test_an_in_flight_batch_set_aside_at_close_that_also_lands_is_stored_once(tmp_path: Path) -> None:
    expected = _reference(tmp_path)
    path = tmp_path / "costs.db"
    dead = tmp_path / "dead.jsonl"
    ledger = _StuckSQLite(path, dead_letter=dead)
    try:
        for r in _records():
            ledger.write(r)
        for o in _outcomes():
            ledger.write_task(o)
        assert ledger.entered.wait(10)
        ledger.close(timeout=0.2)
        assert ledger.stats.dead_lettered_outcomes == len(_outcomes())
    finally:
        ledger.release.set()
        assert ledger._thread is not None
        ledger._thread.join(30)
    # The stuck write finished after all: the batch is in the file and in the dead-letter file.
    with SQLiteLedger(path) as reopened:
        assert len(list(reopened.task_outcomes())) == len(_outcomes())
        replay_dead_letters(dead, reopened)
        assert sorted(map(_key, reopened.task_outcomes())) == sorted(map(_key, _outcomes()))
        assert len(list(reopened.records())) == len(_records())
        assert _reports(reopened) == expected


# The tables and indexes of schema version 3, as that release created them (written out, not
# imported: the test must not follow later changes).
_V3_RECORDS = (
    "CREATE TABLE cost_records (request_id TEXT NOT NULL, task_id TEXT, parent_id TEXT, "
    "timestamp TEXT NOT NULL, tenant TEXT, user TEXT, feature TEXT, route TEXT, prompt_version TEXT, "
    "provider TEXT, model TEXT, input_tokens INTEGER, output_tokens INTEGER, cache_read_tokens INTEGER, "
    "cache_write_tokens INTEGER, reasoning_tokens INTEGER, cost_usd REAL, cost_input REAL, "
    "cost_cache_read REAL, cost_cache_write REAL, cost_output REAL, cost_reasoning REAL, currency TEXT, "
    "saved_usd REAL, cache_status TEXT, latency_ms REAL, success INTEGER, error_type TEXT, "
    "attempt INTEGER, tags TEXT, tokens_estimated INTEGER, price_estimated INTEGER)"
)
_V3_OUTCOMES = (
    "CREATE TABLE task_outcomes (task_id TEXT NOT NULL, success INTEGER NOT NULL, "
    "source TEXT NOT NULL, reason TEXT, timestamp TEXT NOT NULL)"
)


def _v3_file_with_copies(path: Path) -> None:
    """A version 3 file whose outcomes were written twice (and the reasonless ones three times)."""
    with SQLiteLedger(path.with_suffix(".rows.db"), background=False) as source:
        for r in _records():
            source.write(r)
        with sqlite3.connect(source.path) as conn:
            columns = [row[1] for row in conn.execute("PRAGMA table_info(cost_records)")]
            rows = conn.execute(f"SELECT {', '.join(columns)} FROM cost_records").fetchall()
    outcome_rows = [
        (o.task_id, int(o.success), o.source, o.reason, o.timestamp.isoformat()) for o in _outcomes()
    ]
    with sqlite3.connect(path) as conn:
        conn.execute(_V3_RECORDS)
        conn.execute(_V3_OUTCOMES)
        conn.execute("CREATE UNIQUE INDEX ux_records_time_request ON cost_records(timestamp, request_id)")
        conn.execute("CREATE INDEX ix_outcomes_task ON task_outcomes(task_id)")
        conn.executemany(
            f"INSERT INTO cost_records ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows
        )
        insert = "INSERT INTO task_outcomes VALUES (?, ?, ?, ?, ?)"
        conn.executemany(insert, outcome_rows)
        conn.executemany(insert, outcome_rows)
        conn.executemany(insert, [r for r in outcome_rows if r[3] is None])
        # Not a copy: the same task marked again a microsecond later.
        again = _outcomes()[-1].timestamp + timedelta(microseconds=1)
        conn.execute(insert, ("C", 0, "user", "wrong answer", again.isoformat()))
        conn.execute("PRAGMA user_version = 3")


def test_a_version_3_file_with_copies_opens_with_each_outcome_once(tmp_path: Path) -> None:
    expected = _reference(tmp_path)
    path = tmp_path / "old.db"
    _v3_file_with_copies(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM task_outcomes").fetchone()[0] == 11
    with SQLiteLedger(path) as ledger:
        marked_again = _outcomes()[-1].model_copy(
            update={"timestamp": _outcomes()[-1].timestamp + timedelta(microseconds=1)}
        )
        assert sorted(map(_key, ledger.task_outcomes())) == sorted(map(_key, [*_outcomes(), marked_again]))
        assert _reports(ledger) == expected
        # It works on: a new outcome is stored, one it holds is not stored again.
        ledger.write_task(TaskOutcome(task_id="D", success=True, timestamp=T0))
        for o in _outcomes():
            ledger.write_task(o)
        assert ledger.flush()
        assert len(list(ledger.task_outcomes())) == len(_outcomes()) + 2
        assert ledger.stats.duplicate_outcomes == len(_outcomes())
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
        indexes = {row[1]: row[2] for row in conn.execute("PRAGMA index_list(task_outcomes)")}
    assert indexes == {"ux_outcomes_key": 1}


def test_jsonl_keeps_replayed_outcomes_but_its_reports_count_them_once(tmp_path: Path) -> None:
    expected = _reference(tmp_path)
    dead = tmp_path / "dead.jsonl"
    _dead_letter_file(dead)
    with JSONLLedger(tmp_path / "costs.jsonl") as ledger:
        for r in _records():
            ledger.write(r)
        for o in _outcomes():
            ledger.write_task(o)
        assert ledger.flush()
        replay_dead_letters(dead, ledger)
        # Append-only: the file holds both copies; what reads it keeps one.
        assert len(ledger.task_outcomes()) == 2 * len(_outcomes())
        assert len(ledger.records()) == 2 * len(_records())
        assert _reports(ledger) == expected
        reports = LedgerReports.from_ledger(ledger)
        try:
            conn = reports._conn
            assert conn.execute("SELECT COUNT(*) FROM task_outcomes").fetchone()[0] == len(_outcomes())
        finally:
            reports.close()
