"""The fleet ledger on a PostgreSQL server that stops answering: a backend process that
hangs (SIGSTOP) after the writer's connection is open is given up after a deadline and
the writer goes on over a new connection; a server that never answers the login does not
hold up the constructor (the user's start-up)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from _servers import PostgresServer

from llm_cost_hooks import CostRecord

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (psycopg)")

from llm_cost_hooks.ledger._postgres import PostgresLedger  # noqa: E402


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    if not postgres_server.running:
        postgres_server.start()
    return postgres_server.create_database("h_" + uuid.uuid4().hex[:12])


def _writer_backends(url: str) -> set[int]:
    """The PIDs of the server processes connected as the ledger writer to ``url``'s database."""
    dbname = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'llm-cost-hooks' AND datname = %s",
            (dbname,),
        ).fetchall()
    return {int(pid) for (pid,) in rows}


@pytest.mark.parametrize("when", ["between batches", "inside a batch"])
def test_a_backend_that_hangs_is_given_up_and_the_records_land_over_a_new_connection(
    pg_url: str, when: str
) -> None:
    ledger = PostgresLedger(pg_url, connect_timeout=2.0)
    ledger._answer_timeout = 5.0  # the default (30 s) is too long to wait for; a loaded box answers within it
    first = [CostRecord(model="gpt-4o-mini", tenant="acme", cost_usd=0.01) for _ in range(50)]
    for r in first:
        ledger.write(r)
    assert ledger.flush(timeout=30), ledger.stats
    (backend,) = _writer_backends(pg_url)
    if when == "between batches":
        os.kill(backend, signal.SIGSTOP)  # the server's process for our connection hangs
    else:  # after the connection check answered, before the COPY
        copy_rows = ledger._copy_rows

        def hang_then_copy(*args: Any) -> int:
            if not hung:
                hung.append(backend)
                os.kill(backend, signal.SIGSTOP)
            return copy_rows(*args)

        hung: list[int] = []
        ledger._copy_rows = hang_then_copy  # type: ignore[method-assign]
    try:
        during = [CostRecord(model="gpt-4o", tenant="acme", cost_usd=0.02) for _ in range(200)]
        for r in during:
            ledger.write(r)
        # The hung backend stays hung: the writer must not wait for it.
        assert ledger.flush(timeout=30), ledger.stats
        stats = ledger.stats
        assert stats.written == len(first) + len(during) and stats.dropped == 0
        assert _writer_backends(pg_url) - {backend}  # written over a new connection
        if when == "inside a batch":
            assert stats.write_failures == 1 and "did not answer within 5 s" in (stats.last_error or "")
    finally:
        os.kill(backend, signal.SIGCONT)
    ledger.close()
    with psycopg.connect(pg_url) as conn:
        total, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT request_id) FROM cost_records"
        ).fetchone()
        rolled = conn.execute("SELECT SUM(calls) FROM cost_rollup_hour").fetchone()[0]
    assert total == distinct == rolled == len(first) + len(during)


# Ledgers made against the black hole: stopped when it closes, so no writer thread
# outlives its test and logs its failed retries into later tests' captured warnings.
_AGAINST_BLACK_HOLE: list[PostgresLedger] = []

_CONNECT_THREAD = "llm-cost-hooks-PostgresLedger-connect"


