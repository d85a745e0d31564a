"""How long the migration to PostgreSQL schema 3 holds off writers of task outcomes: a
schema-2 database with N task outcomes (1 in 20 stored twice, as earlier releases did after
a lost commit), migrated by the current release. argv: N [repeats]"""

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "tests"))
sys.path.insert(0, str(HERE.parents[2]))
import psycopg  # noqa: E402
from _servers import PostgresServer  # noqa: E402

from llm_cost_hooks.ledger._postgres import migrate  # noqa: E402

n = int(sys.argv[1])
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
pg = PostgresServer(durable=True).start()
try:
    for r in range(repeats):
        url = pg.create_database(f"mig_{r}")
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn, target=2)
            conn.execute(
                'INSERT INTO task_outcomes (task_id, success, source, reason, "timestamp") '
                "SELECT 'task-' || md5(i::text), 1, 'run', NULL, "
                "timestamptz '2026-12-01' + i * interval '1 ms' FROM generate_series(1, %s) i",
                (n,),
            )
            conn.execute(
                "INSERT INTO task_outcomes SELECT * FROM task_outcomes WHERE hashtext(task_id) % 20 = 0"
            )
            conn.execute("VACUUM ANALYZE task_outcomes")
            before = conn.execute("SELECT count(*) FROM task_outcomes").fetchone()[0]
            t0 = time.perf_counter()
            migrate(conn)
            took = time.perf_counter() - t0
            after = conn.execute("SELECT count(*) FROM task_outcomes").fetchone()[0]
        print(f"run {r}: {before} outcomes -> {after} after the migration to 3: {took:.2f} s", flush=True)
finally:
    pg.close()
