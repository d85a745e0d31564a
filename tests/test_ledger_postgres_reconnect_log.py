"""A PostgreSQL ledger whose server stops answering between batches says so: one warning
per outage naming the server (password hidden) when the writer's connection check finds the
connection dead, one info line when writes resume, and no line per batch in between."""

from __future__ import annotations

import logging
import os
import signal
import threading
import uuid

import pytest
from _servers import PostgresServer

from llm_cost_hooks import CostRecord

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (psycopg)")

from llm_cost_hooks.ledger._postgres import PostgresLedger  # noqa: E402


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    if not postgres_server.running:
        postgres_server.start()
    url = postgres_server.create_database("r_" + uuid.uuid4().hex[:12])
    # The test server trusts local logins: a password in the URL is ignored by it, and must
    # not reach the log.
    return url.replace("@", ":s3cret-pw@", 1)


def _writer_backend(url: str) -> int:
    dbname = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        ((pid,),) = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'llm-cost-hooks' AND datname = %s",
            (dbname,),
        ).fetchall()
    return int(pid)


def test_a_hung_server_caught_at_the_connection_check_is_logged_once_and_its_recovery_too(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = PostgresLedger(pg_url, connect_timeout=2.0, batch_size=20)
    ledger._answer_timeout = 5.0  # the default (30 s) is too long to wait for; a loaded box answers within it
    for _ in range(20):
        ledger.write(CostRecord(model="gpt-4o-mini", tenant="acme", cost_usd=0.01))
    assert ledger.flush(timeout=30), ledger.stats
    backend = _writer_backend(pg_url)
    os.kill(backend, signal.SIGSTOP)  # the server's process for our connection hangs
    try:
        with caplog.at_level(logging.INFO, logger="llm_cost_hooks"):
            for _ in range(200):  # ten batches
                ledger.write(CostRecord(model="gpt-4o", tenant="acme", cost_usd=0.02))
            assert ledger.flush(timeout=30), ledger.stats
            for _ in range(100):  # five more, on the new connection
                ledger.write(CostRecord(model="gpt-4o", tenant="acme", cost_usd=0.02))
            assert ledger.flush(timeout=30), ledger.stats
    finally:
        os.kill(backend, signal.SIGCONT)
    stats = ledger.stats
    assert stats.written == 320 and stats.dropped == 0 and stats.write_failures == 0
    ours = [r for r in caplog.records if r.name.startswith("llm_cost_hooks")]
    warnings = [r.getMessage() for r in ours if r.levelno >= logging.WARNING]
    infos = [r.getMessage() for r in ours if r.levelno == logging.INFO]
    # This ledger's lines name its database; another test's ledger may still be retrying.
    database = pg_url.rsplit("/", 1)[1]
    outage = [m for m in warnings if "stopped answering" in m and database in m]
    assert len(outage) == 1, warnings  # once per outage, not once per batch
    (warning,) = outage
    assert "reconnecting" in warning
    assert pg_url.split(":s3cret-pw@")[1] in warning  # names the server
    assert "s3cret-pw" not in warning and ":***@" in warning
    resumed_lines = [m for m in infos if "PostgreSQL ledger" in m and database in m]
    assert len(resumed_lines) == 1, infos
    (resumed,) = resumed_lines
    assert "writes resumed" in resumed and "s3cret-pw" not in resumed
    ledger.close()


def test_a_healthy_server_logs_nothing(pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    ledger = PostgresLedger(pg_url, connect_timeout=2.0, batch_size=20)
    assert ledger._thread is not None
    # Said by this ledger: on this thread or its writer, or naming its database (its first
    # connection); not by another test's ledger still retrying on its own thread.
    here = {threading.get_ident(), ledger._thread.ident}
    database = pg_url.rsplit("/", 1)[1]
    with caplog.at_level(logging.INFO, logger="llm_cost_hooks"):
        for _ in range(100):
            ledger.write(CostRecord(model="gpt-4o-mini", tenant="acme", cost_usd=0.01))
        assert ledger.flush(timeout=30), ledger.stats
    ledger.close()
    assert not [
        r
        for r in caplog.records
        if r.name.startswith("llm_cost_hooks")
        and r.levelno >= logging.INFO
        and (r.thread in here or database in r.getMessage())
    ]
