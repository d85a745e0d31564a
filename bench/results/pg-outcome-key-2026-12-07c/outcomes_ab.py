"""Writing a batch to the PostgreSQL ledger with task outcomes: the previous release (outcomes
COPY'd straight into task_outcomes, schema version 2) against this one (COPY into a staging
table, INSERT ... ON CONFLICT DO NOTHING against the unique key, schema version 3).
Interleaved rounds in one process, against one local server (tests/_servers.py).

    PYTHONPATH=$PWD:$PWD/tests python bench/results/pg-outcome-key-2026-12-07c/outcomes_ab.py [rounds] [records] [outcomes]
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from _servers import PostgresServer

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import TaskOutcome
from llm_cost_hooks.ledger._base import outcome_to_row, record_to_row
from llm_cost_hooks.ledger._postgres import _COLS, PostgresLedger, migrate

_OUTCOME_COLS = 'task_id, success, source, reason, "timestamp"'
_KEY = "(task_id, \"timestamp\", success, source, (COALESCE(reason, '')))"


def _records(cur: Any, rows: Any) -> int:
    # The records' path, the same in every variant.
    cur.execute(
        "CREATE TEMP TABLE IF NOT EXISTS llm_cost_staging "
        "(LIKE cost_records INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    with cur.copy(f"COPY llm_cost_staging ({_COLS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cur.execute(
        f"INSERT INTO cost_records ({_COLS}) SELECT {_COLS} FROM llm_cost_staging "
        "ON CONFLICT (request_id) DO NOTHING"
    )
    return 0


class _Previous(PostgresLedger):
    def _copy_rows(self, conn: Any, rows: Any, outcome_rows: Any) -> int:
        # The previous release: outcomes COPY'd straight into the table, one transaction.
        with conn.transaction(), conn.cursor() as cur:
            _records(cur, rows)
            with cur.copy(f"COPY task_outcomes ({_OUTCOME_COLS}) FROM STDIN") as copy:
                for row in outcome_rows:
                    copy.write_row(row)
        return 0


class _ExecuteMany(PostgresLedger):
    def _copy_rows(self, conn: Any, rows: Any, outcome_rows: Any) -> int:
        # A variant: one INSERT ... ON CONFLICT per outcome, pipelined by executemany.
        with conn.transaction(), conn.cursor() as cur:
            _records(cur, rows)
            cur.executemany(
                f"INSERT INTO task_outcomes ({_OUTCOME_COLS}) VALUES (%s, %s, %s, %s, %s) "
                f"ON CONFLICT {_KEY} DO NOTHING",
                outcome_rows,
            )
        return 0


def _batch(n_records: int, n_outcomes: int) -> tuple[list[Any], list[Any]]:
    t0 = datetime.now(timezone.utc)
    records = [record_to_row(CostRecord(model="gpt-4o-mini", task_id=f"t{i}")) for i in range(n_records)]
    outcomes = [
        outcome_to_row(
            TaskOutcome(
                task_id=uuid.uuid4().hex, success=i % 7 != 0, timestamp=t0 + timedelta(microseconds=i)
            )
        )
        for i in range(n_outcomes)
    ]
    return records, outcomes


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    n_records = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    n_outcomes = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    server = PostgresServer()
    server.start()
    try:
        import psycopg

        old_url, new_url = server.create_database("old_v2"), server.create_database("new_v3")
        many_url = server.create_database("many_v3")
        with psycopg.connect(old_url, autocommit=True) as conn:
            migrate(conn, target=2)
        ledgers = {
            "old": _Previous(old_url, background=False),
            "new": PostgresLedger(new_url, background=False),
            "executemany": _ExecuteMany(many_url, background=False),
        }
        for ledger in ledgers.values():
            ledger._send(*_batch(n_records, n_outcomes))  # warm: connection, staging tables
        times: dict[str, list[float]] = {name: [] for name in ledgers}
        names = list(ledgers)
        for i in range(rounds):
            order = names[i % 3 :] + names[: i % 3]
            for name in order:
                rows, outcomes = _batch(n_records, n_outcomes)
                t0 = time.perf_counter()
                ledgers[name]._send(rows, outcomes)
                times[name].append((time.perf_counter() - t0) * 1000)
        for name, ts in times.items():
            print(
                f"{name}: median {statistics.median(ts):.2f} ms/batch, min {min(ts):.2f}, max {max(ts):.2f}"
            )
        for name in ("new", "executemany"):
            diffs = [b - a for a, b in zip(times["old"], times[name])]
            print(
                f"{name} - old per round: median {statistics.median(diffs):+.2f} ms, min {min(diffs):+.2f}, "
                f"max {max(diffs):+.2f} ({rounds} rounds; batches of {n_records} records + {n_outcomes} outcomes)"
            )
        for ledger in ledgers.values():
            ledger.close()
    finally:
        server.close()


if __name__ == "__main__":
    main()
