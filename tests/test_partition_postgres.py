"""The PostgreSQL ledger with its server black-holed (a network partition: connections
accepted or kept open, nothing answered) through a TCP proxy: ``write`` never waits, the
writer gives up on the silent connection within its answer timeout and retries, records
land once after the heal, and ``close()`` during the partition returns within its timeout
with every record set aside and counted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _netfault import NetFault
from _servers import PostgresServer

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import replay_dead_letters

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (psycopg)")

from llm_cost_hooks.ledger._postgres import PostgresLedger  # noqa: E402

# Small timeouts set here (the defaults are 30 s and 5 s): each test takes seconds.
ANSWER, CONNECT = 0.5, 1.0


@pytest.fixture
def net(postgres_server: PostgresServer, postgres_db_url: str) -> Iterator[NetFault]:
    with NetFault(postgres_server.port) as proxy:
        yield proxy


def _ledger(net: NetFault, postgres_db_url: str, tmp_path: Path) -> PostgresLedger:
    url = net.url("postgresql", "/" + postgres_db_url.rsplit("/", 1)[1]).replace("://", "://postgres@")
    ledger = PostgresLedger(url, connect_timeout=CONNECT, dead_letter=tmp_path / "dead.jsonl")
    ledger._answer_timeout = ANSWER
    return ledger


def _rows(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        total, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT request_id) FROM cost_records"
        ).fetchone()
    return total, distinct


def _records(n: int) -> list[CostRecord]:
    return [CostRecord(model="gpt-4o-mini", tenant="acme", cost_usd=0.01) for _ in range(n)]


@pytest.mark.parametrize("replies_only", [False, True], ids=["both ways", "replies lost"])
def test_records_written_during_a_partition_land_once_after_the_heal(
    net: NetFault, postgres_db_url: str, tmp_path: Path, replies_only: bool
) -> None:
    ledger = _ledger(net, postgres_db_url, tmp_path)
    for r in _records(20):
        ledger.write(r)
    assert ledger.flush(timeout=30), ledger.stats
    net.blackhole(replies=replies_only)
    t = time.monotonic()
    for r in _records(30):
        ledger.write(r)
    assert time.monotonic() - t < 0.5  # write never touches the network
    assert not ledger.flush(timeout=ANSWER + 0.5)
    # The writer gives up on the silent connection within the answer timeout (then a new
    # connection within connect_timeout) and says so.
    deadline = time.monotonic() + ANSWER + CONNECT + 3
    while ledger.stats.write_failures == 0:
        assert time.monotonic() < deadline, "the writer did not notice the partition"
        time.sleep(0.05)
    assert ledger.stats.pending == 30 and ledger.stats.dropped == 0
    net.heal()
    assert ledger.flush(timeout=30), ledger.stats
    ledger.close()
    stats = ledger.stats
    assert stats.written + stats.duplicates == 50 and stats.dropped == stats.dead_lettered == 0
    assert _rows(postgres_db_url) == (50, 50)


def test_close_during_a_partition_returns_in_time_and_sets_every_record_aside(
    net: NetFault, postgres_db_url: str, tmp_path: Path
) -> None:
    ledger = _ledger(net, postgres_db_url, tmp_path)
    for r in _records(20):
        ledger.write(r)
    assert ledger.flush(timeout=30), ledger.stats
    net.blackhole()
    for r in _records(30):
        ledger.write(r)
    time.sleep(0.3)  # the writer is inside the batch, waiting for the server
    t = time.monotonic()
    ledger.close(timeout=0.5)
    assert time.monotonic() - t < 0.5 + 0.5
    stats = ledger.stats
    assert stats.dead_lettered == 30 and stats.dropped == 0
    net.heal()
    if ledger._thread is not None:  # the batch it was in, delivered late or given up
        ledger._thread.join(ANSWER + CONNECT + 5)
        assert not ledger._thread.is_alive()
    # Loading what was set aside adds each record once, whatever the writer did after.
    target = PostgresLedger(postgres_db_url)
    try:
        assert replay_dead_letters(tmp_path / "dead.jsonl", target) == 30
        assert target.flush(timeout=30)
    finally:
        target.close()
    assert _rows(postgres_db_url) == (50, 50)
