"""Upgrading a fleet over a PostgreSQL ledger written by an earlier release: the old
schema is made here from the SQL that release ran, not from an old wheel."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from _servers import PostgresServer

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import TaskOutcome

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (psycopg)")

from llm_cost_hooks.ledger._postgres import (  # noqa: E402
    SCHEMA_VERSION,
    PostgresLedger,
    migrate,
    schema_version,
)

# The schema of releases before task outcomes had a key (PostgreSQL schema 2), as they
# created it: the tables, their indexes, the rollups and their trigger.
_SCHEMA_2 = (
    (
        "CREATE TABLE IF NOT EXISTS llm_cost_schema (version INTEGER NOT NULL, applied_at "
        "TIMESTAMPTZ NOT NULL DEFAULT now())"
    ),
    (
        'CREATE TABLE IF NOT EXISTS cost_records ("request_id" TEXT PRIMARY KEY, "task_id" TEXT, '
        '"parent_id" TEXT, "timestamp" TIMESTAMPTZ NOT NULL, "tenant" TEXT, "user" TEXT, '
        '"feature" TEXT, "route" TEXT, "prompt_version" TEXT, "provider" TEXT, "model" TEXT NOT '
        'NULL, "input_tokens" BIGINT, "output_tokens" BIGINT, "cache_read_tokens" BIGINT, '
        '"cache_write_tokens" BIGINT, "reasoning_tokens" BIGINT, "cost_usd" DOUBLE PRECISION, '
        '"cost_input" DOUBLE PRECISION, "cost_cache_read" DOUBLE PRECISION, "cost_cache_write" '
        'DOUBLE PRECISION, "cost_output" DOUBLE PRECISION, "cost_reasoning" DOUBLE PRECISION, '
        '"currency" TEXT, "saved_usd" DOUBLE PRECISION, "cache_status" TEXT, "latency_ms" DOUBLE '
        'PRECISION, "success" INTEGER, "error_type" TEXT, "attempt" INTEGER, "tags" TEXT, '
        '"tokens_estimated" INTEGER, "price_estimated" INTEGER)'
    ),
    (
        "CREATE TABLE IF NOT EXISTS task_outcomes (task_id TEXT NOT NULL, success INTEGER NOT "
        'NULL, source TEXT NOT NULL, reason TEXT, "timestamp" TIMESTAMPTZ NOT NULL)'
    ),
    ("CREATE INDEX IF NOT EXISTS ix_records_task ON cost_records (task_id)"),
    ('CREATE INDEX IF NOT EXISTS ix_records_time ON cost_records ("timestamp")'),
    ("CREATE INDEX IF NOT EXISTS ix_outcomes_task ON task_outcomes (task_id)"),
    (
        "CREATE TABLE IF NOT EXISTS cost_rollup_hour (hour TIMESTAMP NOT NULL, tenant TEXT NOT "
        "NULL, feature TEXT NOT NULL, model TEXT NOT NULL, calls BIGINT, input_tokens BIGINT, "
        "output_tokens BIGINT, cache_read_tokens BIGINT, reasoning_tokens BIGINT, cost_usd DOUBLE"
        " PRECISION, saved_usd DOUBLE PRECISION, errors BIGINT, cache_hits BIGINT, retry_cost_usd"
        " DOUBLE PRECISION, tokens_estimated INTEGER, price_estimated INTEGER, PRIMARY KEY (hour,"
        " tenant, feature, model))"
    ),
    (
        "CREATE OR REPLACE FUNCTION llm_cost_rollup_insert() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN INSERT INTO cost_rollup_hour AS r (hour, tenant, feature, model, calls, "
        "input_tokens, output_tokens, cache_read_tokens, reasoning_tokens, cost_usd, saved_usd, "
        "errors, cache_hits, retry_cost_usd, tokens_estimated, price_estimated) SELECT "
        "date_trunc('hour', \"timestamp\" AT TIME ZONE 'UTC'), COALESCE(tenant, ''), "
        "COALESCE(feature, ''), COALESCE(model, ''), COUNT(*), SUM(input_tokens), "
        "SUM(output_tokens), SUM(cache_read_tokens), SUM(reasoning_tokens), SUM(cost_usd), "
        "SUM(saved_usd), SUM(CASE WHEN success = 0 THEN 1 ELSE 0 END), SUM(CASE WHEN cache_status"
        " <> 'miss' THEN 1 ELSE 0 END), SUM(CASE WHEN attempt > 1 THEN cost_usd ELSE 0 END), "
        "MAX(tokens_estimated), MAX(price_estimated) FROM new_rows GROUP BY 1, 2, 3, 4 ORDER BY "
        "1, 2, 3, 4 ON CONFLICT (hour, tenant, feature, model) DO UPDATE SET calls = "
        "COALESCE(r.calls, 0) + COALESCE(EXCLUDED.calls, 0), input_tokens = "
        "COALESCE(r.input_tokens, 0) + COALESCE(EXCLUDED.input_tokens, 0), output_tokens = "
        "COALESCE(r.output_tokens, 0) + COALESCE(EXCLUDED.output_tokens, 0), cache_read_tokens = "
        "COALESCE(r.cache_read_tokens, 0) + COALESCE(EXCLUDED.cache_read_tokens, 0), "
        "reasoning_tokens = COALESCE(r.reasoning_tokens, 0) + COALESCE(EXCLUDED.reasoning_tokens,"
        " 0), cost_usd = COALESCE(r.cost_usd, 0) + COALESCE(EXCLUDED.cost_usd, 0), saved_usd = "
        "COALESCE(r.saved_usd, 0) + COALESCE(EXCLUDED.saved_usd, 0), errors = COALESCE(r.errors, "
        "0) + COALESCE(EXCLUDED.errors, 0), cache_hits = COALESCE(r.cache_hits, 0) + "
        "COALESCE(EXCLUDED.cache_hits, 0), retry_cost_usd = COALESCE(r.retry_cost_usd, 0) + "
        "COALESCE(EXCLUDED.retry_cost_usd, 0), tokens_estimated = GREATEST(r.tokens_estimated, "
        "EXCLUDED.tokens_estimated), price_estimated = GREATEST(r.price_estimated, "
        "EXCLUDED.price_estimated); RETURN NULL; END $$"
    ),
    ("DROP TRIGGER IF EXISTS llm_cost_rollup_insert ON cost_records"),
    (
        "CREATE TRIGGER llm_cost_rollup_insert AFTER INSERT ON cost_records REFERENCING NEW TABLE"
        " AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION llm_cost_rollup_insert()"
    ),
    ("DELETE FROM cost_rollup_hour"),
    (
        "INSERT INTO cost_rollup_hour AS r (hour, tenant, feature, model, calls, input_tokens, "
        "output_tokens, cache_read_tokens, reasoning_tokens, cost_usd, saved_usd, errors, "
        "cache_hits, retry_cost_usd, tokens_estimated, price_estimated) SELECT date_trunc('hour',"
        " \"timestamp\" AT TIME ZONE 'UTC'), COALESCE(tenant, ''), COALESCE(feature, ''), "
        "COALESCE(model, ''), COUNT(*), SUM(input_tokens), SUM(output_tokens), "
        "SUM(cache_read_tokens), SUM(reasoning_tokens), SUM(cost_usd), SUM(saved_usd), SUM(CASE "
        "WHEN success = 0 THEN 1 ELSE 0 END), SUM(CASE WHEN cache_status <> 'miss' THEN 1 ELSE 0 "
        "END), SUM(CASE WHEN attempt > 1 THEN cost_usd ELSE 0 END), MAX(tokens_estimated), "
        "MAX(price_estimated) FROM cost_records GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 ON "
        "CONFLICT (hour, tenant, feature, model) DO UPDATE SET calls = COALESCE(r.calls, 0) + "
        "COALESCE(EXCLUDED.calls, 0), input_tokens = COALESCE(r.input_tokens, 0) + "
        "COALESCE(EXCLUDED.input_tokens, 0), output_tokens = COALESCE(r.output_tokens, 0) + "
        "COALESCE(EXCLUDED.output_tokens, 0), cache_read_tokens = COALESCE(r.cache_read_tokens, "
        "0) + COALESCE(EXCLUDED.cache_read_tokens, 0), reasoning_tokens = "
        "COALESCE(r.reasoning_tokens, 0) + COALESCE(EXCLUDED.reasoning_tokens, 0), cost_usd = "
        "COALESCE(r.cost_usd, 0) + COALESCE(EXCLUDED.cost_usd, 0), saved_usd = "
        "COALESCE(r.saved_usd, 0) + COALESCE(EXCLUDED.saved_usd, 0), errors = COALESCE(r.errors, "
        "0) + COALESCE(EXCLUDED.errors, 0), cache_hits = COALESCE(r.cache_hits, 0) + "
        "COALESCE(EXCLUDED.cache_hits, 0), retry_cost_usd = COALESCE(r.retry_cost_usd, 0) + "
        "COALESCE(EXCLUDED.retry_cost_usd, 0), tokens_estimated = GREATEST(r.tokens_estimated, "
        "EXCLUDED.tokens_estimated), price_estimated = GREATEST(r.price_estimated, "
        "EXCLUDED.price_estimated)"
    ),
)


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    if not postgres_server.running:
        postgres_server.start()
    return postgres_server.create_database("t_" + uuid.uuid4().hex[:12])


def _make_schema_2(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        for stmt in _SCHEMA_2:
            conn.execute(stmt)
        conn.execute("INSERT INTO llm_cost_schema (version) VALUES (1), (2)")
        conn.execute(
            'INSERT INTO cost_records (request_id, "timestamp", model, cost_usd) '
            "VALUES ('old-1', now(), 'gpt-4o-mini', 0.5)"
        )


def test_an_app_role_that_may_not_migrate_says_so_and_writes_once_the_owner_has(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The application's role may only read and insert; the database is still at the schema
    # of the release before. The new release cannot write until the owner migrates: an error
    # naming the command to run, not a warning that the server is "not reachable".
    _make_schema_2(pg_url)
    role = "app_" + uuid.uuid4().hex[:8]
    database = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        # The grants docs/fleet.md gives an application role.
        conn.execute(f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {role}")
        conn.execute(f"GRANT UPDATE ON cost_rollup_hour TO {role}")
        conn.execute(f"GRANT TEMPORARY ON DATABASE {database} TO {role}")
    app_url = pg_url.replace("postgres@", f"{role}@", 1)
    ledger = None
    try:
        with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.ledger"):
            ledger = PostgresLedger(app_url, dead_letter=tmp_path / "dead-letter.jsonl")
            for _ in range(5):
                ledger.write(CostRecord(model="gpt-4o-mini", task_id="t1", cost_usd=0.001))
            ledger.write_task(TaskOutcome(task_id="t1", success=True, source="user"))
            deadline = time.monotonic() + 20
            while ledger.stats.write_failures == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            start_up = [
                r
                for r in caplog.records
                if "start-up" in r.getMessage() or "cannot be used" in r.getMessage()
            ]
            assert len(start_up) == 1 and start_up[0].levelno == logging.ERROR, start_up
            said = start_up[0].getMessage()
            assert f"schema version 2, this llm-cost-hooks writes version {SCHEMA_VERSION}" in said
            assert "llm-cost ledger migrate" in said and "not reachable" not in said
            assert ledger.stats.written == 0 and ledger.stats.pending == 5
            # The owner migrates; the writer's next try goes through.
            with psycopg.connect(pg_url, autocommit=True) as conn:
                assert migrate(conn) == (2, SCHEMA_VERSION)
            assert ledger.flush(timeout=20)
        ledger.close()
        assert ledger.stats.written == 5 and ledger.stats.dead_lettered == 0
        with psycopg.connect(pg_url, autocommit=True) as conn:
            assert schema_version(conn) == SCHEMA_VERSION
            assert conn.execute("SELECT COUNT(*) FROM cost_records").fetchone()[0] == 6
            assert conn.execute("SELECT COUNT(*) FROM task_outcomes").fetchone()[0] == 1
            assert conn.execute("SELECT SUM(calls) FROM cost_rollup_hour").fetchone()[0] == 6
    finally:
        if ledger is not None:
            ledger.close()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_a_role_that_may_only_read_reports_from_a_database_of_the_schema_before(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A dashboard's read-only role, with the new release, while the fleet's database is
    # still at the schema before: reports raised the server's refusal of the migration.
    from llm_cost_hooks.ledger import LedgerReports

    _make_schema_2(pg_url)
    role = "reader_" + uuid.uuid4().hex[:8]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.ledger"):
            reports = LedgerReports.open(pg_url.replace("postgres@", f"{role}@", 1))
        try:
            (totals,) = reports.totals()
        finally:
            reports.close()
        assert totals["calls"] == 1 and totals["cost_usd"] == pytest.approx(0.5)
        (said,) = [r.getMessage() for r in caplog.records]
        assert "schema version 2" in said and "llm-cost ledger migrate" in said
        with psycopg.connect(pg_url, autocommit=True) as conn:
            assert schema_version(conn) == 2  # read as it is, nothing changed
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


_WRITER = """
import os, sys, time
from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import PostgresLedger, TaskOutcome
url, name, go = sys.argv[1:4]
while not os.path.exists(go):
    time.sleep(0.01)
