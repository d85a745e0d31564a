"""The SQLite ledger's record key, (timestamp, request_id): what counts as the same record,
and files of the earlier schema (primary key request_id) rebuilt without losing a record."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

from test_ledger import _V1_COLUMNS

from llm_cost_hooks import CacheStatus, CostRecord
from llm_cost_hooks.ledger import LedgerReports, SQLiteLedger, replay_dead_letters
from llm_cost_hooks.ledger._base import record_to_row
from llm_cost_hooks.ledger._copy import copy_ledger

REPO = Path(__file__).resolve().parents[1]

# Version 2 files have the table of version 1 (the versions differ in an index).
_V2_COLUMNS = _V1_COLUMNS

T0 = datetime(2026, 11, 30, 23, 59, 58, tzinfo=timezone.utc)


def rec(i: int, **kw: object) -> CostRecord:
    base: dict[str, object] = {
        "request_id": f"req-{i:05d}",
        "task_id": f"task-{i // 3}",
        # Times out of id order, some on a whole second (no microseconds in the text), one in
        # another zone: what a ledger holds.
        "timestamp": T0 + timedelta(microseconds=(i * 7_919) % 5_000_000 * (i % 4 != 0)),
        "model": "gpt-4o-mini",
        "tenant": f"t{i % 5}",
        "input_tokens": 100 + i,
        "output_tokens": 20,
        "cost_usd": 1e-5 * (i + 1),
        "cache_status": CacheStatus.EXACT if i % 7 == 0 else CacheStatus.MISS,
        "tags": {"n": str(i)} if i % 3 == 0 else {},
    }
    if i == 5:
        base["timestamp"] = datetime(2026, 12, 1, 1, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    base.update(kw)
    return CostRecord(**base)  # type: ignore[arg-type]


def _v2_file(path: Path, records: list[CostRecord]) -> None:
    """A version 2 file holding ``records``, as that release wrote them (rowid order)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"CREATE TABLE cost_records ({_V2_COLUMNS})")
        conn.execute(
            "CREATE TABLE task_outcomes (task_id TEXT NOT NULL, success INTEGER NOT NULL, "
            "source TEXT NOT NULL, reason TEXT, timestamp TEXT NOT NULL)"
        )
        conn.execute("CREATE INDEX ix_records_time ON cost_records(timestamp)")
        conn.execute("CREATE INDEX ix_outcomes_task ON task_outcomes(task_id)")
        conn.executemany(
            f"INSERT INTO cost_records VALUES ({', '.join('?' * 32)})", map(record_to_row, records)
        )
        conn.execute(
            "INSERT INTO task_outcomes VALUES ('task-0', 1, 'user', NULL, '2026-11-30T00:00:00+00:00')"
        )
        conn.execute("PRAGMA user_version = 2")


def _layout(path: Path) -> tuple[int, set[str], bool]:
    """(user_version, the record table's indexes, whether request_id is its primary key)."""
    with sqlite3.connect(path) as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(cost_records)")}
        pk = any(r[1] == "request_id" and r[5] for r in conn.execute("PRAGMA table_info(cost_records)"))
    return version, indexes, pk


