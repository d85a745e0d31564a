"""Retention: ``Ledger.prune`` and ``llm-cost ledger prune`` on SQLite, JSONL, memory and
PostgreSQL (with a writer writing throughout): old records and outcomes go, the kept
window's totals and the rollups stay right, a dry run changes nothing, bad dates say what
to fix."""

from __future__ import annotations

import json
import math
import os
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from llm_cost_hooks import CostRecord
from llm_cost_hooks._errors import ConfigurationError
from llm_cost_hooks.cli import main
from llm_cost_hooks.ledger import JSONLLedger, Ledger, MemoryLedger, SQLiteLedger, TaskOutcome
from llm_cost_hooks.ledger._prune import prune_jsonl

START = datetime(2026, 9, 1, tzinfo=timezone.utc)
CUTOFF = datetime(2026, 9, 21, tzinfo=timezone.utc)


def fill(ledger: Ledger, days: int = 30, per_day: int = 12) -> None:
    """``per_day`` calls a day (two per task), tasks ending with an outcome."""
    for d in range(days):
        for i in range(per_day):
            ts = START + timedelta(days=d, minutes=37 * i)
            task = f"t-{d}-{i // 2}"
            ledger.write(
                CostRecord(
                    model="gpt-4o-mini" if i % 3 else "gpt-4o",
                    tenant=f"acme-{i % 3}",
                    feature="chat" if i % 2 else "search",
                    task_id=task,
                    timestamp=ts,
                    input_tokens=100 + i,
                    output_tokens=10 + d,
                    cost_usd=0.001 * (1 + i % 5),
                    success=i % 7 != 0,
                )
            )
            if i % 2:
                ledger.write_task(TaskOutcome(task_id=task, success=i % 7 != 0, timestamp=ts))
    ledger.flush()


def kept_view(ledger: Ledger, since: datetime = CUTOFF) -> dict[str, Any]:
    r = ledger.reports()
    try:
        return {
            "totals": r.totals(by="tenant,feature,day", since=since),
            "tasks": r.tasks(since=since),
        }
    finally:
        r.close()


def counts(ledger: Ledger) -> tuple[int, int, int, int]:
    records = list(ledger.records())
    outcomes = list(ledger.task_outcomes())
    return (
        sum(r.timestamp < CUTOFF for r in records),
        sum(r.timestamp >= CUTOFF for r in records),
        sum(o.timestamp < CUTOFF for o in outcomes),
        sum(o.timestamp >= CUTOFF for o in outcomes),
    )


@pytest.mark.parametrize("kind", ["sqlite", "jsonl", "memory"])
def test_prune_deletes_old_rows_and_keeps_the_window(kind: str, tmp_path: Path) -> None:
    ledger: Ledger
    if kind == "sqlite":
        ledger = SQLiteLedger(tmp_path / "costs.db")
    elif kind == "jsonl":
        ledger = JSONLLedger(tmp_path / "costs.jsonl")
    else:
        ledger = MemoryLedger()
    try:
        fill(ledger)
        old_r, new_r, old_o, new_o = counts(ledger)
        assert old_r == 20 * 12 and old_o == 20 * 6 and new_r and new_o
        view = kept_view(ledger)

        dry = ledger.prune(CUTOFF, dry_run=True, batch_size=7)
        assert (dry["records"], dry["outcomes"]) == (old_r, old_o)
        assert counts(ledger) == (old_r, new_r, old_o, new_o)  # nothing changed

        done = ledger.prune("2026-09-21", batch_size=7)  # batches of 7: many transactions
        assert (done["records"], done["outcomes"]) == (old_r, old_o)
        assert counts(ledger) == (0, new_r, 0, new_o)
        assert kept_view(ledger) == view
        if kind == "sqlite":
            assert done["free_bytes"] >= 0
        assert ledger.prune(CUTOFF) == {**done, "records": 0, "outcomes": 0}  # nothing left to do
        # The ledger goes on writing after a prune.
        ledger.write(CostRecord(model="gpt-4o", timestamp=CUTOFF + timedelta(days=40), cost_usd=1.0))
        ledger.flush()
        assert counts(ledger)[1] == new_r + 1
    finally:
        ledger.close()


