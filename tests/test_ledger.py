"""Ledger stores, the background writer's failure handling, and reports."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from llm_cost_hooks import CacheStatus, ConfigurationError, CostRecord, LedgerError
from llm_cost_hooks.ledger import (
    JSONLLedger,
    LedgerReports,
    MemoryLedger,
    SQLiteLedger,
    TaskOutcome,
    format_rows,
    open_ledger,
)


def rec(**kw: object) -> CostRecord:
    base: dict[str, object] = {
        "model": "gpt-4o-mini",
        "input_tokens": 100,
        "output_tokens": 20,
        "cost_usd": 0.01,
    }
    base.update(kw)
    return CostRecord(**base)  # type: ignore[arg-type]


def test_sqlite_roundtrip_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "costs.db"
    ledger = SQLiteLedger(path)
    original = rec(
        tenant="acme", feature="qa", tags={"k": "v"}, cache_status=CacheStatus.SEMANTIC, saved_usd=0.02
    )
    ledger.write(original)
    assert ledger.flush()
    (back,) = ledger.records()
    assert back == original
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    ledger.close()


# The schema of version 1 files, as that release created them (written out, not imported:
# the test must not follow later changes).
_V1_COLUMNS = (
    "request_id TEXT PRIMARY KEY, task_id TEXT, parent_id TEXT, timestamp TEXT, tenant TEXT, "
    "user TEXT, feature TEXT, route TEXT, prompt_version TEXT, provider TEXT, model TEXT, "
    "input_tokens INTEGER, output_tokens INTEGER, cache_read_tokens INTEGER, "
    "cache_write_tokens INTEGER, reasoning_tokens INTEGER, cost_usd REAL, cost_input REAL, "
    "cost_cache_read REAL, cost_cache_write REAL, cost_output REAL, cost_reasoning REAL, "
    "currency TEXT, saved_usd REAL, cache_status TEXT, latency_ms REAL, success INTEGER, "
    "error_type TEXT, attempt INTEGER, tags TEXT, tokens_estimated INTEGER, price_estimated INTEGER"
)


def _v1_ledger_file(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE cost_records ({_V1_COLUMNS})")
        conn.execute(
            "CREATE TABLE task_outcomes (task_id TEXT NOT NULL, success INTEGER NOT NULL, "
            "source TEXT NOT NULL, reason TEXT, timestamp TEXT NOT NULL)"
        )
        conn.execute("CREATE INDEX ix_records_task ON cost_records(task_id)")
        conn.execute("CREATE INDEX ix_records_time ON cost_records(timestamp)")
        conn.execute("CREATE INDEX ix_outcomes_task ON task_outcomes(task_id)")
        conn.execute(
            "INSERT INTO cost_records VALUES ('old-1', 'T', NULL, '2026-01-02T03:04:05+00:00', 'acme', "
            "NULL, 'qa', NULL, NULL, 'openai', 'gpt-4o-mini', 100, 20, 0, 0, 0, 0.25, 0.2, 0, 0, "
            "0.05, 0, 'USD', 0.0, 'miss', 12.5, 1, NULL, 1, NULL, 0, 0)"
        )
        conn.execute("PRAGMA user_version = 1")


def _version_and_indexes(path: Path) -> tuple[int, set[str]]:
    with sqlite3.connect(path) as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        return version, {row[1] for row in conn.execute("PRAGMA index_list(cost_records)")}


def test_an_old_schema_file_is_migrated_and_keeps_its_records(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _v1_ledger_file(path)
    ledger = SQLiteLedger(path)
    ledger.write(rec(request_id="new-1", task_id="T", tenant="acme", cost_usd=0.5))
    assert ledger.flush()
    assert {r.request_id: r.cost_usd for r in ledger.records()} == {"old-1": 0.25, "new-1": 0.5}
    # Still idempotent after the migration: the old record sent again is not stored twice.
    (old,) = [r for r in ledger.records() if r.request_id == "old-1"]
    ledger.write(old)
    assert ledger.flush()
    assert len(list(ledger.records())) == 2
    ledger.close()
    version, indexes = _version_and_indexes(path)
    assert version == 4 and indexes == {"ux_records_time_request"}
    (tasks,) = LedgerReports.open(path).tasks()
    assert tasks["tasks"] == 1 and tasks["calls"] == 2 and tasks["cost_usd"] == 0.75


@pytest.mark.parametrize(
    ("release", "statements"),
    [
        # What releases of schema 1 and 2 run on every open (schema 1 sets its version).
        (
            1,
            (
                "CREATE INDEX IF NOT EXISTS ix_records_task ON cost_records(task_id)",
                "CREATE INDEX IF NOT EXISTS ix_records_time ON cost_records(timestamp)",
                "CREATE INDEX IF NOT EXISTS ix_outcomes_task ON task_outcomes(task_id)",
                "PRAGMA user_version = 1",
            ),
        ),
        (
            2,
            (
                "CREATE INDEX IF NOT EXISTS ix_records_time ON cost_records(timestamp)",
                "CREATE INDEX IF NOT EXISTS ix_outcomes_task ON task_outcomes(task_id)",
            ),
        ),
    ],
)
def test_indexes_an_earlier_release_adds_to_a_current_file_go_when_it_is_opened(
    tmp_path: Path, release: int, statements: tuple[str, ...]
) -> None:
    # A fleet upgraded one process at a time: a process of an earlier release opens the
    # file after the current one made it, and adds the indexes of its version, which every
    # insert then updates.
    path = tmp_path / "mixed.db"
    ledger = SQLiteLedger(path)
    ledger.write(rec(request_id="new-1", task_id="T", cost_usd=0.5))
    ledger.write_task(TaskOutcome(task_id="T", success=True))
    ledger.close()
    with sqlite3.connect(path) as conn:
        for stmt in statements:
            conn.execute(stmt)
        conn.execute(
            f"INSERT INTO cost_records VALUES ('old-{release}', 'T', NULL, '2026-01-02T03:04:05+00:00', "
            "'acme', NULL, 'qa', NULL, NULL, 'openai', 'gpt-4o-mini', 100, 20, 0, 0, 0, 0.25, 0.2, 0, "
            "0, 0.05, 0, 'USD', 0.0, 'miss', 12.5, 1, NULL, 1, NULL, 0, 0)"
        )
    ledger = SQLiteLedger(path)
    ledger.write(rec(request_id="new-2", task_id="T", cost_usd=0.5))
    assert ledger.flush()
    assert sorted(r.request_id for r in ledger.records()) == sorted(["new-1", "new-2", f"old-{release}"])
    assert len(list(ledger.task_outcomes())) == 1
    ledger.close()
    version, indexes = _version_and_indexes(path)
    assert version == 4 and indexes == {"ux_records_time_request"}
    with sqlite3.connect(path) as conn:
        outcome_indexes = {row[1] for row in conn.execute("PRAGMA index_list(task_outcomes)")}
    assert outcome_indexes == {"ux_outcomes_key"}


def test_a_file_whose_writer_holds_it_opens_with_the_earlier_indexes_left_for_later(tmp_path: Path) -> None:
    # Dropping them is not worth failing, or long holding up, the ledger's start.
    path = tmp_path / "busy.db"
    SQLiteLedger(path).close()
    other = sqlite3.connect(path)
    try:
        other.execute("CREATE INDEX ix_records_time ON cost_records(timestamp)")
        other.commit()
        other.execute("BEGIN IMMEDIATE")  # another process in the middle of a batch
        ledger = SQLiteLedger(path)
        assert "ix_records_time" in _version_and_indexes(path)[1]
        other.rollback()
        ledger.write(rec(request_id="r1"))
        assert ledger.flush()
        ledger.close()
    finally:
        other.close()
    SQLiteLedger(path).close()
    assert _version_and_indexes(path) == (4, {"ux_records_time_request"})


def test_a_newer_schema_version_is_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    _v1_ledger_file(path)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with SQLiteLedger(path) as ledger:
        ledger.write(rec(request_id="new-1"))
        assert ledger.flush()
        assert len(list(ledger.records())) == 2
    version, indexes = _version_and_indexes(path)
    assert version == 99 and "ix_records_task" in indexes


def test_record_rows_hold_every_field_in_utc() -> None:
    from llm_cost_hooks._records import CostBreakdown
    from llm_cost_hooks.ledger._base import RECORD_COLUMNS, record_to_row, row_to_record

    paris = timezone(timedelta(hours=2))
    original = rec(
        request_id="r-1",
        task_id="t-1",
        parent_id="p-1",
        timestamp=datetime(2026, 3, 1, 12, 30, tzinfo=paris),
        tenant="acme",
        user="u-hash",
        feature="qa",
        route="/chat",
        prompt_version="v3",
        provider="openai",
        cache_read_tokens=7,
        cache_write_tokens=3,
        reasoning_tokens=2,
        cost_breakdown=CostBreakdown(input=0.004, cache_read=0.001, cache_write=0.002, output=0.003),
        saved_usd=0.5,
        cache_status=CacheStatus.EXACT,
        latency_ms=12.5,
        success=False,
        error_type="RateLimitError",
        attempt=2,
        tags={"b": "2", "a": "1"},
        tokens_estimated=True,
        price_estimated=True,
    )
    row = dict(zip(RECORD_COLUMNS, record_to_row(original)))
    assert row["timestamp"] == "2026-03-01T10:30:00+00:00"
    assert row["tags"] == '{"a": "1", "b": "2"}' and row["cache_status"] == "exact"
    assert (row["success"], row["tokens_estimated"], row["price_estimated"]) == (0, 1, 1)
    assert (row["cost_cache_write"], row["currency"], row["attempt"]) == (0.002, "USD", 2)
    back = row_to_record(record_to_row(original))
    assert back == original  # the same instant, every field
    assert back.timestamp.tzinfo == timezone.utc


def test_utc_timestamps_are_formatted_as_isoformat_does() -> None:
    import random

    from llm_cost_hooks._records import utc_isoformat

    rng = random.Random(7)
    start = datetime(2026, 12, 31, 23, 59, 58, tzinfo=timezone.utc)
    # Runs of records within one second, across second, day and year boundaries, on whole
    # seconds (isoformat then writes no fraction), and far from now.
    times = [start + timedelta(microseconds=rng.randrange(0, 3_000_000)) for _ in range(2000)]
    times += [start + timedelta(seconds=s) for s in range(4)]
    times += [
        datetime(1, 1, 1, tzinfo=timezone.utc),
        datetime(999, 5, 6, 7, 8, 9, 10, tzinfo=timezone.utc),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
    ]
    for _ in range(2):  # in order, then shuffled: the remembered second changes every time
        for ts in times:
            assert utc_isoformat(ts) == ts.isoformat()
        rng.shuffle(times)


def test_open_ledger_urls(tmp_path: Path) -> None:
    assert isinstance(open_ledger("memory://"), MemoryLedger)
    assert isinstance(open_ledger(None), MemoryLedger)
    s = open_ledger(f"sqlite:///{tmp_path}/a.db")
    assert isinstance(s, SQLiteLedger) and s.path == tmp_path / "a.db"
    j = open_ledger(str(tmp_path / "b.jsonl"))
    assert isinstance(j, JSONLLedger)
    with pytest.raises(ConfigurationError, match="Unknown ledger URL"):
        open_ledger("mysql://x")
    with pytest.raises(ConfigurationError, match="ledger must be"):
        open_ledger(42)  # type: ignore[arg-type]
    s.close()
    j.close()


def test_unwritable_path_is_a_typed_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LedgerError, match="Cannot open the SQLite ledger"):
        SQLiteLedger(blocker / "sub" / "costs.db")  # parent is a file
    with pytest.raises(LedgerError, match="JSONL"):
        JSONLLedger(blocker / "x.jsonl")


def test_in_memory_sqlite_url_is_refused_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # ``sqlite:///:memory:`` (the SQLAlchemy habit) used to be accepted, then every write
    # failed and was retried until the exit set the records aside in ``:memory:.dead-letter.jsonl``
    # in the working directory: the handler's first call already looked broken.
    monkeypatch.chdir(tmp_path)
    for url in ("sqlite:///:memory:", ":memory:", "sqlite:///file::memory:?cache=shared"):
        with pytest.raises(LedgerError, match="memory://"):
            open_ledger(url)
    assert list(tmp_path.iterdir()) == []


def test_jsonl_roundtrip(tmp_path: Path) -> None:
    ledger = JSONLLedger(tmp_path / "c.jsonl")
    ledger.write(rec(tenant="t"))
    ledger.write_task(TaskOutcome(task_id="x", success=False, source="user"))
    ledger.flush()
    assert [r.tenant for r in ledger.records()] == ["t"]
    assert [o.task_id for o in ledger.task_outcomes()] == ["x"]
    ledger.close()
    reports = LedgerReports.open(tmp_path / "c.jsonl")
    assert reports.totals()[0]["calls"] == 1


class _SlowLedger(MemoryLedger):
    def __init__(self) -> None:
        self.gate = threading.Event()
        super().__init__(background=True)

    def _write_batch(self, records: Sequence[CostRecord], outcomes: Sequence[TaskOutcome]) -> None:
        self.gate.wait(10)
        super()._write_batch(records, outcomes)


def test_write_never_blocks_on_storage() -> None:
    ledger = _SlowLedger()
    t0 = time.perf_counter()
    for _ in range(1000):
        ledger.write(rec())
    elapsed = time.perf_counter() - t0
    # Storage is blocked for 10 s; if write waited on it, this would take seconds.
    assert elapsed < 2.0
    assert ledger.stats.pending == 1000
    ledger.gate.set()
    assert ledger.flush()
    assert len(ledger.records()) == 1000
    ledger.close()


class _FlakySQLite(SQLiteLedger):
    """Fails like a full disk for the first ``failures`` batches, then recovers."""

    def __init__(self, path: Path, failures: int, **kw: object) -> None:
        self.failures = failures
        super().__init__(path, **kw)  # type: ignore[arg-type]

    def _write_batch(self, records: Sequence[CostRecord], outcomes: Sequence[TaskOutcome]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise sqlite3.OperationalError("database or disk is full")
        super()._write_batch(records, outcomes)


def test_failed_writes_are_retried_and_nothing_is_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = _FlakySQLite(tmp_path / "flaky.db", failures=3, flush_interval=0.01)
    for i in range(500):
        ledger.write(rec(request_id=f"r{i}"))
    assert ledger.flush(timeout=20)
    stats = ledger.stats
    assert stats.write_failures == 3
    assert stats.dropped == 0
    assert stats.written == 500
    assert len(list(ledger.records())) == 500
    assert "ledger write failed" in caplog.text
    ledger.close()


def test_overflow_is_counted_not_raised(tmp_path: Path) -> None:
    ledger = _FlakySQLite(tmp_path / "full.db", failures=10**9, max_buffer=100, flush_interval=0.01)
    for i in range(250):
        ledger.write(rec(request_id=f"r{i}"))  # must not raise
    # The writer sets the oldest aside once a failed write finds the queue past half full; on a
    # loaded machine its thread may not have run yet, so wait for that (not a fixed sleep).
    # What did not fit the buffer of 100 is set aside: by the caller when the queue was full,
    # or by the writer (how many of each depends on when that thread runs); none is lost.
    deadline = time.monotonic() + 30
    while (stats := ledger.stats).dead_lettered == 0 or stats.dead_lettered + stats.pending < 250:
        assert time.monotonic() < deadline, f"records neither queued nor set aside: {stats}"
        time.sleep(0.01)
    assert stats.dropped == 0
    ledger.failures = 0  # the disk recovers
    assert ledger.flush(timeout=20)
    kept = len(list(ledger.records()))
    stats = ledger.stats
    assert stats.dead_lettered > 0  # set aside while the store failed, not lost
    assert kept + stats.dead_lettered == 250 and stats.dropped == 0
    assert len((tmp_path / "full.db.dead-letter.jsonl").read_text().splitlines()) == stats.dead_lettered
    ledger.close()


def test_close_flushes(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "c.db")
    for _ in range(100):
        ledger.write(rec())
    ledger.close()
    ledger.close()  # idempotent
    reader = SQLiteLedger(tmp_path / "c.db")
    try:
        assert len(list(reader.records())) == 100
    finally:
        reader.close()  # its writer thread ends with the test


def test_flush_at_interpreter_exit(tmp_path: Path) -> None:
    import subprocess
    import sys

    db = tmp_path / "exit.db"
    script = (
        "from llm_cost_hooks.ledger import SQLiteLedger\n"
        "from llm_cost_hooks import CostRecord\n"
        f"l = SQLiteLedger({str(db)!r}, flush_interval=60)\n"
        "for i in range(2000): l.write(CostRecord(model='gpt-4o', request_id=str(i)))\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM cost_records").fetchone()[0] == 2000


def _workload() -> MemoryLedger:
    ledger = MemoryLedger()
    day1 = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    day2 = day1 + timedelta(days=1)
    # task A (acme/qa): 2 calls ok
    ledger.write(rec(task_id="A", tenant="acme", feature="qa", cost_usd=0.10, timestamp=day1))
    ledger.write(rec(task_id="A", tenant="acme", feature="qa", cost_usd=0.05, timestamp=day1))
    # task B (acme/qa): first call errors, retry (attempt 2) succeeds
    ledger.write(
        rec(
            task_id="B",
            tenant="acme",
            feature="qa",
            cost_usd=0.02,
            success=False,
            error_type="Timeout",
            timestamp=day1,
        )
    )
    ledger.write(rec(task_id="B", tenant="acme", feature="qa", cost_usd=0.08, attempt=2, timestamp=day1))
    # task C (globex/summary): ok calls, but the user marks it failed
    ledger.write(rec(task_id="C", tenant="globex", feature="summary", cost_usd=0.30, timestamp=day2))
    ledger.write_task(TaskOutcome(task_id="C", success=False, source="user", reason="rejected"))
    # task D (globex/summary): a cache hit
    ledger.write(
        rec(
            task_id="D",
            tenant="globex",
            feature="summary",
            cost_usd=0.0,
            saved_usd=0.3,
            cache_status=CacheStatus.EXACT,
            input_tokens=0,
            output_tokens=0,
            timestamp=day2,
        )
    )
    for t in "ABCD":
        ledger.write_task(TaskOutcome(task_id=t, success=True, source="run"))
    return ledger


def test_totals_by_dimensions() -> None:
    reports = LedgerReports.from_ledger(_workload())
    by_tenant = {r["tenant"]: r for r in reports.totals(by=["tenant"])}
    assert by_tenant["acme"]["calls"] == 4
    assert by_tenant["acme"]["cost_usd"] == pytest.approx(0.25)
    assert by_tenant["acme"]["errors"] == 1
    assert by_tenant["acme"]["retry_cost_usd"] == pytest.approx(0.08)
    assert by_tenant["globex"]["saved_usd"] == pytest.approx(0.3)
    assert by_tenant["globex"]["cache_hits"] == 1
    by_day = {r["day"]: r["cost_usd"] for r in reports.totals(by="day")}
    assert by_day == {"2026-11-01": pytest.approx(0.25), "2026-11-02": pytest.approx(0.30)}
    only_day2 = reports.totals(since="2026-11-02")
    assert only_day2[0]["calls"] == 2
    with pytest.raises(ConfigurationError, match="Cannot group by 'colour'"):
        reports.totals(by=["colour"])
    with pytest.raises(ConfigurationError, match="ISO date"):
        reports.totals(since="yesterday")


def test_cost_per_successful_task_any_error_policy() -> None:
    (row,) = LedgerReports.from_ledger(_workload()).tasks()
    # A ok, B failed (a call errored), C failed (user), D ok -> 2 successful of 4.
    assert row["tasks"] == 4 and row["successful_tasks"] == 2
    assert row["cost_usd"] == pytest.approx(0.55)
    assert row["cost_per_successful_task"] == pytest.approx(0.55 / 2)
    assert row["retry_cost_usd"] == pytest.approx(0.08)
    assert row["failed_call_cost_usd"] == pytest.approx(0.02)


def test_cost_per_successful_task_root_error_policy() -> None:
    reports = LedgerReports.from_ledger(_workload())
    (row,) = reports.tasks(failure_policy="root_error")
    # B recovered by retry -> success; C is still failed by the user's mark.
    assert row["successful_tasks"] == 3
    assert row["cost_per_successful_task"] == pytest.approx(0.55 / 3)
    per_tenant = {r["tenant"]: r for r in reports.tasks(by="tenant")}
    assert per_tenant["acme"]["tasks"] == 2 and per_tenant["acme"]["successful_tasks"] == 1
    assert per_tenant["globex"]["cost_per_successful_task"] == pytest.approx(0.30)


def test_cache_savings_and_formats() -> None:
    reports = LedgerReports.from_ledger(_workload())
    (hit,) = reports.cache_savings()
    assert hit["cache_status"] == "exact" and hit["saved_usd"] == pytest.approx(0.3)
    rows = reports.totals(by="tenant")
    table = format_rows(rows)
    assert "acme" in table and "globex" in table and "$0.250000" in table
    assert format_rows(rows, "csv").splitlines()[0].startswith("tenant,calls")
    assert '"tenant": "acme"' in format_rows(rows, "json")
    assert format_rows([]) == "(no records)"


def test_reports_open_rejects_non_ledger(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="No ledger file"):
        LedgerReports.open(tmp_path / "missing.db")
    bad = tmp_path / "other.db"
    sqlite3.connect(bad).execute("CREATE TABLE x (a)").connection.commit()
    with pytest.raises(LedgerError, match="not an llm-cost-hooks SQLite ledger"):
        LedgerReports.open(bad)


def test_trusted_record_equals_validated_record() -> None:
    values = rec(tenant="a", tags={"x": "1"}).model_dump()
    values["cost_breakdown"] = CostRecord(model="m").cost_breakdown
    fast = CostRecord._trusted(dict(values))
    slow = CostRecord(**values)
    assert fast == slow
    assert fast.model_dump_json() == slow.model_dump_json()
    assert set(values) == set(CostRecord.model_fields)


def test_timeseries_waterfall_and_html(tmp_path: Path) -> None:
    from llm_cost_hooks.ledger import render_html_report, savings_waterfall

    reports = LedgerReports.from_ledger(_workload())
    days = reports.timeseries("day")
    assert [(d["bucket"], d["calls"]) for d in days] == [("2026-11-01", 4), ("2026-11-02", 2)]
    per_feature = reports.timeseries("day", by="feature")
    assert {(r["bucket"], r["feature"]) for r in per_feature} == {
        ("2026-11-01", "qa"),
        ("2026-11-02", "summary"),
    }
    steps = savings_waterfall(reports)
    assert steps[0]["cost_usd"] == pytest.approx(0.55 + 0.3)
    assert steps[-1] == {"step": "billed", "cost_usd": pytest.approx(0.55), "saving_usd": pytest.approx(0.3)}
    out = render_html_report(reports, tmp_path / "r.html")
    text = out.read_text()
    assert text.count("data:image/png;base64,") == 4  # cost over time, waterfall, hit rate, route mix
    assert "cost_per_successful_task" in text and "globex" in text
    with pytest.raises(ConfigurationError):
        reports.timeseries("week")  # type: ignore[arg-type]


def test_budget_breaches_report() -> None:
    ledger = MemoryLedger()
    ledger.write(rec(tenant="a", feature="f", success=False, error_type="BudgetExceeded", cost_usd=0.0))
    ledger.write(rec(tenant="a", feature="f", tags={"budget.trimmed.history": "120"}))
    ledger.write(rec(tenant="b", feature="f"))
    (row,) = LedgerReports.from_ledger(ledger).budget_breaches()
    assert (row["tenant"], row["calls"], row["refused"]) == ("a", 2, 1)


def test_budget_breaches_count_a_downgrade_with_nowhere_to_go_as_refused() -> None:
    ledger = MemoryLedger()
    ledger.write(rec(tenant="a", feature="f", success=False, error_type="DowngradeRequired", cost_usd=0.0))
    ledger.write(rec(tenant="a", feature="f", success=False, error_type="CircuitOpenError", cost_usd=0.0))
    (row,) = LedgerReports.from_ledger(ledger).budget_breaches()
    assert (row["tenant"], row["calls"], row["refused"]) == ("a", 1, 1)  # a circuit is no budget


def test_deferred_records_are_built_once_on_the_writer_even_across_retries(tmp_path: Path) -> None:
    ledger = _FlakySQLite(tmp_path / "d.db", failures=2, flush_interval=0.01)
    built: list[str] = []
    writer_threads: set[str] = set()

    def builder(i: int) -> Any:
        def build() -> CostRecord:
            built.append(f"r{i}")
            writer_threads.add(threading.current_thread().name)
            return rec(request_id=f"r{i}")

        return build

    assert ledger.defers_writes
    for i in range(50):
        ledger.write_deferred(builder(i))
    ledger.write_deferred(lambda: 1 / 0)  # a builder bug: counted, never kills the writer
    assert ledger.flush(timeout=20)
    assert sorted(built) == sorted(f"r{i}" for i in range(50))  # each once, despite 2 failed batches
    assert writer_threads == {"llm-cost-hooks-_FlakySQLite"}
    assert len(list(ledger.records())) == 50
    assert ledger.stats.dropped == 1 and ledger.stats.write_failures == 2
    ledger.close()


def test_deferred_records_without_a_writer_thread_are_built_inline() -> None:
    ledger = MemoryLedger()
    assert not ledger.defers_writes
    ledger.write_deferred(lambda: rec(request_id="x"))
    assert [r.request_id for r in ledger.records()] == ["x"]


def test_run_deferred_runs_in_order_on_the_writer(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []
    ledger = SQLiteLedger(tmp_path / "costs.db")

    def build(i: int) -> Any:
        def make() -> CostRecord:
            seen.append((f"record {i}", threading.current_thread().name))
            return rec(request_id=f"r{i}")

        return make

    def boom() -> None:
        raise RuntimeError("observer bug")

    ledger.write_deferred(build(1))
    ledger.run_deferred(lambda: seen.append(("after 1", threading.current_thread().name)))
    ledger.run_deferred(boom)  # logged, neither a record nor a drop, the writer lives on
    ledger.write_deferred(build(2))
    assert ledger.flush()
    assert [what for what, _ in seen] == ["record 1", "after 1", "record 2"]
    assert {thread for _, thread in seen} == {"llm-cost-hooks-SQLiteLedger"}
    stats = ledger.stats
    assert stats.written == 2 and stats.dropped == 0
    ledger.close()
    # Without a writer thread the call runs at once, on the caller.
    memory = MemoryLedger()
    memory.run_deferred(lambda: seen.append(("inline", threading.current_thread().name)))
    assert seen[-1] == ("inline", threading.current_thread().name)


def test_sqlite_batch_of_many_statements_keeps_every_record_and_sets_aside_only_a_bad_one(
    tmp_path: Path,
) -> None:
    # 127 records in one transaction: four 30-row INSERT statements, then 4, 2 and 1 rows; a
    # value SQLite cannot store fails its statement, and only that record is set aside.
    ledger = SQLiteLedger(tmp_path / "costs.db", flush_interval=60)
    ledger._wake_at = 10**9  # one batch, written by the flush
    records = [rec(request_id=f"r{i:03d}", input_tokens=i) for i in range(127)]
    bad = {40, 122}  # in a 30-row statement and in the 4-row one
    for i in bad:
        records[i] = rec(request_id=f"bad{i}", input_tokens=2**70)
    for r in records:
        ledger.write(r)
    assert ledger.flush()
    stored = {r.request_id: r.input_tokens for r in ledger.records()}
    assert stored == {f"r{i:03d}": i for i in range(127) if i not in bad}
    assert ledger.stats.written == 125 and ledger.stats.dead_lettered == 2
    # The same record (request id and timestamp) written again replaces the row.
    ledger.write(records[7].model_copy(update={"input_tokens": 7000}))
    assert ledger.flush()
    assert {r.request_id: r.input_tokens for r in ledger.records()}["r007"] == 7000
    ledger.close()


@pytest.mark.parametrize("bad", [[rec()], (rec(),), {"model": "gpt-4o"}, None])
def test_write_refuses_anything_but_one_record_where_the_mistake_is(tmp_path: Path, bad: object) -> None:
    # A list of records used to be queued, fail to build on the writer thread and be
    # counted as dropped there, far from the call that made the mistake.
    ledger = SQLiteLedger(tmp_path / "costs.db")
    try:
        # The package's own error (a ConfigurationError, also a ValueError), not a TypeError.
        with pytest.raises(ConfigurationError, match="one CostRecord") as caught:
            ledger.write(bad)  # type: ignore[arg-type]
        if isinstance(bad, dict):
            assert "CostRecord(**values)" in str(caught.value)
        ledger.write(rec(request_id="ok"))
        ledger.flush()
        assert ledger.stats.dropped == 0
        assert [r.request_id for r in ledger.records()] == ["ok"]
    finally:
        ledger.close()


def test_a_deferred_builder_that_returns_no_record_is_counted_lost_and_holds_nothing_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: the dict was written with the batch, failed it (a write failure, back-off)
    # and held the good record back until the batch was split.
    ledger = SQLiteLedger(tmp_path / "costs.db")
    try:
        with caplog.at_level(logging.ERROR, logger="llm_cost_hooks.ledger"):
            ledger.write_deferred(lambda: {"model": "gpt-4o"})  # type: ignore[arg-type,return-value]
            ledger.write(rec(request_id="ok"))
            assert ledger.flush()
        assert [r.request_id for r in ledger.records()] == ["ok"]
        assert ledger.stats.dropped == 1 and ledger.stats.write_failures == 0
        assert any("returned dict, not a CostRecord" in r.getMessage() for r in caplog.records)
    finally:
        ledger.close()


def test_a_deferred_builder_that_returns_no_record_never_raises_without_a_writer_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger = MemoryLedger()
    assert not ledger.defers_writes
    with caplog.at_level(logging.ERROR, logger="llm_cost_hooks.ledger"):
        ledger.write_deferred(lambda: {"model": "gpt-4o"})  # type: ignore[arg-type,return-value]
    assert ledger.stats.dropped == 1 and ledger.records() == []
    assert any("returned dict, not a CostRecord" in r.getMessage() for r in caplog.records)
