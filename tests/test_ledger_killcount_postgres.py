"""A PostgreSQL ledger has no file to keep counts beside: it keeps them, and its default
dead-letter file, in a per-user state folder named by the ledger (server, database, user),
so a worker killed outright is counted by the next process of the same ledger only."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from llm_cost_hooks import CostRecord
from llm_cost_hooks.cli import main
from llm_cost_hooks.ledger import PostgresLedger, replay_dead_letters

pytest.importorskip("psycopg")

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "_killcount_worker.py"
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX: flock, fork, SIGKILL")


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    monkeypatch.setenv("LLM_COST_HOOKS_STATE_DIR", str(folder))
    return folder


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "LLM_COST_HOOKS_HANDLE_SIGTERM": "false"}


def _rows(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT COUNT(*) FROM cost_records").fetchone()
        assert row is not None
        return int(row[0])


def _ledger_dirs(state: Path) -> list[Path]:
    base = state / "ledgers"
    return sorted(base.iterdir()) if base.exists() else []


def _counts_files(folder: Path) -> list[str]:
    d = folder / "llm_costs.writers"
    return sorted(n for n in os.listdir(d) if n.endswith(".counts")) if d.exists() else []


def _kill_mid_stream(url: str, cwd: Path, written: int, queued: int) -> dict[str, int]:
    child = subprocess.Popen(
        [sys.executable, str(WORKER), "stream", url, str(written), str(queued)],
        stdout=subprocess.PIPE,
        env=_env(),
        cwd=cwd,
        text=True,
    )
    try:
        assert child.stdout is not None
        said: dict[str, int] = json.loads(child.stdout.readline())
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    return said


def test_a_worker_killed_mid_stream_is_counted_by_the_next_process_of_that_ledger_only(
    postgres_server: object,
    postgres_db_url: str,
    state: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    said = _kill_mid_stream(postgres_db_url, work, 20, 13)
    assert said["accepted"] == 33
    assert _rows(postgres_db_url) == said["written"] == 20
    (folder,) = _ledger_dirs(state)
    assert len(_counts_files(folder)) == 1  # the killed child's
    assert os.listdir(work) == []  # nothing in the working directory

    # Another database on the same server: another folder, nothing counted there.
    other_url = postgres_server.create_database("t_" + uuid.uuid4().hex[:12])  # type: ignore[attr-defined]
    other = PostgresLedger(other_url)
    try:
        assert other.stats.unwritten == 0
        assert len(_ledger_dirs(state)) == 2
        assert len(_counts_files(folder)) == 1  # the child's file is left to its own ledger
    finally:
        other.close()

    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.ledger"):
        ledger = PostgresLedger(postgres_db_url)
    try:
        assert ledger.stats.unwritten == said["accepted"] - said["written"] == 13
        warned = [r.getMessage() for r in caplog.records if f"process {said['pid']} " in r.getMessage()]
        assert len(warned) == 1 and "13 record(s) it never wrote" in warned[0]
        lines = (folder / "llm_costs.unwritten.jsonl").read_text().splitlines()
        assert [(e["pid"], e["unwritten"]) for e in map(json.loads, lines)] == [(said["pid"], 13)]
        assert len(_counts_files(folder)) == 1  # this process's own
    finally:
        ledger.close()
    assert _counts_files(folder) == []
    assert os.listdir(work) == []


def test_report_counts_killed_workers_of_a_postgres_ledger(
    postgres_db_url: str, state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    said = _kill_mid_stream(postgres_db_url, tmp_path, 4, 3)
    assert said["accepted"] == 7
    assert main(["report", postgres_db_url, "--format", "json"]) == 0
    err = capsys.readouterr().err
    assert "3 record(s) accepted by 1 process(es) killed outright were never written" in err
    (folder,) = _ledger_dirs(state)
    assert str(folder / "llm_costs.unwritten.jsonl") in err
    assert _counts_files(folder) == []


def test_the_state_folder_is_named_by_server_database_and_user_never_the_password(
    postgres_db_url: str, state: Path
) -> None:
    from llm_cost_hooks.ledger._postgres import state_dead_letter_path

    with_password = postgres_db_url.replace("@", ":secret-pw@", 1)  # postgresql://user:pw@host
    path = state_dead_letter_path(postgres_db_url)
    assert path is not None
    assert state_dead_letter_path(with_password) == path  # same ledger, same folder
    assert state_dead_letter_path(postgres_db_url + "?sslmode=disable") == path
    assert state_dead_letter_path(postgres_db_url + "x") != path
    assert "secret" not in str(path)


def test_records_set_aside_go_to_the_state_folder_and_replay_from_there(
    postgres_db_url: str,
    state: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    ledger = PostgresLedger(postgres_db_url)
    try:
        (folder,) = _ledger_dirs(state)
        assert ledger.dead_letter_path == folder / "llm_costs.dead-letter.jsonl"
        assert ledger._set_aside([CostRecord(model="gpt-4o-mini", request_id="r1")], [], reason="test")
        assert ledger.stats.dead_letter_path == str(ledger.dead_letter_path)
    finally:
        with caplog.at_level(logging.INFO, logger="llm_cost_hooks.ledger"):
            ledger.close()
    closed = [r.getMessage() for r in caplog.records if "closed:" in r.getMessage()]
    assert closed and str(folder / "llm_costs.dead-letter.jsonl") in closed[-1]
    assert main(["report", postgres_db_url, "--format", "json"]) == 0
    assert f"set aside in {folder / 'llm_costs.dead-letter.jsonl'}" in capsys.readouterr().err
    again = PostgresLedger(postgres_db_url)
    try:
        assert replay_dead_letters(folder / "llm_costs.dead-letter.jsonl", again) == 1
    finally:
        again.close()
    assert _rows(postgres_db_url) == 1
    assert "llm_costs.dead-letter.jsonl" not in os.listdir(tmp_path)


def test_an_earlier_versions_dead_letter_file_in_the_working_directory_is_kept(
    postgres_db_url: str, state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    old = work / "llm_costs.dead-letter.jsonl"
    old.write_text("")
    ledger = PostgresLedger(postgres_db_url)
    try:
        assert ledger.dead_letter_path == old
        # The counts still go to the ledger's state folder, not the working directory.
        (folder,) = _ledger_dirs(state)
        assert len(_counts_files(folder)) == 1
        assert os.listdir(work) == ["llm_costs.dead-letter.jsonl"]
    finally:
        ledger.close()


def test_a_home_where_nothing_can_be_made_is_said_once_and_records_still_written(
    postgres_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A read-only home (a file where the folder would be: refused to root too).
    (tmp_path / "home").write_text("")
    monkeypatch.delenv("LLM_COST_HOOKS_STATE_DIR", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.ledger"):
        ledgers = [PostgresLedger(postgres_db_url) for _ in range(2)]
    try:
        said = [r.getMessage() for r in caplog.records if "cannot keep the record counts" in r.getMessage()]
        assert len(said) == 1 and str(tmp_path / "home") in said[0]
        ledgers[0].write(CostRecord(model="gpt-4o-mini"))
        assert ledgers[0].flush(30)
        assert ledgers[0].stats.written == 1
    finally:
        for ledger in ledgers:
            ledger.close()
    assert _rows(postgres_db_url) == 1
    assert sorted(os.listdir(tmp_path)) == ["home"]


def test_no_home_at_all_is_said_once_and_records_still_written(
    postgres_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from llm_cost_hooks.ledger import _base

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("LLM_COST_HOOKS_STATE_DIR", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    monkeypatch.setattr(_base, "_warned_no_state_dir", [])
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.ledger"):
        ledgers = [PostgresLedger(postgres_db_url) for _ in range(2)]
    try:
        said = [r.getMessage() for r in caplog.records if "no home directory" in r.getMessage()]
        assert len(said) == 1 and "LLM_COST_HOOKS_STATE_DIR" in said[0]
        ledgers[0].write(CostRecord(model="gpt-4o-mini"))
        assert ledgers[0].flush(30)
    finally:
        for ledger in ledgers:
            ledger.close()
    assert _rows(postgres_db_url) == 1
    assert os.listdir(tmp_path) == []  # no counts in the working directory