def test_jsonl_prune_keeps_damaged_lines_and_late_appends(tmp_path: Path) -> None:
    path = tmp_path / "costs.jsonl"
    ledger = JSONLLedger(path, background=False)
    fill(ledger, days=25, per_day=2)
    ledger.close()
    with open(path, "ab") as f:
        f.write(b'{"model": "gpt-4o", "cut sho\n')  # a line a crash cut short: not ours to drop
    late = CostRecord(model="gpt-4o", timestamp=CUTOFF + timedelta(days=9), cost_usd=2.0)
    old_fd = os.open(path, os.O_WRONLY | os.O_APPEND)  # a writer that opened the file before the swap

    def writer_appends(_: float) -> None:
        os.write(old_fd, (late.model_dump_json() + "\n").encode())

    try:
        gone = prune_jsonl(path, CUTOFF, sleep=writer_appends)
    finally:
        os.close(old_fd)
    assert (gone["records"], gone["outcomes"]) == (40, 20)
    lines = path.read_bytes().splitlines()
    assert b'"cut sho' in lines[-2] and lines[-1] == late.model_dump_json().encode()
    assert len(lines) == 5 * 2 + 5 + 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


@pytest.mark.parametrize(
    ("before", "older_than", "says"),
    [
        ("2026-13-01", None, "ISO date"),
        ("yesterday", None, "2026-09-01"),
        ("2999-01-01", None, "in the future"),
        (None, "90 days", "90d"),
        (None, "0d", "more than zero"),
        (None, None, "Give one of"),
        ("2026-09-01", "90d", "Give one of"),
    ],
)
def test_bad_dates_raise_a_typed_error_that_says_what_to_fix(
    before: str | None, older_than: str | None, says: str
) -> None:
    ledger = MemoryLedger()
    fill(ledger, days=2)
    with pytest.raises(ConfigurationError, match=says):
        ledger.prune(before, older_than=older_than)
    assert len(list(ledger.records())) == 24  # nothing deleted


def test_cli_prune_exit_codes_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "costs.db"
    ledger = SQLiteLedger(db)
    fill(ledger)
    ledger.close()

    assert main(["ledger", "prune", str(db), "--before", "2026-09-21", "--dry-run"]) == 0
    assert "would delete 240 records and 120 task outcomes" in capsys.readouterr().out
    assert main(["ledger", "prune", f"sqlite:///{db}", "--before", "2026-09-21", "--batch-size", "50"]) == 0
    out = capsys.readouterr().out
    assert "deleted 240 records and 120 task outcomes older than 2026-09-21T00:00:00+00:00" in out
    assert f"sqlite3 {db} 'VACUUM'" in out  # the file's path, which sqlite3 opens
    assert main(["ledger", "prune", str(db), "--before", "2026-09-21"]) == 0
    assert "deleted 0 records" in capsys.readouterr().out

    assert main(["ledger", "prune", str(db), "--before", "21/09/2026"]) == 2
    assert "--before must be an ISO date" in capsys.readouterr().err
    assert main(["ledger", "prune", str(db), "--older-than", "3 months"]) == 2
    assert "--older-than must be a whole number" in capsys.readouterr().err
    assert main(["ledger", "prune", str(tmp_path / "missing.db"), "--older-than", "90d"]) == 2
    assert "No ledger file" in capsys.readouterr().err
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(SystemExit) as exc:  # neither --before nor --older-than
        main(["ledger", "prune", str(db)])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["ledger", "prune", str(db), "--older-than", "9d", "--batch-size", "0"])
    assert exc.value.code == 2


def test_cli_prune_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "costs.jsonl"
    ledger = JSONLLedger(path, background=False)
    fill(ledger, days=25, per_day=2)
    ledger.close()
    before = path.read_bytes()
    assert main(["ledger", "prune", str(path), "--before", "2026-09-21", "--dry-run"]) == 0
    assert "would delete 40 records and 20 task outcomes" in capsys.readouterr().out
    assert path.read_bytes() == before
    assert main(["ledger", "prune", f"jsonl:///{path}", "--before", "2026-09-21"]) == 0
    out = capsys.readouterr().out
    assert "deleted 40 records and 20 task outcomes" in out
    assert "VACUUM" not in out  # nothing to vacuum in a rewritten file
    kept = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(kept) == 15