def _rows_in_rowid_order(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT request_id FROM cost_records ORDER BY rowid")]


def test_a_version_2_file_is_rebuilt_and_every_record_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    old = [rec(i) for i in range(3000)]
    _v2_file(path, old)
    order_before = _rows_in_rowid_order(path)
    totals_before = LedgerReports.open(path).totals(by="tenant")
    ledger = SQLiteLedger(path)
    assert _layout(path) == (4, {"ux_records_time_request"}, False)
    back = {r.request_id: r for r in ledger.records()}
    assert len(back) == len(old)
    for r in old:  # every field of every record, timestamps as instants
        assert back[r.request_id] == r.model_copy(update={"timestamp": r.timestamp.astimezone(timezone.utc)})
    assert _rows_in_rowid_order(path) == order_before  # copied in the order written
    assert LedgerReports.open(path).totals(by="tenant") == totals_before
    assert [o.task_id for o in ledger.task_outcomes()] == ["task-0"]
    # The old records sent again (a replay, a copy) are not stored twice; new ones are added.
    for r in old[:500]:
        ledger.write(r)
    ledger.write(rec(5000))
    assert ledger.flush()
    assert len(list(ledger.records())) == 3001
    ledger.close()
    # Opening it again changes nothing.
    with SQLiteLedger(path) as again:
        assert len(list(again.records())) == 3001
    assert _layout(path) == (4, {"ux_records_time_request"}, False)


def test_a_file_of_the_first_schema_without_user_version_is_rebuilt(tmp_path: Path) -> None:
    # Version 0: files made before the version was recorded, with the task id index.
    path = tmp_path / "v0.db"
    _v2_file(path, [rec(i) for i in range(10)])
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE INDEX ix_records_task ON cost_records(task_id)")
        conn.execute("PRAGMA user_version = 0")
    with SQLiteLedger(path) as ledger:
        assert len(list(ledger.records())) == 10
    assert _layout(path) == (4, {"ux_records_time_request"}, False)


def test_a_failed_rebuild_leaves_the_old_file_whole(tmp_path: Path) -> None:
    # A row the new table refuses (no timestamp) stops the migration; the transaction
    # rolls back and the user sees the error: nothing is lost or half-migrated.
    path = tmp_path / "v2.db"
    _v2_file(path, [rec(i) for i in range(20)])
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE cost_records SET timestamp = NULL WHERE request_id = 'req-00003'")
    try:
        SQLiteLedger(path)
    except Exception as exc:  # LedgerError, naming the file
        assert str(path) in str(exc)
    else:
        raise AssertionError("opening a file the migration cannot rebuild must fail")
    assert _layout(path) == (2, {"ix_records_time", "sqlite_autoindex_cost_records_1"}, True)
    assert len(_rows_in_rowid_order(path)) == 20


def test_the_same_record_sent_again_is_stored_once(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "costs.db")
    records = [rec(i) for i in range(300)]
    for r in records + records[:100]:  # twice in the same batch and in later ones
        ledger.write(r)
    assert ledger.flush()
    for r in records[100:]:
        ledger.write(r.model_copy())
    ledger.write(records[7].model_copy(update={"input_tokens": 7000}))  # rewritten in place
    assert ledger.flush()
    back = {r.request_id: r for r in ledger.records()}
    assert len(list(ledger.records())) == 300 and back["req-00007"].input_tokens == 7000
    # The same request id at another time is another record (the LiteLLM and LangChain
    # handlers give every call and retry its own id).
    ledger.write(records[8].model_copy(update={"timestamp": records[8].timestamp + timedelta(seconds=1)}))
    assert ledger.flush()
    assert len(list(ledger.records())) == 301
    ledger.close()


def test_copying_twice_adds_each_record_once(tmp_path: Path) -> None:
    src = SQLiteLedger(tmp_path / "a.db")
    for i in range(50):
        src.write(rec(i))
    src.close()
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text("".join(r.model_dump_json() + "\n" for r in (rec(i) for i in range(40, 60))))
    assert copy_ledger(tmp_path / "a.db", tmp_path / "b.db")["records_added"] == 50
    assert copy_ledger(tmp_path / "a.db", tmp_path / "b.db")["records_added"] == 0
    assert copy_ledger(jsonl, tmp_path / "b.db")["records_added"] == 10
    with SQLiteLedger(tmp_path / "b.db") as dst:
        assert sorted(r.request_id for r in dst.records()) == [f"req-{i:05d}" for i in range(60)]


_CRASHING_WRITER = textwrap.dedent(
    """
    import os, sys
    from datetime import datetime, timezone
    sys.path[:0] = [sys.argv[2], sys.argv[3]]
    from test_ledger_time_key import rec
    from llm_cost_hooks.ledger import SQLiteLedger
    from llm_cost_hooks.ledger._base import _append_durably, _dead_letter_line

    ledger = SQLiteLedger(sys.argv[1])
    records = [rec(i) for i in range(400)]
    for r in records[:300]:
        ledger.write(r)
    assert ledger.flush(30)
    # Records 200-399 set aside as the exit path does with a batch still being written:
    # 200-299 reached the file as well, 300-399 did not.
    now = datetime.now(timezone.utc).isoformat()
    lines = "".join(_dead_letter_line("record", r, "in flight at exit", now) + "\\n" for r in records[200:])
    _append_durably(ledger.dead_letter_path, lines)
    print(ledger.dead_letter_path, flush=True)
    os._exit(1)  # a crash: no close, no exit hooks
    """
)


def test_replaying_after_a_crash_stores_each_record_once(tmp_path: Path) -> None:
    path = tmp_path / "costs.db"
    script = tmp_path / "crash.py"
    script.write_text(_CRASHING_WRITER)
    out = subprocess.run(
        [sys.executable, str(script), str(path), str(REPO), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert out.returncode == 1, out.stderr
    dead_letters = Path(out.stdout.strip())
    assert len(dead_letters.read_text().splitlines()) == 200
    with SQLiteLedger(path) as ledger:
        assert len(list(ledger.records())) == 300
        assert replay_dead_letters(dead_letters, ledger) == 200
        back = sorted(ledger.records(), key=lambda r: r.request_id)
    assert [r.request_id for r in back] == [f"req-{i:05d}" for i in range(400)]
    assert back == sorted((_utc(rec(i)) for i in range(400)), key=lambda r: r.request_id)
    # Replaying the same lines once more changes nothing.
    again = dead_letters.with_name(dead_letters.name + ".replayed")
    with SQLiteLedger(path) as ledger:
        assert replay_dead_letters(again, ledger) == 200
        assert len(list(ledger.records())) == 400


def _utc(r: CostRecord) -> CostRecord:
    return r.model_copy(update={"timestamp": r.timestamp.astimezone(timezone.utc)})


_OPENER = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [sys.argv[4], sys.argv[3]]
    from test_ledger_time_key import rec
    from llm_cost_hooks.ledger import SQLiteLedger

    base = int(sys.argv[2])
    with SQLiteLedger(sys.argv[1]) as ledger:
        for i in range(base, base + 100):
            ledger.write(rec(i))
        assert ledger.flush(60)
    """
)


def test_processes_opening_one_old_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    _v2_file(path, [rec(i) for i in range(20_000)])
    script = tmp_path / "open.py"
    script.write_text(_OPENER)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(path), str(base), str(Path(__file__).parent), str(REPO)],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for base in (20_000, 30_000, 40_000)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert _layout(path) == (4, {"ux_records_time_request"}, False)
    ids = _rows_in_rowid_order(path)
    assert len(ids) == len(set(ids)) == 20_300
    written = [*range(20_000), *(i for b in (20_000, 30_000, 40_000) for i in range(b, b + 100))]
    assert sorted(ids) == sorted(f"req-{i:05d}" for i in written)
    with sqlite3.connect(path) as conn:
        tags = [
            json.loads(t) for (t,) in conn.execute("SELECT tags FROM cost_records WHERE tags IS NOT NULL")
        ]
    assert sorted(int(t["n"]) for t in tags) == [i for i in written if i % 3 == 0]
