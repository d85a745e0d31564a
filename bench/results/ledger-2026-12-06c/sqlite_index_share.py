"""What each index adds to a row's SQLite insert: the ledger's table with no index
(``heap``), with the timestamp index only (``heap_ts``), with the request_id key only
(``pk``) and as the ledger has it (``main``: key and timestamp index); the foundation
bench's rows with time-ordered (uuid7) and random (uuid4) request ids, batches of 5,000,
WAL, synchronous=NORMAL, 3 rounds in turn, medians of insert CPU per row."""

import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.getcwd())
from uuid_utils.compat import uuid7

from bench.bench_foundation import ledger_records
from llm_cost_hooks.ledger import _stores as S
from llm_cost_hooks.ledger._base import record_to_row

N = 100_000
base = [record_to_row(r) for r in ledger_records(N)]
rows = {
    "uuid7": [(str(uuid7()),) + r[1:] for r in base],
    "uuid4": [(uuid.uuid4().hex,) + r[1:] for r in base],
}


def run(variant: str, data: list[tuple[object, ...]]) -> float:
    folder = tempfile.mkdtemp()
    conn = sqlite3.connect(os.path.join(folder, "x.db"))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    create = S.CREATE_RECORDS
    if variant in ("heap", "heap_ts"):
        create = create.replace(" PRIMARY KEY", "")
    conn.execute(create)
    if variant in ("heap_ts", "main"):
        conn.execute("CREATE INDEX ix_t ON cost_records(timestamp)")
    conn.commit()
    c0 = time.thread_time()
    for s in range(0, N, 5000):
        with conn:
            S._insert_rows(conn, data[s : s + 5000])
    cpu = (time.thread_time() - c0) / N * 1e6
    conn.close()
    shutil.rmtree(folder)
    return cpu


print("load at start", os.getloadavg(), flush=True)
for ids, data in rows.items():
    res: dict[str, list[float]] = {v: [] for v in ("heap", "heap_ts", "pk", "main")}
    for _ in range(3):
        for v in res:
            res[v].append(run(v, data))
    print(ids, ", ".join(f"{v} {statistics.median(x):.2f}" for v, x in res.items()), "us/row", flush=True)
print("load at end", os.getloadavg())
