"""What opening a version 3 file costs once: the copies of outcomes deleted and the key built.

    PYTHONPATH=$PWD python bench/results/sqlite-outcome-key-2026-12-07c/migrate_cost.py OUTCOMES [RECORDS]

The file holds OUTCOMES task outcomes (one in 100 stored twice, as a replay left them) and
RECORDS records, with the tables and indexes of version 3; the time is that of the first
SQLiteLedger(path) (wall and process CPU).
"""

from __future__ import annotations

import random
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from llm_cost_hooks.ledger import SQLiteLedger

T0 = datetime(2026, 12, 7, tzinfo=timezone.utc)


def main() -> None:
    outcomes = int(sys.argv[1])
    records = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "v3.db"
        with sqlite3.connect(path) as conn:
            conn.execute(
                "CREATE TABLE cost_records (request_id TEXT NOT NULL, task_id TEXT, timestamp TEXT NOT NULL, "
                "model TEXT, cost_usd REAL)"
            )
            conn.execute(
                "CREATE TABLE task_outcomes (task_id TEXT NOT NULL, success INTEGER NOT NULL, "
                "source TEXT NOT NULL, reason TEXT, timestamp TEXT NOT NULL)"
            )
            conn.execute("CREATE UNIQUE INDEX ux_records_time_request ON cost_records(timestamp, request_id)")
            conn.execute("CREATE INDEX ix_outcomes_task ON task_outcomes(task_id)")
            conn.executemany(
                "INSERT INTO cost_records VALUES (?, ?, ?, 'gpt-4o-mini', 0.001)",
                (
                    (
                        f"{rng.getrandbits(128):032x}",
                        f"{rng.getrandbits(128):032x}",
                        (T0 + timedelta(milliseconds=i)).isoformat(),
                    )
                    for i in range(records)
                ),
            )
            rows = [
                (
                    f"{rng.getrandbits(128):032x}",
                    i % 7 != 0,
                    "run",
                    None if i % 7 else "wrong answer",
                    (T0 + timedelta(milliseconds=i)).isoformat(),
                )
                for i in range(outcomes)
            ]
            conn.executemany("INSERT INTO task_outcomes VALUES (?, ?, ?, ?, ?)", rows)
            conn.executemany("INSERT INTO task_outcomes VALUES (?, ?, ?, ?, ?)", rows[::100])
            conn.execute("PRAGMA user_version = 3")
        conn.close()
        w0, c0 = time.perf_counter(), time.process_time()
        SQLiteLedger(path, background=False).close()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        with sqlite3.connect(path) as conn:
            left = conn.execute("SELECT COUNT(*) FROM task_outcomes").fetchone()[0]
        conn.close()
    print(
        f"{outcomes} outcomes + {len(rows[::100])} copies, {records} records: opened in {wall:.2f} s wall, "
        f"{cpu:.2f} s CPU; {left} outcomes left"
    )


if __name__ == "__main__":
    main()
