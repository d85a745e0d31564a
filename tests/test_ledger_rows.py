"""The SQLite store's INSERTs: a row's empty (None) optional columns are left out of its
statement, rows of different shapes share a batch in their order, and every batch size
(one row: a transaction of its own; more: BEGIN ... COMMIT) reads back what was written."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llm_cost_hooks import CacheStatus, CostBreakdown, CostRecord
from llm_cost_hooks.ledger import SQLiteLedger
from llm_cost_hooks.ledger._base import RECORD_COLUMNS, record_to_row
from llm_cost_hooks.ledger._stores import (
    _INSERT_SIZES,
    _OPTIONAL_COLUMNS,
    _USUAL_VALUES,
    CREATE_RECORDS,
    INSERT_RECORD,
    _empty_columns,
    _insert_rows,
    _Shape,
)

T0 = datetime(2026, 12, 6, 12, 0, 0, tzinfo=timezone.utc)
_OPTIONAL_FIELDS = (
    "task_id",
    "parent_id",
    "tenant",
    "user",
    "feature",
    "route",
    "prompt_version",
    "provider",
)


def rec(i: int, empty: tuple[str, ...] = ()) -> CostRecord:
    values: dict[str, object] = {
        "request_id": f"req-{i:05d}",
        "task_id": f"task-{i // 3}",
        "parent_id": f"parent-{i}",
        "timestamp": T0 + timedelta(microseconds=i * 1_001),
        "tenant": "acme",
        "user": "u" * 16,
        "feature": "search",
        "route": "r1",
        "prompt_version": "v2",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 100 + i,
        "output_tokens": 20,
        "cost_usd": 3e-5,
        "cost_breakdown": CostBreakdown(input=1e-5, output=2e-5),
        "saved_usd": 0.5,
        "cache_status": CacheStatus.EXACT,
        "latency_ms": 12.5,
        "success": False,
        "error_type": "RateLimitError",
        "attempt": 2,
        "tags": {"team": "support"},
        "tokens_estimated": True,
        "price_estimated": True,
    }
    for name in empty:
        values[name] = {} if name == "tags" else None
    return CostRecord(**values)  # type: ignore[arg-type]


def _stored(path: Path) -> dict[tuple[str, str], tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(f"SELECT {', '.join(RECORD_COLUMNS)} FROM cost_records").fetchall()
    return {(r[3], r[0]): tuple(r) for r in rows}


def test_the_optional_columns_are_the_records_optional_fields() -> None:
    # _empty_columns reads them by position: the positions must be those of the names.
    row = tuple(range(len(RECORD_COLUMNS)))
    n = len(_OPTIONAL_COLUMNS)
    assert _empty_columns(row) == (False,) * (n + 2)
    for name in _OPTIONAL_COLUMNS:
        one = tuple(None if c == name else v for c, v in zip(RECORD_COLUMNS, row))
        assert _empty_columns(one)[:n] == tuple(c == name for c in _OPTIONAL_COLUMNS)
    # Then whether the task id is the request id (the same object), read by position too.
    own = dict(zip(RECORD_COLUMNS, row)) | {"request_id": "r-1"}
    assert _empty_columns(tuple((own | {"task_id": own["request_id"]})[c] for c in RECORD_COLUMNS))[n]
    assert not _empty_columns(tuple((own | {"task_id": "t-1"})[c] for c in RECORD_COLUMNS))[n]
    # Its last item: whether the row has the usual values, read by position too.
    usual = dict(zip(RECORD_COLUMNS, row)) | {"currency": "USD"}
    usual |= {c: int(literal) for c, literal in _USUAL_VALUES.items() if c != "currency"}
    assert _empty_columns(tuple(usual[c] for c in RECORD_COLUMNS))[-1]
    for name in _USUAL_VALUES:
        other = usual | {name: "EUR" if name == "currency" else 2}
        assert not _empty_columns(tuple(other[c] for c in RECORD_COLUMNS))[-1]


def test_rows_with_the_usual_values_read_back_as_bound(tmp_path: Path) -> None:
    # The usual values written as literals store what binding them stores, whatever the
    # Python type of an equal number; rows without them share batches in their order.
    usual = {
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "currency": "USD",
        "success": True,
        "attempt": 1,
        "tokens_estimated": False,
        "price_estimated": False,
    }
    rows = []
    for i in range(70):
        r = dict(zip(RECORD_COLUMNS, record_to_row(rec(i))))
        if i % 3:
            r |= usual
        if i % 7 == 1:
            r |= {"cache_write_tokens": 0.0, "success": 1.0, "attempt": True}
        rows.append(tuple(r[c] for c in RECORD_COLUMNS))
    plain = sqlite3.connect(tmp_path / "bound.db")
    plain.execute(CREATE_RECORDS)
    plain.executemany(INSERT_RECORD, rows)
    plain.commit()
    bound = plain.execute(f"SELECT {', '.join(RECORD_COLUMNS)}, typeof(success) FROM cost_records").fetchall()
    plain.close()
    ledger = SQLiteLedger(tmp_path / "x.db", background=False)
    ledger._write_batch(rows[:1], [])
    ledger._write_batch(rows[1:], [])
    with sqlite3.connect(tmp_path / "x.db") as conn:
        written = conn.execute(
            f"SELECT {', '.join(RECORD_COLUMNS)}, typeof(success) FROM cost_records ORDER BY rowid"
        ).fetchall()
    assert written == bound
    assert [r[RECORD_COLUMNS.index("success")] for r in written[:3]] == [0, 1, 1]
    ledger.close()


def test_a_call_that_is_its_own_task_reads_back_as_bound(tmp_path: Path) -> None:
    # Rows whose task id is their request id bind it once; they share batches with rows of
    # other tasks, equal ids that are other string objects and rows without a task id.
    rows = []
    for i in range(80):
        r = dict(zip(RECORD_COLUMNS, record_to_row(rec(i, ("parent_id",) if i % 4 == 3 else ()))))
        if i % 5 in (0, 3):
            r["task_id"] = r["request_id"]  # the same object, as the tracker makes it
        elif i % 5 == 1:
            r["task_id"] = "".join(["req-", r["request_id"][4:]])  # equal, not the same
        elif i % 5 == 2 and i % 10:
            r["task_id"] = None
        rows.append(tuple(r[c] for c in RECORD_COLUMNS))
    plain = sqlite3.connect(tmp_path / "bound.db")
    plain.execute(CREATE_RECORDS)
    plain.executemany(INSERT_RECORD, rows)
    plain.commit()
    query = f"SELECT {', '.join(RECORD_COLUMNS)}, typeof(task_id) FROM cost_records ORDER BY rowid"
    bound = plain.execute(query).fetchall()
    plain.close()
    ledger = SQLiteLedger(tmp_path / "x.db", background=False)
    for start, stop in ((0, 1), (1, 3), (3, 40), (40, 80)):
        ledger._write_batch(rows[start:stop], [])
    with sqlite3.connect(tmp_path / "x.db") as conn:
        written = conn.execute(query).fetchall()
    assert written == bound
    task = RECORD_COLUMNS.index("task_id")
    assert [r[task] for r in written[:3]] == ["req-00000", "req-00001", None]
    # The own task's row binds one value fewer than the row naming an equal copy.
    bind = [len(_Shape(_empty_columns(r)).values(r)) for r in rows[:2]]
    assert bind[0] == bind[1] - 1
    ledger.close()


def test_every_shape_of_empty_columns_reads_back(tmp_path: Path) -> None:
    # Each record leaves a different set of optional fields empty, in one batch and across
    # batches of every statement size.
    shapes = [()] + [(f,) for f in _OPTIONAL_FIELDS] + list(itertools.combinations(_OPTIONAL_FIELDS, 3))[:20]
    shapes += [_OPTIONAL_FIELDS, ("error_type",), ("tags",)]
    records = [rec(i, shapes[i % len(shapes)]) for i in range(200)]
    ledger = SQLiteLedger(tmp_path / "x.db", background=False)
    start = 0
    for size in (1, 2, 3, 5, 8, 13, 31, 64, 73):
        ledger._write_batch(records[start : start + size], [])
        start += size
    ledger._write_batch(records[start:], [])
    assert sorted(ledger.records(), key=lambda r: r.request_id) == records
    stored = _stored(tmp_path / "x.db")
    assert len(stored) == len(records)
    for r in records:
        assert stored[(record_to_row(r)[3], r.request_id)] == record_to_row(r)
    ledger.close()


def test_rows_of_other_shapes_keep_their_order(tmp_path: Path) -> None:
    # The same record key twice in one batch, the two rows of different shapes: the later
    # row is the one kept, as when every row had the same statement.
    first = rec(1, ("tenant", "route"))
    second = rec(1, ("feature",))
    ledger = SQLiteLedger(tmp_path / "x.db", background=False)
    ledger._write_batch([rec(0), first, rec(2, ("user",)), second, rec(3)], [])
    (kept,) = [r for r in ledger.records() if r.request_id == first.request_id]
    assert kept == second
    ledger._write_batch([second, first], [])
    (kept,) = [r for r in ledger.records() if r.request_id == first.request_id]
    assert kept == first
    ledger.close()


@pytest.mark.parametrize("size", [1, 2, 40])
def test_a_batch_the_store_rejects_writes_nothing_of_it(tmp_path: Path, size: int) -> None:
    # A value SQLite cannot bind fails the batch: no row of it may be left behind (the
    # writer then splits it and sets the bad row aside).
    ledger = SQLiteLedger(tmp_path / "x.db", background=False)
    rows = [record_to_row(rec(i)) for i in range(size)]
    bad = list(rows[-1])
    bad[RECORD_COLUMNS.index("feature")] = object()
    with pytest.raises(sqlite3.Error):
        ledger._write_batch([*rows[:-1], tuple(bad)], [])
    assert list(ledger.records()) == []
    ledger._write_batch(rows, [])
    assert len(list(ledger.records())) == size
    ledger.close()


def test_a_row_and_its_task_outcome_share_one_transaction(tmp_path: Path) -> None:
    from llm_cost_hooks.ledger import TaskOutcome

    ledger = SQLiteLedger(tmp_path / "x.db", background=False)
    outcome = TaskOutcome(task_id="task-0", success=True)
    ledger._write_batch([rec(0)], [outcome])
    assert list(ledger.records()) == [rec(0)]
    assert [o.task_id for o in ledger.task_outcomes()] == ["task-0"]
    ledger.close()


def _typed(path: Path) -> list[tuple[object, ...]]:
    # Every column and the storage type of every column, in the order written.
    query = "SELECT {}, {} FROM cost_records ORDER BY rowid".format(
        ", ".join(RECORD_COLUMNS), ", ".join(f"typeof({c})" for c in RECORD_COLUMNS)
    )
    with sqlite3.connect(path) as conn:
        return conn.execute(query).fetchall()


def _mixed_rows(n: int) -> list[tuple[object, ...]]:
    # Runs of rows of one shape (own task, usual values, empty columns) long enough for the
    # largest statements, and rows of other shapes between them.
    usual = {"cache_write_tokens": 0, "reasoning_tokens": 0, "currency": "USD", "success": True, "attempt": 1}
    usual |= {"tokens_estimated": False, "price_estimated": False}
    rows = []
    for i in range(n):
        kind = (i // 300) % 3
        r = dict(zip(RECORD_COLUMNS, record_to_row(rec(i, ("route",) if kind == 2 else ()))))
        if kind != 1:
            r |= usual
        if kind == 0:
            r["task_id"] = r["request_id"]
        if i % 97 == 5:
            r |= {"tenant": None, "cost_usd": -0.0, "model": "m\u00e9'\n" * 40}
        rows.append(tuple(r[c] for c in RECORD_COLUMNS))
    return rows


def test_batches_of_every_statement_size_read_back_as_bound(tmp_path: Path) -> None:
    # Every column and its storage type read back as a plain one-row executemany stores
    # them, for a single row (a transaction of its own) and batches around each statement
    # size, own-task rows (numbered parameters) among them.
    rows = _mixed_rows(1_200)
    plain = sqlite3.connect(tmp_path / "bound.db")
    plain.execute(CREATE_RECORDS)
    plain.executemany(INSERT_RECORD, rows)
    plain.commit()
    plain.close()
    ledger = SQLiteLedger(tmp_path / "x.db", background=False)
    start = 0
    for size in (1, 255, 256, 257, 1, 29, 30, 31, 61, 300):
        ledger._write_batch(rows[start : start + size], [])
        start += size
    ledger._write_batch(rows[start:], [])
    written = _typed(tmp_path / "x.db")
    assert len(written) == len(rows)
    assert written == _typed(tmp_path / "bound.db")
    ledger.close()


def test_statements_stay_under_the_parameter_limit_of_old_sqlite(tmp_path: Path) -> None:
    # SQLite before 3.32 binds at most 999 values a statement. Rows that bind every column
    # (no empty column, no usual values, not their own task) are written on a connection
    # held to that limit; a statement two rows larger than the largest would not be.
    cols = len(RECORD_COLUMNS)
    assert max(_INSERT_SIZES) * cols <= 999 < (max(_INSERT_SIZES) + 2) * cols
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    if not hasattr(conn, "setlimit"):
        pytest.skip("Connection.setlimit needs Python 3.11")
    conn.execute(CREATE_RECORDS)
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    rows = [
        tuple(f"v{i}-{c}" if isinstance(v, str) else v for c, v in enumerate(record_to_row(rec(i))))
        for i in range(100)
    ]
    assert len(_Shape(_empty_columns(rows[0])).values(rows[0])) == cols
    _insert_rows(conn, rows)
    assert conn.execute("SELECT count(*) FROM cost_records").fetchone() == (100,)
    too_many = "INSERT INTO cost_records VALUES " + ", ".join(["({})".format(", ".join("?" * cols))] * 32)
    with pytest.raises(sqlite3.OperationalError, match="too many SQL variables"):
        conn.execute(too_many, tuple(v for r in rows[:32] for v in r))
    conn.close()


def test_a_bad_row_in_a_large_batch_is_set_aside_alone(tmp_path: Path) -> None:
    # A value SQLite cannot store fails its whole statement: the batch is split until the
    # bad record is alone; it goes to the dead-letter file, every other row is written.
    dead = tmp_path / "dead.jsonl"
    ledger = SQLiteLedger(tmp_path / "x.db", flush_interval=60, dead_letter=dead)
    records = [rec(i) for i in range(300)]
    bad = records[137].model_copy(update={"input_tokens": 2**70})
    records[137] = bad
    for r in records:
        ledger.write(r)
    assert ledger.flush()
    stats = ledger.stats
    assert (stats.written, stats.dead_lettered, stats.dropped) == (299, 1, 0)
    stored = _stored(tmp_path / "x.db")
    assert len(stored) == 299
    assert (record_to_row(bad)[3], bad.request_id) not in stored
    lines = dead.read_text().splitlines()
    assert len(lines) == 1 and bad.request_id in lines[0]
    ledger.close()
