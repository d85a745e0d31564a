"""The same records give the same report rows on every store: an empty name groups with no
name (as PostgreSQL's hourly rollups must store it), whichever path the query takes, and rows
with equal measures come in byte order of their names, whatever collation the PostgreSQL
database was created with."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import LedgerReports, SQLiteLedger

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


def _records() -> list[CostRecord]:
    """Ties in cost between names that sort apart by case, underscore and locale; an empty
    feature and route beside none (what the handlers record for ``metadata={"feature": ""}``)."""
    rows: list[tuple[str, str | None, str | None, float]] = [
        ("beta", "x", "r1", 0.0),
        ("Acme", "x", "", 0.0),
        ("_ops", "y", None, 0.0),
        ("alpha", "", "r1", 0.0),
        ("Zeta", None, "", 0.0),
        ("acme", "", None, 0.25),
    ]
    out = []
    for i, (tenant, feature, route, cost) in enumerate(rows):
        out.append(
            CostRecord(
                model="gpt-4o-mini",
                tenant=tenant,
                feature=feature,
                route=route,
                cost_usd=cost,
                saved_usd=0.01,
                cache_status="exact" if i % 2 else "miss",
                task_id=f"task-{tenant}",
                timestamp=T0 + timedelta(minutes=10 * i),
                success=i != 1,
                error_type=None if i != 1 else "BudgetExceeded",
            )
        )
    return out


def _views(reports: LedgerReports, **window: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        "totals_tenant": reports.totals(by="tenant", **window),
        "totals_feature": reports.totals(by="feature", **window),
        "totals_route": reports.totals(by="route", **window),
        "totals_tenant_feature": reports.totals(by=["tenant", "feature"], **window),
        "tasks_tenant": reports.tasks(by="tenant", **window),
        "tasks_feature": reports.tasks(by="feature", **window),
        "cache_tenant": reports.cache_savings(by=["cache_status", "tenant"], **window),
        "series_feature": reports.timeseries("day", by="feature", **window),
        "budget": reports.budget_breaches(**window),
    }


def _sqlite_views(path: Path, **window: Any) -> dict[str, list[dict[str, Any]]]:
    ledger = SQLiteLedger(path)
    for r in _records():
        ledger.write(r)
    reports = ledger.reports()
    try:
        return _views(reports, **window)
    finally:
        reports.close()
        ledger.close()


def test_an_empty_name_is_reported_as_none(tmp_path: Path) -> None:
    views = _sqlite_views(tmp_path / "l.db")
    features = {r["feature"]: r["calls"] for r in views["totals_feature"]}
    assert features == {None: 3, "x": 2, "y": 1}
    assert {r["route"]: r["calls"] for r in views["totals_route"]} == {None: 4, "r1": 2}
    assert {r["feature"]: r["tasks"] for r in views["tasks_feature"]} == {None: 3, "x": 2, "y": 1}
    assert {r["feature"] for r in views["series_feature"]} == {None, "x", "y"}
    assert views["budget"] == [{"tenant": "Acme", "feature": "x", "calls": 1, "refused": 1, "cost_usd": 0.0}]


def test_rows_with_equal_measures_come_in_byte_order(tmp_path: Path) -> None:
    views = _sqlite_views(tmp_path / "l.db")
    assert [r["tenant"] for r in views["totals_tenant"]] == ["acme", "Acme", "Zeta", "_ops", "alpha", "beta"]


psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (psycopg)")


def _icu_database(url: str) -> str:
    """A new database on ``url``'s server sorting text by ICU's en-US rules (as a database
    created with en_US.UTF-8 does: 'Acme' < '_ops' is not byte order)."""
    name = "icu_" + uuid.uuid4().hex[:10]
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute(
                f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
            )
        except psycopg.Error as exc:  # a server built without ICU
            pytest.skip(f"cannot create an ICU database: {exc}")
    return url.rsplit("/", 1)[0] + "/" + name


def test_postgres_reports_match_sqlite_whatever_the_collation_and_window(
    postgres_db_url: str, tmp_path: Path
) -> None:
    from llm_cost_hooks.ledger._postgres import PostgresLedger

    url = _icu_database(postgres_db_url)
    ledger = PostgresLedger(url)
    for r in _records():
        ledger.write(r)
    reports = ledger.reports()
    try:
        # whole hours: totals and series read the hourly rollups; a window off the hour,
        # the records themselves; both must give SQLite's rows, in SQLite's order
        for window in (
            {},
            {"since": T0, "until": T0 + timedelta(hours=2)},
            {"since": T0 + timedelta(seconds=1)},
        ):
            pg = _views(reports, **window)
            assert pg == _sqlite_views(
                tmp_path / f"l{len(window)}{window.get('until') is None}.db", **window
            ), window
    finally:
        reports.close()
        ledger.close()


def _two_marks(ledger: Any) -> list[dict[str, Any]]:
    """A task marked failed at 10:30 in Berlin (09:30 UTC), then successful at 10:00 UTC: the
    later mark, the success, is the verdict."""
    from llm_cost_hooks.ledger import TaskOutcome

    berlin = timezone(timedelta(hours=1))
    ledger.write(CostRecord(model="gpt-4o-mini", task_id="t1", cost_usd=0.5, timestamp=T0))
    ledger.write_task(
        TaskOutcome(
            task_id="t1", success=False, source="user", timestamp=datetime(2026, 11, 1, 10, 30, tzinfo=berlin)
        )
    )
    ledger.write_task(
        TaskOutcome(task_id="t1", success=True, source="user", timestamp=T0 + timedelta(hours=1))
    )
    reports = ledger.reports()
    try:
        return reports.tasks()
    finally:
        reports.close()
        ledger.close()


def test_the_latest_mark_wins_whatever_offset_it_was_given_in(tmp_path: Path) -> None:
    rows = _two_marks(SQLiteLedger(tmp_path / "l.db"))
    assert rows[0]["successful_tasks"] == 1


def test_the_latest_mark_wins_on_postgres_as_on_sqlite(postgres_db_url: str, tmp_path: Path) -> None:
    from llm_cost_hooks.ledger._postgres import PostgresLedger

    assert _two_marks(PostgresLedger(postgres_db_url)) == _two_marks(SQLiteLedger(tmp_path / "l.db"))
