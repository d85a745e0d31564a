"""Copy into tests/ and run with pytest (it needs the PostgreSQL fixture): the migration
test's steps 25 times. Before the flush() fix, flush() returned while the batch of task
outcomes (and the 2 -> 3 migration before it) was still being written."""

import uuid

import psycopg
import pytest
from test_ledger_postgres import pg, sample_records  # noqa: F401

from llm_cost_hooks.ledger import TaskOutcome
from llm_cost_hooks.ledger._base import outcome_to_row
from llm_cost_hooks.ledger._postgres import SCHEMA_VERSION, PostgresLedger, migrate, schema_version


@pytest.mark.parametrize("i", range(25))
def test_mig(pg, i) -> None:  # noqa: F811
    pg_url = pg.create_database("t_" + uuid.uuid4().hex[:12])
    _, outcomes = sample_records(40)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert migrate(conn, target=2) == (0, 2)
        with conn.cursor() as cur:
            cur.executemany(
                'INSERT INTO task_outcomes (task_id, success, source, reason, "timestamp") '
                "VALUES (%s, %s, %s, %s, %s)",
                [outcome_to_row(o) for o in outcomes * 2 + outcomes[:1]],
            )
    ledger = PostgresLedger(pg_url)
    try:
        later = TaskOutcome(task_id=outcomes[0].task_id, success=False, source="user", reason=None)
        ledger.write_task(later)
        ledger.write_task(outcomes[1])
        assert ledger.flush(30.0)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            v = schema_version(conn)
            n = conn.execute("SELECT COUNT(*) FROM task_outcomes").fetchone()[0]
        assert (v, n) == (SCHEMA_VERSION, len(outcomes) + 1), ledger.stats
    finally:
        ledger.close()