def _connecting(before: set[threading.Thread]) -> list[threading.Thread]:
    """The first-connection threads of ledgers made since ``before`` still under way."""
    return [t for t in threading.enumerate() if t.name == _CONNECT_THREAD and t not in before]


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port whose socket listens and never accepts: the kernel completes the TCP
    handshake and takes the startup packet; no server ever answers it."""
    before = set(threading.enumerate())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        made = list(_AGAINST_BLACK_HOLE)
        _AGAINST_BLACK_HOLE.clear()
        for ledger in made:
            ledger._closed = True  # no exit-time flush against the closed port
            ledger._wake.set()
        sock.close()  # resets the connections waiting in it: the writers' logins fail now
        for ledger in made:
            if ledger._thread is not None:
                ledger._thread.join(15.0)
                assert not ledger._thread.is_alive(), "a ledger's writer did not stop"
        # The first connections too: each one ends, or says its failure, within this test.
        for thread in _connecting(before):
            thread.join(15.0)
            assert not thread.is_alive(), "a ledger's first connection did not end"


def test_the_constructor_does_not_wait_for_a_server_that_never_answers(black_hole: int) -> None:
    url = f"postgresql://postgres@127.0.0.1:{black_hole}/nowhere"
    made: list[PostgresLedger] = []
    # connect_timeout far above the bound: a constructor that tries to connect waits it out.
    maker = threading.Thread(
        target=lambda: made.append(PostgresLedger(url, connect_timeout=60.0)), daemon=True
    )
    maker.start()
    maker.join(10.0)
    assert made, "PostgresLedger() waited for the server at start-up"
    ledger = made[0]
    try:
        ledger.write(CostRecord(model="gpt-4o-mini"))  # kept, not lost
        assert ledger.stats.pending == 1 and ledger.stats.dropped == 0
    finally:
        _AGAINST_BLACK_HOLE.append(ledger)


def test_a_fork_right_after_the_ledger_is_made_does_not_wait_for_the_server(black_hole: int) -> None:
    """A pre-fork server loads the app (and makes the ledger), then starts its workers:
    neither the constructor nor the fork waits for the writer's first connection."""
    url = f"postgresql://postgres@127.0.0.1:{black_hole}/nowhere"
    made: list[PostgresLedger] = []
    forked = threading.Event()

    def start_app() -> None:
        made.append(PostgresLedger(url, connect_timeout=60.0))
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        forked.set()
        os.waitpid(pid, 0)

    threading.Thread(target=start_app, daemon=True).start()
    try:
        # A fork waits for a writer inside the store for up to 10 s.
        assert forked.wait(8.0), "the constructor or os.fork() waited for the server"
    finally:
        _AGAINST_BLACK_HOLE.extend(made)


def test_closing_with_nothing_to_write_does_not_wait_for_the_first_connection(black_hole: int) -> None:
    """A short process with nothing written (or everything flushed) exits at once, not when
    a server that never answers has timed out."""
    ledger = PostgresLedger(f"postgresql://postgres@127.0.0.1:{black_hole}/nowhere", connect_timeout=60.0)
    _AGAINST_BLACK_HOLE.append(ledger)
    closer = threading.Thread(target=lambda: ledger.close(timeout=30.0), daemon=True)
    closer.start()
    closer.join(8.0)
    assert not closer.is_alive(), "close() waited for the server"
    assert ledger.stats.dropped == ledger.stats.dead_lettered == 0


def test_the_writer_connection_has_keepalives_and_a_user_timeout_unless_the_url_sets_them(
    pg_url: str,
) -> None:
    """The kernel gives up on a server lost on the network after about 30 s, not after
    its default two hours of idle (keepalive) or ~15 minutes of retransmissions."""
    ledger = PostgresLedger(pg_url + "?keepalives_idle=45")
    try:
        ledger.write(CostRecord(model="gpt-4o-mini"))
        assert ledger.flush(timeout=30)
        with ledger._conn_lock:
            conn = ledger._connection()
            sock = socket.socket(fileno=os.dup(conn.fileno()))
        try:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 45  # the URL's
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 10
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 30_000
        finally:
            sock.close()  # a duplicate descriptor: the connection stays open
    finally:
        ledger.close()


def test_a_first_connection_failing_after_close_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    """close() does not wait for a server that never answers the login; when that first
    connection fails afterwards, the closed ledger says nothing more: its close already
    said where every record went, and a warning then would reach whatever the process
    does next (the user's later logs)."""
    before = set(threading.enumerate())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    ledger = None
    try:
        ledger = PostgresLedger(f"postgresql://postgres@127.0.0.1:{port}/nowhere", connect_timeout=60.0)
        for _ in range(500):  # the writer starts the first connection as it starts
            if _connecting(before) and ledger._conn_lock.locked():
                break
            threading.Event().wait(0.01)
        ledger.close(timeout=5.0)
        (connecting,) = _connecting(before)  # still waiting for the server
        with caplog.at_level(logging.DEBUG, logger="llm_cost_hooks"):
            sock.close()  # the login fails now
            connecting.join(15.0)
            assert not connecting.is_alive(), "the first connection did not end"
        about_it = [r for r in caplog.records if f":{port}/" in r.getMessage()]
        assert about_it, "the failure is still there at DEBUG"
        assert [r.getMessage() for r in about_it if r.levelno >= logging.WARNING] == []
    finally:
        sock.close()
        if ledger is not None and ledger._thread is not None:
            ledger._thread.join(15.0)
