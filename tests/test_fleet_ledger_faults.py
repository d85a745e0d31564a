"""The fleet ledger when PostgreSQL will not take records: a login the server refuses is
an error that names the cause (not an outage to wait out), and the warnings say how much
is waiting."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

import pytest
from _ledger_doubles import stop_writer
from _servers import PostgresServer

from llm_cost_hooks import CostRecord

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (psycopg)")

from llm_cost_hooks.ledger._postgres import PostgresLedger  # noqa: E402


@pytest.mark.parametrize("what", ["database", "role"])
def test_a_login_the_server_refuses_is_an_error_naming_the_cause_not_an_outage(
    postgres_server: PostgresServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, what: str
) -> None:
    port = postgres_server.port
    url = (
        f"postgresql://postgres:pw@127.0.0.1:{port}/no_such_db_{uuid.uuid4().hex[:6]}"
        if what == "database"
        else f"postgresql://no_such_role:pw@127.0.0.1:{port}/postgres"
    )
    dead_letter = tmp_path / "set-aside.jsonl"
    caplog.set_level(logging.WARNING, logger="llm_cost_hooks.ledger")
    t0 = time.monotonic()
    ledger = PostgresLedger(url, connect_timeout=1.0, dead_letter=dead_letter)
    assert time.monotonic() - t0 < 10  # starts, no hang
    try:
        # Said by the writer's first connection, as the ledger starts; this ledger's line
        # names its dead-letter file (another test's ledger may be logging meanwhile).
        def said() -> list[logging.LogRecord]:
            return [
                r
                for r in caplog.records
                if "start-up" in r.getMessage() and str(dead_letter) in r.getMessage()
            ]

        while not said() and time.monotonic() - t0 < 30:
            time.sleep(0.02)
        start_up = said()
        assert start_up and start_up[0].levelno == logging.ERROR
        message = start_up[0].getMessage()
        assert "does not exist" in message and "Check the user, password and database" in message
        assert str(dead_letter) in message and ":pw@" not in message
        # The writer's error names the server's answer, not only "no connection in 1 s".
        ledger.write(CostRecord(model="gpt-4o-mini"))
        assert not ledger.flush(timeout=4)
        stats = ledger.stats
        assert stats.pending == 1 and stats.write_failures >= 1
        assert stats.last_error is not None and "does not exist" in stats.last_error
    finally:
        stop_writer(ledger)


def test_the_write_failure_warning_counts_every_record_waiting(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    from _servers import free_port

    port = free_port()
    url = f"postgresql://postgres@127.0.0.1:{port}/nowhere"
    ledger = PostgresLedger(url, connect_timeout=1.0, flush_interval=30.0)
    try:
        caplog.set_level(logging.WARNING, logger="llm_cost_hooks.ledger")
        for _ in range(7):
            ledger.write(CostRecord(model="gpt-4o-mini"))
        ledger._batch_size = 3  # the first failed batch holds 3 of the 7
        assert not ledger.flush(timeout=4)
        said = [r.getMessage() for r in caplog.records if "write failed" in r.getMessage()]
        failed = [m for m in said if f":{port}/" in m]  # this ledger's, not another's retrying
        assert failed and "7 records queued" in failed[0], failed
        assert "Connection refused" in (ledger.stats.last_error or "")
    finally:
        stop_writer(ledger)
