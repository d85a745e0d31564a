"""Ledger files a process was writing when it was killed: the whole records stay readable.

A crash (SIGKILL, an OOM kill, a power loss) can leave a JSONL ledger or a dead-letter
file ending in half a line, and the next process appends after it. Readers skip such
lines, count them and say so once; appends start on a new line."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from llm_cost_hooks import CostRecord
from llm_cost_hooks.cli import main
from llm_cost_hooks.ledger import JSONLLedger, LedgerReports, SQLiteLedger, replay_dead_letters
from llm_cost_hooks.ledger._base import TaskOutcome

ROOT = Path(__file__).resolve().parents[1]


def _rec(i: int, **kw: object) -> CostRecord:
    return CostRecord(
        request_id=f"r{i}", model="gpt-4o-mini", input_tokens=100, output_tokens=10, cost_usd=0.001, **kw
    )


def _lines(n: int, start: int = 0) -> bytes:
    return b"".join(_rec(i).model_dump_json().encode() + b"\n" for i in range(start, start + n))


def _torn(i: int) -> bytes:
    whole = _rec(i).model_dump_json().encode()
    return whole[: len(whole) // 2]


def test_a_torn_last_line_is_skipped_counted_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "costs.jsonl"
    path.write_bytes(_lines(3) + _torn(3))
    ledger = JSONLLedger(path, background=False)
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.ledger"):
        records = ledger.records()
    assert [r.request_id for r in records] == ["r0", "r1", "r2"]
    assert ledger.damaged_lines == 1
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    warned = [m for m in said if str(path) in m]  # this ledger's, not another test's thread's
    assert len(warned) == 1 and "line 4" in warned[0]


def test_a_torn_line_in_the_middle_does_not_hide_the_lines_after_it(tmp_path: Path) -> None:
    # What an append after a crash produced before appends started on a new line: the
    # fragment and the next record on one line, then whole lines.
    path = tmp_path / "costs.jsonl"
    path.write_bytes(_lines(2) + _torn(2) + _lines(1, 3) + _lines(2, 4) + b"\xff\xfe\n")
    ledger = JSONLLedger(path, background=False)
    assert [r.request_id for r in ledger.records()] == ["r0", "r1", "r4", "r5"]
    assert ledger.damaged_lines == 2


def test_an_append_after_a_torn_line_starts_on_a_new_line(tmp_path: Path) -> None:
    path = tmp_path / "costs.jsonl"
    path.write_bytes(_lines(2) + _torn(2))
    ledger = JSONLLedger(path, background=False)
    ledger.write(_rec(10))
    ledger.write_task(TaskOutcome(task_id="t1", success=True, source="mark"))
    assert ledger.flush()
    assert [r.request_id for r in ledger.records()] == ["r0", "r1", "r10"]
    assert [o.task_id for o in ledger.task_outcomes()] == ["t1"]
    assert ledger.damaged_lines == 1  # only the fragment itself
    ledger.close()


def test_report_reads_a_torn_ledger_and_says_how_many_lines_it_set_aside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "costs.jsonl"
    path.write_bytes(_lines(3) + _torn(3))
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.ledger"):
        assert main(["report", str(path), "--show", "totals", "--format", "json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["totals"][0]["calls"] == 3
    # Said once: the reader's warning (path, count and line numbers), not printed again.
    said = [r.getMessage() for r in caplog.records if "not whole records" in r.getMessage()]
    assert len(said) == 1 and "not whole records" not in out.err
    assert str(path) in said[0] and "1 line(s)" in said[0] and "line 4" in said[0]
    report = LedgerReports.open(path)
    assert report.damaged_lines == 1 and report.totals()[0]["calls"] == 3
    report.close()


def test_a_file_with_no_record_at_all_is_still_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "costs.jsonl"
    path.write_bytes(b"\x89PNG\r\n\x1a\n binary\n")
    assert main(["report", str(path)]) == 2
    assert "is not a readable llm-cost-hooks JSONL ledger" in capsys.readouterr().err


def _dead_line(i: int) -> bytes:
    return json.dumps(
        {"record": _rec(i).model_dump(mode="json"), "reason": "x", "set_aside_at": "now"}
    ).encode()


def test_replay_skips_a_torn_dead_letter_line_and_replays_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = tmp_path / "dead.jsonl"
    torn = _dead_line(2)[:70]
    dead.write_bytes(
        _dead_line(0)
        + b"\n"
        + _dead_line(1)
        + b"\n"
        + torn
        + _dead_line(3)
        + b"\n"
        + _dead_line(4)
        + b"\n"
        + torn
    )
    target = SQLiteLedger(tmp_path / "replayed.db")
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.ledger"):
        assert replay_dead_letters(dead, target) == 3
    assert sorted(r.request_id for r in target.records()) == ["r0", "r1", "r4"]
    warned = [r.getMessage() for r in caplog.records if "dead-letter lines" in r.getMessage()]
    assert len(warned) == 1 and "line 3, 5" in warned[0] and str(dead) in warned[0]
    target.close()


def test_records_set_aside_after_a_torn_dead_letter_line_start_on_a_new_line(tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    dead.write_bytes(_dead_line(0) + b"\n" + _dead_line(1)[:50])
    ledger = SQLiteLedger(tmp_path / "costs.db", dead_letter=dead, background=False)
    ledger._set_aside([_rec(7), _rec(8)], [], reason="test")
    ledger.close()
    target = SQLiteLedger(tmp_path / "replayed.db")
    assert replay_dead_letters(dead, target) == 3
    assert sorted(r.request_id for r in target.records()) == ["r0", "r7", "r8"]
    target.close()


_SQLITE_WRITER = """
import sys
from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger
ledger = SQLiteLedger(sys.argv[1])
i = 0
while True:
    for _ in range(500):
        ledger.write(CostRecord(request_id=f"r{i}", model="gpt-4o-mini", input_tokens=9, output_tokens=1))
        i += 1
    if ledger.flush(30.0):
        print(ledger.stats.written, flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_sqlite_writer_killed_mid_batch_loses_no_confirmed_record(tmp_path: Path) -> None:
    db = tmp_path / "costs.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _SQLITE_WRITER, str(db)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    confirmed = [int(proc.stdout.readline()) for _ in range(4)]  # killed while writing the fifth
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    again = SQLiteLedger(db)
    again.write(_rec(10**6))
    assert again.flush()
    readable = {r.request_id for r in again.records()}
    again.close()
    assert {f"r{i}" for i in range(confirmed[-1])} <= readable and "r1000000" in readable


def test_copy_from_a_torn_jsonl_ledger_copies_the_whole_records_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from llm_cost_hooks.ledger._copy import copy_ledger

    src = tmp_path / "costs.jsonl"
    src.write_bytes(_lines(3) + _torn(3))
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.ledger"):
        counts = copy_ledger(src, tmp_path / "costs.db")
    assert counts["records"] == 3 and counts["records_added"] == 3
    assert len([r for r in caplog.records if "not whole records" in r.getMessage()]) == 1