ledger = PostgresLedger(url, dead_letter=go + "." + name + ".jsonl")
for i in range(50):
    ledger.write(CostRecord(request_id=f"{name}-{i}", task_id=f"{name}-t{i % 5}", model="m", cost_usd=0.01))
for t in range(5):
    ledger.write_task(TaskOutcome(task_id=f"{name}-t{t}", success=True))
ledger.close()
s = ledger.stats
print(s.written, s.dead_lettered, s.dropped)
"""


@pytest.mark.parametrize("start", ["empty", "schema 2"])
def test_processes_starting_at_once_migrate_once_and_all_write(
    pg_url: str, tmp_path: Path, start: str
) -> None:
    if start == "schema 2":
        _make_schema_2(pg_url)
    go = tmp_path / "go"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, pg_url, f"p{i}", str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        for i in range(4)
    ]
    time.sleep(1.0)  # every interpreter up, waiting for the same moment
    if start == "empty":
        go.touch()
    else:
        # Hold the outcomes table until all four are inside their migration (version 3
        # waits for it): each would add version 3 without the advisory lock between them.
        with psycopg.connect(pg_url) as holder:
            holder.execute("LOCK TABLE task_outcomes IN SHARE MODE")
            go.touch()
            waiting = 0
            deadline = time.monotonic() + 60
            while waiting < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
                with psycopg.connect(pg_url, autocommit=True) as watch:
                    waiting = watch.execute(
                        "SELECT COUNT(*) FROM pg_stat_activity "
                        "WHERE application_name = 'llm-cost-hooks' AND wait_event_type = 'Lock'"
                    ).fetchone()[0]
            assert waiting == 4
            holder.commit()
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        assert out.split() == ["50", "0", "0"], err[-2000:]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM llm_cost_schema ORDER BY version")]
        assert versions == list(range(1, SCHEMA_VERSION + 1))  # each applied once
        old = 1 if start == "schema 2" else 0
        assert conn.execute("SELECT COUNT(DISTINCT request_id), COUNT(*) FROM cost_records").fetchone() == (
            200 + old,
            200 + old,
        )
        assert conn.execute("SELECT COUNT(*) FROM task_outcomes").fetchone()[0] == 20
        assert conn.execute("SELECT SUM(calls) FROM cost_rollup_hour").fetchone()[0] == 200 + old
