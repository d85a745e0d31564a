"""Records a process killed outright never wrote are counted by the next one.

A SIGKILL (the OOM killer, a worker timeout) or ``os._exit()`` runs no exit code: what
the ledger still held is lost. Each process keeps its counts in a locked, memory-mapped
file beside the ledger; the next process opening the ledger finds the files of dead
processes whose counts differ, logs them, counts them and removes the files."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llm_cost_hooks import CostRecord
from llm_cost_hooks.cli import main
from llm_cost_hooks.ledger import SQLiteLedger, _killcount

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "_killcount_worker.py"
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX: flock, fork, SIGKILL")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "LLM_COST_HOOKS_HANDLE_SIGTERM": "false"}


def _rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM cost_records").fetchone()[0])


def _counts_files(db: Path) -> list[str]:
    d = db.with_name(db.name + ".writers")
    return sorted(n for n in os.listdir(d) if n.endswith(".counts")) if d.exists() else []


def _unwritten_lines(db: Path) -> list[dict[str, int]]:
    path = db.with_name(db.name + ".unwritten.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_child_killed_mid_stream_is_counted_by_the_next_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "costs.db"
    child = subprocess.Popen(
        [sys.executable, str(WORKER), "stream", str(db), "20", "13"],
        stdout=subprocess.PIPE,
        env=_env(),
        text=True,
    )
    try:
        assert child.stdout is not None
        said = json.loads(child.stdout.readline())
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    assert said["accepted"] == 33
    written = _rows(db)
    assert written == said["written"] == 20
    assert len(_counts_files(db)) == 1  # the killed child's

    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.ledger"):
        ledger = SQLiteLedger(db)
    try:
        assert ledger.stats.unwritten == said["accepted"] - written == 13
        warned = [r.getMessage() for r in caplog.records if f"process {said['pid']} " in r.getMessage()]
        assert len(warned) == 1 and "13 record(s) it never wrote" in warned[0]
        (line,) = _unwritten_lines(db)
        assert (line["pid"], line["accepted"], line["accounted"], line["unwritten"]) == (
            said["pid"],
            33,
            20,
            13,
        )
        assert line["maybe_written"] == 0
        # The dead child's file is gone; this process's own is the only one left.
        assert len(_counts_files(db)) == 1
    finally:
        ledger.close()
    assert _counts_files(db) == []
    # Counted once: a second start finds nothing more.
    again = SQLiteLedger(db)
    assert again.stats.unwritten == 0
    again.close()
    assert len(_unwritten_lines(db)) == 1


def test_a_clean_exit_leaves_no_counts_file(tmp_path: Path) -> None:
    db = tmp_path / "costs.db"
    out = subprocess.run(
        [sys.executable, str(WORKER), "clean", str(db), "5", "7"],
        capture_output=True,
        env=_env(),
        text=True,
        timeout=120,
        check=True,
    )
    said = json.loads(out.stdout)
    assert _rows(db) == said["accepted"] == 12  # the queued 7 written at exit
    assert _counts_files(db) == []
    ledger = SQLiteLedger(db)
    assert ledger.stats.unwritten == 0
    ledger.close()
    assert _unwritten_lines(db) == []


def test_a_forked_child_ended_with_os_exit_is_counted_alone(tmp_path: Path) -> None:
    db = tmp_path / "costs.db"
    out = subprocess.run(
        [sys.executable, str(WORKER), "fork", str(db), "6", "9"],
        capture_output=True,
        env=_env(),
        text=True,
        timeout=120,
        check=True,
    )
    said = json.loads(out.stdout)
    assert _rows(db) == 15  # the parent's 6 + 9; the child's 9 are lost
    assert len(_counts_files(db)) == 1  # the child's; the parent removed its own at exit
    ledger = SQLiteLedger(db)
    try:
        assert ledger.stats.unwritten == said["child_lost"] == 9
        assert [(e["pid"], e["unwritten"]) for e in _unwritten_lines(db)] == [(said["child"], 9)]
    finally:
        ledger.close()


def test_a_live_forked_child_does_not_hold_its_parents_lock(tmp_path: Path) -> None:
    # The child closes its copy of the parent's file: a killed parent is counted while its
    # child still runs, and the child's own file is not taken for a dead one.
    db = tmp_path / "costs.db"
    code = (
        "import os, sys, time\n"
        "from llm_cost_hooks import CostRecord\n"
        "from llm_cost_hooks.ledger import SQLiteLedger\n"
        f"l = SQLiteLedger({str(db)!r}, flush_interval=3600)\n"
        "for i in range(4): l.write(CostRecord(model='gpt-4o-mini'))\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    time.sleep(600)\n"
        "    os._exit(0)\n"
        "print(pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=_env(), text=True)
    forked = 0
    try:
        assert parent.stdout is not None
        forked = int(parent.stdout.readline())
        deadline = time.monotonic() + 30
        while len(_counts_files(db)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_counts_files(db)) == 2
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
        ledger = SQLiteLedger(db)
        try:
            assert ledger.stats.unwritten == 4
            # The child (alive, empty queue) keeps its file.
            assert len(_counts_files(db)) == 2
        finally:
            ledger.close()
    finally:
        parent.kill()
        parent.wait(30)
        if forked:
            os.kill(forked, signal.SIGKILL)


def test_a_reused_pid_is_no_sign_of_life(tmp_path: Path) -> None:
    # A killed process's pid now belongs to a live process (here: this one): the file's
    # lock, not the pid, says whether its owner is alive.
    db = tmp_path / "costs.db"
    directory = _killcount.writers_dir(db.with_name(db.name + ".dead-letter.jsonl"))
    counts = _killcount.CountsFile.create(directory)
    assert counts is not None
    counts.view[_killcount.PID] = os.getpid()
    counts.view[_killcount.ACCEPTED], counts.view[_killcount.ACCOUNTED] = 8, 3
    # While its owner holds the lock, it is alive: not counted.
    assert _killcount.collect_dead(db.with_name(db.name + ".dead-letter.jsonl")) == []
    counts.close(remove=False)  # the owner is gone (its lock with it)
    ledger = SQLiteLedger(db)
    try:
        assert ledger.stats.unwritten == 5
        assert [(e["pid"], e["unwritten"]) for e in _unwritten_lines(db)] == [(os.getpid(), 5)]
    finally:
        ledger.close()


def test_an_unusable_counts_directory_is_said_once_and_records_still_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "costs.db"
    (tmp_path / "costs.db.writers").write_text("not a directory")
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.ledger"):
        first, second = SQLiteLedger(db), SQLiteLedger(db)
    for ledger in (first, second):
        ledger.write(CostRecord(model="gpt-4o-mini"))
        assert ledger.flush()
        ledger.close()
    assert _rows(db) == 2
    said = [r.getMessage() for r in caplog.records if "cannot keep the record counts" in r.getMessage()]
    assert len(said) == 1 and str(tmp_path / "costs.db.writers") in said[0]


def test_a_missing_directory_is_made(tmp_path: Path) -> None:
    db = tmp_path / "costs.db"
    ledger = SQLiteLedger(db, dead_letter=tmp_path / "not" / "yet" / "dl.jsonl")
    try:
        assert os.listdir(tmp_path / "not" / "yet" / "dl.jsonl.writers")
    finally:
        ledger.close()
    assert os.listdir(tmp_path / "not" / "yet" / "dl.jsonl.writers") == []


def test_records_set_aside_or_failed_count_as_accounted(tmp_path: Path) -> None:
    # A store that rejects a record: set aside, so nothing is reported lost.
    db = tmp_path / "costs.db"
    ledger = SQLiteLedger(db, max_buffer=2, flush_interval=3600)
    for _ in range(5):  # 3 overflow the queue: set aside on the caller's thread
        ledger.write(CostRecord(model="gpt-4o-mini"))
    view = ledger._counts
    assert (view[_killcount.ACCEPTED], view[_killcount.ACCOUNTED]) == (5, 3)
    assert ledger.flush()
    assert (view[_killcount.ACCEPTED], view[_killcount.ACCOUNTED]) == (5, 5)
    ledger.close()


def test_report_counts_killed_processes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "costs.db"
    child = subprocess.Popen(
        [sys.executable, str(WORKER), "stream", str(db), "2", "3"],
        stdout=subprocess.PIPE,
        env=_env(),
        text=True,
    )
    try:
        assert child.stdout is not None
        json.loads(child.stdout.readline())
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    assert main(["report", str(db), "--format", "json"]) == 0
    err = capsys.readouterr().err
    assert "3 record(s) accepted by 1 process(es) killed outright were never written" in err
    assert str(db.with_name(db.name + ".unwritten.jsonl")) in err
    assert _counts_files(db) == []


def test_a_ledger_without_a_file_keeps_no_counts_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A PostgreSQL or background memory ledger has no file to put them beside; its default
    # dead-letter path is in the working directory, which is no place for a new folder.
    from llm_cost_hooks.ledger import MemoryLedger

    monkeypatch.chdir(tmp_path)
    ledger = MemoryLedger(background=True)
    ledger.write(CostRecord(model="gpt-4o-mini"))
    assert ledger.flush()
    assert os.listdir(tmp_path) == []
    ledger.close()
    # With a dead-letter file chosen for it, its counts go beside that file.
    chosen = MemoryLedger(background=True, dead_letter=tmp_path / "keep" / "dl.jsonl")
    assert len(os.listdir(tmp_path / "keep" / "dl.jsonl.writers")) == 1
    chosen.close()


def test_a_batch_in_the_store_at_the_kill_is_counted_as_maybe_written(tmp_path: Path) -> None:
    # Killed while the store holds a batch: its commit may have landed, so the count says
    # how many of the unwritten records may be in the ledger after all.
    dead_letter = tmp_path / "dl.jsonl"
    code = (
        "import time\n"
        "from llm_cost_hooks import CostRecord\n"
        "from llm_cost_hooks.ledger import MemoryLedger\n"
        "class Slow(MemoryLedger):\n"
        "    def _write_batch(self, records, outcomes):\n"
        "        time.sleep(600)\n"
        f"ledger = Slow(background=True, dead_letter={str(dead_letter)!r}, flush_interval=3600)\n"
        "for _ in range(5): ledger.write(CostRecord(model='gpt-4o-mini'))\n"
        "ledger._wake.set()\n"
        "while ledger._in_flight != 5: time.sleep(0.01)\n"
        "for _ in range(3): ledger.write(CostRecord(model='gpt-4o-mini'))\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=_env(), text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    finally:
        child.kill()
        child.wait(30)
    (entry,) = _killcount.collect_dead(dead_letter)
    assert (entry["pid"], entry["unwritten"], entry["maybe_written"]) == (child.pid, 8, 5)
    assert json.loads((tmp_path / "dl.jsonl.unwritten.jsonl").read_text())["maybe_written"] == 5


def test_a_file_left_half_made_by_a_kill_is_removed_once_old(tmp_path: Path) -> None:
    dead_letter = tmp_path / "costs.db.dead-letter.jsonl"
    directory = _killcount.writers_dir(dead_letter)
    directory.mkdir()
    old, new = directory / ".1-1.tmp", directory / ".2-2.tmp"
    old.write_bytes(b"")
    new.write_bytes(b"")
    os.utime(old, (time.time() - 120, time.time() - 120))
    assert _killcount.collect_dead(dead_letter) == []
    assert sorted(os.listdir(directory)) == [".2-2.tmp"]  # a process may be making it now