# -- PostgreSQL ----------------------------------------------------------------------------
def _rollups_match_records(url: str) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        rolled = {
            (h, t, f, m): (int(c), float(cost or 0))
            for h, t, f, m, c, cost in conn.execute(
                "SELECT hour, tenant, feature, model, calls, cost_usd FROM cost_rollup_hour"
            )
        }
        raw = {
            (h, t, f, m): (int(c), float(cost or 0))
            for h, t, f, m, c, cost in conn.execute(
                "SELECT date_trunc('hour', \"timestamp\" AT TIME ZONE 'UTC'), COALESCE(tenant, ''), "
                "COALESCE(feature, ''), model, COUNT(*), SUM(cost_usd) FROM cost_records GROUP BY 1, 2, 3, 4"
            )
        }
    assert rolled.keys() == raw.keys()
    for key, (calls, cost) in raw.items():
        assert rolled[key][0] == calls
        assert math.isclose(rolled[key][1], cost, rel_tol=1e-9, abs_tol=1e-12)


def test_postgres_prune_with_a_live_writer(postgres_db_url: str) -> None:
    pytest.importorskip("psycopg", reason="needs the postgres extra (psycopg)")
    from llm_cost_hooks.ledger import PostgresLedger

    ledger = PostgresLedger(postgres_db_url)
    writer = PostgresLedger(postgres_db_url)  # another process of the fleet, writing throughout
    try:
        fill(ledger)
        # A cutoff inside an hour: that hour's rollup row is split between pruned and kept.
        cutoff = CUTOFF + timedelta(minutes=40)
        old = sum(r.timestamp < cutoff for r in ledger.records())
        old_outcomes = sum(o.timestamp < cutoff for o in ledger.task_outcomes())
        # Totals from the records (the cutoff is not a whole hour) and from the rollups.
        next_hour = CUTOFF + timedelta(hours=1)
        view, rolled_view = kept_view(ledger, cutoff), kept_view(ledger, next_hour)

        assert ledger.prune(cutoff, dry_run=True) == {"records": old, "outcomes": old_outcomes}
        _rollups_match_records(postgres_db_url)
        assert kept_view(ledger, cutoff) == view

        stop = threading.Event()
        written: list[CostRecord] = []

        def keep_writing() -> None:
            now = datetime.now(timezone.utc)
            while not stop.is_set():
                r = CostRecord(
                    model="gpt-4o", tenant="live", timestamp=now + timedelta(microseconds=len(written))
                )
                writer.write(r)
                written.append(r)
                if len(written) % 20 == 0:
                    writer.flush()

        thread = threading.Thread(target=keep_writing)
        thread.start()
        try:
            while len(written) < 50:  # the writer is under way before the prune starts
                threading.Event().wait(0.01)
            done = ledger.prune(cutoff, batch_size=9)
            during = len(written)
        finally:
            stop.set()
            thread.join()
        assert writer.flush()
        assert during > 50  # the writer went on while the batches ran
        assert done == {"records": old, "outcomes": old_outcomes}
        assert writer.stats.write_failures == 0
        ids = {r.request_id for r in ledger.records()}
        assert {r.request_id for r in written} <= ids  # no record of the live writer lost
        assert min(r.timestamp for r in ledger.records()) >= cutoff
        assert min(o.timestamp for o in ledger.task_outcomes()) >= cutoff
        _rollups_match_records(postgres_db_url)
        for before, since in ((view, cutoff), (rolled_view, next_hour)):
            after = kept_view(ledger, since)
            live = [r for r in after["totals"] if r["tenant"] == "live"]
            assert sum(r["calls"] for r in live) == len(written)
            assert [r for r in after["totals"] if r["tenant"] != "live"] == before["totals"]
    finally:
        writer.close()
        ledger.close()


def test_postgres_prune_cli(postgres_db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("psycopg", reason="needs the postgres extra (psycopg)")
    from llm_cost_hooks.ledger import PostgresLedger

    ledger = PostgresLedger(postgres_db_url)
    try:
        fill(ledger, days=25, per_day=2)
    finally:
        ledger.close()
    assert main(["ledger", "prune", postgres_db_url, "--before", "2026-09-21", "--dry-run"]) == 0
    assert "would delete 40 records and 20 task outcomes" in capsys.readouterr().out
    assert main(["ledger", "prune", postgres_db_url, "--before", "2026-09-21", "--batch-size", "3"]) == 0
    out = capsys.readouterr().out
    assert "deleted 40 records and 20 task outcomes" in out and "VACUUM (ANALYZE)" in out
    _rollups_match_records(postgres_db_url)
    assert main(["ledger", "prune", postgres_db_url, "--before", "not a date"]) == 2
