"""Records a fleet's ledger set aside while PostgreSQL was away go back in with the
command that copies a pod's file: once, however often it is run."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from _servers import PostgresServer

from llm_cost_hooks import CostRecord

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (psycopg)")

from llm_cost_hooks.ledger._postgres import PostgresLedger  # noqa: E402


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    if not postgres_server.running:
        postgres_server.start()
    return postgres_server.create_database("t_" + uuid.uuid4().hex[:12])


def test_records_set_aside_during_an_outage_are_copied_in_once_by_the_cli(
    postgres_server: PostgresServer, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from llm_cost_hooks.cli import main

    dead_letter = tmp_path / "llm_costs.dead-letter.jsonl"
    with postgres_server.down():
        ledger = PostgresLedger(pg_url, connect_timeout=1.0, dead_letter=dead_letter)
        records = [CostRecord(model="gpt-4o-mini", tenant=f"t{i % 3}", cost_usd=0.001) for i in range(25)]
        for r in records:
            ledger.write(r)
        ledger.close(timeout=2.0)  # PostgreSQL is down: everything is set aside
        assert ledger.stats.dead_lettered == 25 and ledger.stats.dropped == 0
    lines = dead_letter.read_text().splitlines()
    assert len(lines) == 25 and all("record" in json.loads(line) for line in lines)
    # The fleet's way back in: the same command that copies a pod's file.
    assert main(["ledger", "copy", str(dead_letter), pg_url]) == 0
    assert "copied 25 records (25 new)" in capsys.readouterr().out
    assert main(["ledger", "copy", str(dead_letter), pg_url]) == 0
    assert "copied 25 records (0 new)" in capsys.readouterr().out
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT COUNT(*), COUNT(DISTINCT request_id), SUM(cost_usd) FROM cost_records")
        count, distinct, cost = rows.fetchone()
        rolled = conn.execute("SELECT SUM(calls) FROM cost_rollup_hour").fetchone()[0]
    assert count == distinct == rolled == 25 and cost == pytest.approx(0.025)
    assert {r.request_id for r in records} == {json.loads(line)["record"]["request_id"] for line in lines}


def test_a_dead_letter_file_with_task_outcomes_gives_back_its_records_too(
    postgres_server: PostgresServer, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What a process refused by the database (its server down, or a schema newer than its
    # release) sets aside at exit holds task outcomes beside the records. Outcome lines read
    # the same in a JSONL ledger, so the file was taken for a damaged JSONL ledger: the
    # outcomes were copied and every record skipped as "not whole".
    from llm_cost_hooks.cli import main
    from llm_cost_hooks.ledger import TaskOutcome

    dead_letter = tmp_path / "llm_costs.dead-letter.jsonl"
    with postgres_server.down():
        ledger = PostgresLedger(pg_url, connect_timeout=1.0, dead_letter=dead_letter)
        for i in range(20):
            ledger.write(CostRecord(model="gpt-4o-mini", task_id=f"task{i // 10}", cost_usd=0.001))
        for t in range(2):
            ledger.write_task(TaskOutcome(task_id=f"task{t}", success=True, source="user"))
        ledger.close(timeout=2.0)
        assert ledger.stats.dead_lettered == 20
    assert main(["ledger", "copy", str(dead_letter), pg_url]) == 0
    captured = capsys.readouterr()
    assert "copied 20 records (20 new) and 2 task outcomes (2 new)" in captured.out
    assert "not whole" not in captured.err
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM cost_records").fetchone()[0] == 20
        assert conn.execute("SELECT COUNT(*) FROM task_outcomes").fetchone()[0] == 2


def test_a_file_that_is_neither_ledger_nor_dead_letter_is_a_clear_cli_error(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from llm_cost_hooks.cli import main

    junk = tmp_path / "notes.jsonl"
    junk.write_text('{"hello": 1}\n')
    assert main(["ledger", "copy", str(junk), pg_url]) == 2
    assert "neither a JSONL ledger nor a dead-letter file" in capsys.readouterr().err
