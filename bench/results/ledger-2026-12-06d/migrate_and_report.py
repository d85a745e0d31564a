"""Opening a version-2 ledger of M records with this tree (the table rebuilt once), and
report queries on main's layout (main's package) against the rebuilt one (this tree's),
alternating. M records with random request ids (uuid4().hex) over the last M seconds.

Run from the repository root with main's package importable as ``llm_cost_hooks_base``
(see ../ledger-2026-12-06c/README.md); ``M`` (default 1,000,000), ``ROUNDS`` (default 3).
"""

import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/ledger-ab/basepkg"))
import llm_cost_hooks_base.ledger._stores as main_stores
from llm_cost_hooks_base.ledger import LedgerReports as MainReports
from llm_cost_hooks_base.ledger import SQLiteLedger as Main

from bench.bench_foundation import ledger_records
from llm_cost_hooks.ledger import LedgerReports, SQLiteLedger
from llm_cost_hooks.ledger._base import record_to_row

M = int(os.environ.get("M", "1000000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
tmp = tempfile.mkdtemp(prefix="migrate-")
old, new = os.path.join(tmp, "old.db"), os.path.join(tmp, "new.db")
print("load at start", os.getloadavg(), f"M={M}", flush=True)
Main(old).close()  # main's schema: version 2, primary key request_id, timestamp index
template = record_to_row(ledger_records(1)[0])
start = datetime.now(timezone.utc) - timedelta(seconds=M)
conn = sqlite3.connect(old)
for lo in range(0, M, 5000):
    rows = [
        (
            uuid.uuid4().hex,
            f"task{i // 3}",
            None,
            (start + timedelta(seconds=i)).isoformat(),
            f"t{i % 50}",
            *template[5:],
        )
        for i in range(lo, min(lo + 5000, M))
    ]
    with conn:
        conn.executemany(main_stores.INSERT_RECORD, rows)
conn.close()
shutil.copyfile(old, new)
for suffix in ("-wal", "-shm"):
    if os.path.exists(old + suffix):
        shutil.copyfile(old + suffix, new + suffix)
print(f"file of {M:,} records: {os.path.getsize(old) / 1e6:.0f} MB", flush=True)

w0, p0 = time.perf_counter(), time.process_time()
SQLiteLedger(new).close()
print(
    f"open with this tree (rebuild): {time.perf_counter() - w0:.1f} s wall, "
    f"{time.process_time() - p0:.1f} s process CPU",
    flush=True,
)
with sqlite3.connect(new) as c:
    (n,) = c.execute("SELECT COUNT(*) FROM cost_records").fetchone()
    print("rows after:", n, "version", c.execute("PRAGMA user_version").fetchone()[0], flush=True)
assert n == M
w0, p0 = time.perf_counter(), time.process_time()
SQLiteLedger(new).close()
print(f"open again: {(time.perf_counter() - w0) * 1e3:.1f} ms wall", flush=True)

since = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()
queries = {
    "totals by tenant, last day": lambda r: r.totals(by="tenant", since=since),
    "totals by tenant x day, all": lambda r: r.totals(by=["tenant", "day"]),
    "tasks, all": lambda r: r.tasks(),
}
res: dict[tuple[str, str], list[float]] = {}
for rnd in range(ROUNDS):
    sides = [("main", MainReports, old), ("new", LedgerReports, new)]
    for side, cls, path in sides if rnd % 2 == 0 else sides[::-1]:
        reports = cls.open(path)
        for name, q in queries.items():
            p0 = time.process_time()
            out = q(reports)
            res.setdefault((side, name), []).append(time.process_time() - p0)
        print(f"round {rnd} {side} done ({len(out)} task rows)", flush=True)
for name in queries:
    m, b = statistics.median(res[("main", name)]), statistics.median(res[("new", name)])
    print(f"{name}: main {m * 1e3:.0f} ms CPU, this tree {b * 1e3:.0f} ms CPU ({b / m:.2f}x)")
shutil.rmtree(tmp)
print("load at end", os.getloadavg())
