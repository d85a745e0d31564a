"""The migration's delete of outcome copies, two ways, on copies of one file of N outcomes
(one in 100 stored twice) in alternating order: grouping the whole table ("notin", a first
version) or comparing each row with the others of its task through the task_id index
("exists", kept). Each is followed by the index swap the migration does; CPU is the process's.

    python bench/results/sqlite-outcome-key-2026-12-07c/migrate_delete_ab.py N
"""

import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

T0 = datetime(2026, 12, 7, tzinfo=timezone.utc)
n = int(sys.argv[1])
rng = random.Random(7)
work = tempfile.mkdtemp()
base = os.path.join(work, "base.db")
c = sqlite3.connect(base)
c.execute(
    "CREATE TABLE task_outcomes (task_id TEXT NOT NULL, success INTEGER NOT NULL, source TEXT NOT NULL, reason TEXT, timestamp TEXT NOT NULL)"
)
c.execute("CREATE INDEX ix_outcomes_task ON task_outcomes(task_id)")
rows = [
    (
        f"{rng.getrandbits(128):032x}",
        i % 7 != 0,
        "run",
        None if i % 7 else "wrong answer",
        (T0 + timedelta(milliseconds=i)).isoformat(),
    )
    for i in range(n)
]
c.executemany("INSERT INTO task_outcomes VALUES (?,?,?,?,?)", rows)
c.executemany("INSERT INTO task_outcomes VALUES (?,?,?,?,?)", rows[::100])
c.commit()
c.close()
V = {
    "notin": "DELETE FROM task_outcomes WHERE rowid NOT IN (SELECT MIN(rowid) FROM task_outcomes GROUP BY task_id, timestamp, success, source, COALESCE(reason, ''))",
    "exists": "DELETE FROM task_outcomes WHERE EXISTS (SELECT 1 FROM task_outcomes AS b WHERE b.task_id = task_outcomes.task_id AND b.rowid < task_outcomes.rowid AND b.timestamp = task_outcomes.timestamp AND b.success = task_outcomes.success AND b.source = task_outcomes.source AND COALESCE(b.reason, '') = COALESCE(task_outcomes.reason, ''))",
}
for rep in range(2):
    for name in ["notin", "exists"] if rep % 2 == 0 else ["exists", "notin"]:
        p = os.path.join(work, f"{name}.db")
        shutil.copy(base, p)
        c = sqlite3.connect(p, isolation_level=None)
        w, t = time.perf_counter(), time.process_time()
        c.execute("BEGIN IMMEDIATE")
        c.execute(V[name])
        d1 = time.process_time() - t
        c.execute("DROP INDEX ix_outcomes_task")
        c.execute(
            "CREATE UNIQUE INDEX ux ON task_outcomes(task_id, timestamp, success, source, COALESCE(reason, ''))"
        )
        c.execute("COMMIT")
        print(
            name,
            f"delete cpu {d1:.2f} s, total cpu {time.process_time() - t:.2f} s wall {time.perf_counter() - w:.2f} s",
            c.execute("select count(*) from task_outcomes").fetchone()[0],
            os.popen("uptime").read().strip()[-40:],
        )
        c.close()
        os.remove(p)
        for s in ("-wal", "-shm"):
            if os.path.exists(p + s):
                os.remove(p + s)
os.remove(base)
shutil.rmtree(work)
