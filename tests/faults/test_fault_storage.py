"""Storage faults: every record ends in the ledger or the dead-letter file, and is counted.

Each test runs a real process that writes records while the fault happens and exits the
normal way; the ledger's last log line must say exactly where the records went.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fault_tools import (
    CHILD,
    as_permission_bound,
    child_env,
    closed_counts,
    dead_letter_ids,
    ledger_ids,
    run_child,
    shared_dir,
    small_tmpfs,
)

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger


def rec(i: int) -> CostRecord:
    return CostRecord(
        request_id=f"r{i}", model="gpt-4o-mini", tenant="acme", input_tokens=100, output_tokens=20
    )


pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX faults (rlimit, fork, signals)")


def test_disk_full_sets_the_rest_aside(tmp_path: Path) -> None:
    # A real full disk: a 512 kB tmpfs holds the ledger (needs root; skipped otherwise,
    # test_disk_full_injected below covers the same path everywhere). The dead-letter file
    # cannot go beside the ledger either, so it goes to the temp folder (TMPDIR).
    n = 3000
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with small_tmpfs(tmp_path / "disk", "512k") as disk:
        db = str(disk / "costs.db")
        proc = run_child("fill", db, n, env=child_env(TMPDIR=str(tmp)))
        assert proc.returncode == 0, proc.stderr[-3000:]
        written, aside, path, lost = closed_counts(proc.stderr)
        in_db, in_dl = ledger_ids(db), dead_letter_ids(path)
    assert lost == 0 and aside > 0 and written > 0, proc.stderr[-2000:]
    assert written == len(in_db) and aside == len(in_dl)
    assert sorted(in_db + in_dl, key=lambda r: int(r[1:])) == [f"r{i}" for i in range(n)]
    assert Path(path).parent == tmp
    assert "disk is full" in proc.stderr


class _FullDisk(SQLiteLedger):
    """Fails like SQLite on a full disk once ``room`` records have been written."""

    def __init__(self, path: Path, room: int, **kw: object) -> None:
        self.room = room
        self.attempts = 0
        super().__init__(path, **kw)  # type: ignore[arg-type]

    def _write_batch(self, records, outcomes):  # type: ignore[no-untyped-def]
        self.attempts += 1
        if len(records) > self.room:
            raise sqlite3.OperationalError("database or disk is full")
        self.room -= len(records)
        super()._write_batch(records, outcomes)


def test_disk_full_injected(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The same fault by injection (runs without root): the store raises SQLite's own error.
    ledger = _FullDisk(tmp_path / "costs.db", room=0, flush_interval=0.01)
    for i in range(500):
        ledger.write(rec(i))
    assert ledger.flush(timeout=2.0) is False  # cannot be written; kept queued
    attempts = ledger.attempts
    assert attempts <= 10  # retried with back-off (0.1 s doubling), not thousands of times
    ledger.close(timeout=0.5)
    s = ledger.stats
    assert (s.written, s.dead_lettered, s.dropped, s.pending) == (0, 500, 0, 0)
    assert sorted(dead_letter_ids(ledger.dead_letter_path)) == sorted(f"r{i}" for i in range(500))
    assert "closed: 0 records written, 500 set aside in" in caplog.text


def test_read_only_file_mid_run(tmp_path: Path) -> None:
    d = shared_dir()
    db = os.path.join(d, "costs.db")
    n = 400
    proc = run_child("read_only", db, n, permission_bound=True, env=child_env(TMPDIR=str(tmp_path)))
    os.chmod(d, 0o777)
    assert proc.returncode == 0, proc.stderr[-3000:]
    written, aside, path, lost = closed_counts(proc.stderr)
    # The dead-letter file cannot go beside a read-only ledger: it goes to the temp folder.
    in_db, in_dl = ledger_ids(db), dead_letter_ids(path)
    assert lost == 0 and written == n // 2 and aside == n - n // 2
    assert sorted(in_db) == sorted(f"r{i}" for i in range(n // 2))
    assert sorted(in_dl) == sorted(f"r{i}" for i in range(n // 2, n))
    assert "readonly" in proc.stderr or "read-only" in proc.stderr
    assert Path(path).parent == tmp_path


def test_read_only_file_at_start_is_an_error_the_user_sees(tmp_path: Path) -> None:
    d = shared_dir()
    db = os.path.join(d, "costs.db")
    Path(db).write_bytes(b"")
    os.chmod(db, 0o444)
    os.chmod(d, 0o555)
    script = (
        "from llm_cost_hooks.ledger import SQLiteLedger\n"
        "from llm_cost_hooks import LedgerError\n"
        f"try:\n    SQLiteLedger({db!r})\nexcept LedgerError as e:\n    print('LedgerError', e)\n"
    )
    proc = subprocess.run(
        as_permission_bound([sys.executable, "-c", script]),
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )
    os.chmod(d, 0o777)
    assert proc.stdout.startswith("LedgerError Cannot open the SQLite ledger"), proc.stdout + proc.stderr


def _mid_run(mode: str, db: str, n: int) -> tuple[str, int, int, str, int]:
    """Run the child with the fault ``mode`` after half of ``n`` records; its stderr and counts."""
    proc = run_child(mode, db, n)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return (proc.stderr, *closed_counts(proc.stderr))


def test_corrupted_database_mid_run(tmp_path: Path) -> None:
    n = 400
    stderr, written, aside, path, lost = _mid_run("corrupted", str(tmp_path / "costs.db"), n)
    # The first half was written into the file that was then destroyed; the rest is set
    # aside: the replaced file is not a database.
    assert (written, aside, lost) == (n // 2, n - n // 2, 0)
    assert sorted(dead_letter_ids(path)) == sorted(f"r{i}" for i in range(n // 2, n))
    assert "not a database" in stderr


def test_deleted_file_mid_run_is_recreated(tmp_path: Path) -> None:
    db = str(tmp_path / "costs.db")
    n = 400
    stderr, written, aside, path, lost = _mid_run("deleted", db, n)
    assert (written, aside, lost) == (n, 0, 0)
    # What was queued after the file was deleted is in the new file at the same path.
    assert sorted(ledger_ids(db)) == sorted(f"r{i}" for i in range(n // 2, n))
    assert "deleted or replaced" in stderr


def test_sigterm_during_a_burst(tmp_path: Path) -> None:
    db = str(tmp_path / "costs.db")
    proc = subprocess.Popen(
        [sys.executable, CHILD, "burst", db, "200"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=str(tmp_path),
    )
    assert proc.stdout is not None
    while "bursting" not in proc.stdout.readline():
        pass
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    written, aside, path, lost = closed_counts(stderr)
    in_db, in_dl = ledger_ids(db), dead_letter_ids(path)
    assert lost == 0 and written == len(in_db) and aside == len(in_dl)
    ids = sorted(int(r[1:]) for r in in_db + in_dl)
    assert len(ids) > 1000  # the burst was under way
    assert ids == list(range(len(ids)))  # no gap: every record queued before the signal
