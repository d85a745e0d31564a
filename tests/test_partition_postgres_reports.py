"""Reports on a PostgreSQL ledger whose server is cut off by the network (a black hole:
the connection is accepted or kept open, nothing is answered): ``llm-cost report``,
``records()`` and ``llm-cost ledger migrate`` give up within the read timeout
(``LLM_COST_HOOKS_LEDGER_READ_TIMEOUT``) with an error that says so, instead of waiting
until the kernel gives up."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _netfault import NetFault
from _servers import PostgresServer

from llm_cost_hooks import CostRecord, LedgerError
from llm_cost_hooks._settings import get_settings
from llm_cost_hooks.cli import main

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (psycopg)")

from llm_cost_hooks.ledger import _postgres  # noqa: E402
from llm_cost_hooks.ledger._postgres import PostgresLedger, migrate_url  # noqa: E402

LIMIT = 2.0  # the read timeout set for these tests (default 60 s)
SLACK = 3.0  # start-up, the proxy's polling, a loaded machine


@pytest.fixture(autouse=True)
def read_timeout(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LLM_COST_HOOKS_LEDGER_READ_TIMEOUT", f"{LIMIT:g}")
    get_settings(reload=True)
    yield
    monkeypatch.delenv("LLM_COST_HOOKS_LEDGER_READ_TIMEOUT")
    get_settings(reload=True)


@pytest.fixture
def net(postgres_server: PostgresServer, postgres_db_url: str) -> Iterator[NetFault]:
    with NetFault(postgres_server.port) as proxy:
        yield proxy


def _proxied(net: NetFault, postgres_db_url: str) -> str:
    return net.url("postgresql", "/" + postgres_db_url.rsplit("/", 1)[1]).replace("://", "://postgres@")


def _bounded(fn: Callable[[], Any], net: NetFault) -> tuple[Any, float]:
    """``fn()``'s result (or the exception it raised) and the seconds it took; fails the
    test (after healing the network, so the thread ends) if it waits past the bound."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # returned to the test
            result.append(exc)

    t = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(LIMIT + SLACK)
    took = time.monotonic() - t
    if thread.is_alive():
        net.heal()
        thread.join(30)
        pytest.fail(f"still waiting for the server after {took:.1f} s (read timeout {LIMIT:g} s)")
    return result[0], took


def test_cli_report_during_a_partition_at_connect_fails_within_the_bound(
    net: NetFault, postgres_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    net.blackhole()
    code, took = _bounded(lambda: main(["report", _proxied(net, postgres_db_url)]), net)
    assert code == 2, code
    err = capsys.readouterr().err
    assert f"did not answer within {LIMIT:g} s while connecting" in err, err
    assert "LLM_COST_HOOKS_LEDGER_READ_TIMEOUT" in err and "postgres@127.0.0.1" in err


def test_cli_report_when_the_partition_comes_after_the_connection_fails_within_the_bound(
    net: NetFault, postgres_db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _postgres.connect_for_reports

    def connect_then_partition(url: str) -> Any:
        conn = real(url)  # connected, schema checked: the queries meet the black hole
        net.blackhole()
        return conn

    monkeypatch.setattr(_postgres, "connect_for_reports", connect_then_partition)
    code, took = _bounded(lambda: main(["report", _proxied(net, postgres_db_url)]), net)
    assert code == 2, code
    err = capsys.readouterr().err
    assert f"did not answer within {LIMIT:g} s (connection closed)" in err, err
    assert took >= LIMIT  # it did wait for the answer, as long as it may


def test_records_during_a_partition_raise_a_ledger_timeout(net: NetFault, postgres_db_url: str) -> None:
    ledger = PostgresLedger(_proxied(net, postgres_db_url), background=False)
    try:
        ledger.write(CostRecord(model="gpt-4o-mini", tenant="acme", cost_usd=0.01))
        assert len(list(ledger.records())) == 1
        net.blackhole()
        error, _ = _bounded(ledger.records, net)
        assert isinstance(error, LedgerError) and isinstance(error, TimeoutError), repr(error)
        assert f"did not answer within {LIMIT:g} s" in str(error)
    finally:
        net.heal()
        ledger.close(timeout=5)


def test_migrate_during_a_partition_fails_within_the_bound(net: NetFault, postgres_db_url: str) -> None:
    net.blackhole()
    error, _ = _bounded(lambda: migrate_url(_proxied(net, postgres_db_url)), net)
    assert isinstance(error, LedgerError), repr(error)
    assert "while connecting" in str(error)
    net.heal()
    assert migrate_url(_proxied(net, postgres_db_url)) == (0, _postgres.SCHEMA_VERSION)
