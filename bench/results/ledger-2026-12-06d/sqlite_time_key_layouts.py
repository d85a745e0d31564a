"""SQLite insert CPU per row (the writer's statements alone, no Python record work) for three
layouts, alternating rounds in one process: ``main`` (main's schema: rowid table, TEXT
PRIMARY KEY request_id, timestamp index), ``time_key`` (this tree's: rowid table, one
UNIQUE index on (timestamp, request_id)) and ``time_key_wr`` (a WITHOUT ROWID table whose
PRIMARY KEY is (timestamp, request_id): one b-tree per insert).

Each layout and id kind keeps one file filled (untimed) with PREFILL older rows in time
order; every round adds N rows with later timestamps in batches of B per transaction (WAL,
synchronous=NORMAL, the ledger's multi-row INSERT OR REPLACE statements).
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
import llm_cost_hooks_base.ledger._stores as M

from bench.bench_foundation import _time_ordered_id, ledger_records
from llm_cost_hooks.ledger import _stores as S
from llm_cost_hooks.ledger._base import record_to_row

N = int(os.environ.get("N", "100000"))
B = int(os.environ.get("B", "5000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
PREFILL = int(os.environ.get("PREFILL", "1000000"))
LAYOUTS = os.environ.get("LAYOUTS", "main,time_key,time_key_wr").split(",")
IDS = os.environ.get("IDS", "time-ordered,random").split(",")
template = record_to_row(ledger_records(1)[0])
tmp = tempfile.mkdtemp(prefix="layouts-")


def schema(conn: sqlite3.Connection, layout: str) -> None:
    if layout == "main":
        stmts = (M.CREATE_RECORDS, M.CREATE_OUTCOMES, *M.CREATE_INDEXES)
    elif layout == "time_key":
        stmts = (S.CREATE_RECORDS, S.CREATE_OUTCOMES, *S.CREATE_INDEXES)
    else:
        cols = S._RECORDS_COLUMNS_SQL
        stmts = (
            f"CREATE TABLE cost_records ({cols}, PRIMARY KEY (timestamp, request_id)) WITHOUT ROWID",
            S.CREATE_OUTCOMES,
            S.CREATE_INDEXES[1],
        )
    for stmt in stmts:
        conn.execute(stmt)
    conn.commit()


def rows(ids: str, n: int, start: datetime, step: timedelta) -> list[tuple[object, ...]]:
    out = []
    for i in range(n):
        rid = str(_time_ordered_id()) if ids == "time-ordered" else uuid.uuid4().hex
        out.append((rid, f"task{i // 3}", None, (start + step * i).isoformat(), *template[4:]))
    return out


def insert(conn: sqlite3.Connection, batch_rows: list[tuple[object, ...]]) -> None:
    for s in range(0, len(batch_rows), B):
        with conn:
            S._insert_rows(conn, batch_rows[s : s + B])


print("load at start", os.getloadavg(), f"N={N} B={B} PREFILL={PREFILL} ROUNDS={ROUNDS}", flush=True)
conns: dict[tuple[str, str], sqlite3.Connection] = {}
now = datetime.now(timezone.utc)
for ids in IDS:
    for layout in LAYOUTS:
        conn = sqlite3.connect(os.path.join(tmp, f"{layout}-{ids}.db"))
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        schema(conn, layout)
        t0 = time.perf_counter()
        for lo in range(0, PREFILL, 100_000):
            start = now - timedelta(days=2) + timedelta(milliseconds=lo)
            insert(conn, rows(ids, min(100_000, PREFILL - lo), start, timedelta(milliseconds=1)))
        print(f"prefilled {layout} {ids} in {time.perf_counter() - t0:.0f}s", flush=True)
        conns[(layout, ids)] = conn
res: dict[tuple[str, str], list[float]] = {k: [] for k in conns}
for r in range(ROUNDS):
    for ids in IDS:
        timed = rows(ids, N, now + timedelta(hours=r), timedelta(microseconds=20))
        order = LAYOUTS if r % 2 == 0 else LAYOUTS[::-1]
        for layout in order:
            c0 = time.thread_time()
            insert(conns[(layout, ids)], timed)
            res[(layout, ids)].append((time.thread_time() - c0) / N * 1e6)
            print(f"round {r} {ids} {layout}: {res[(layout, ids)][-1]:.2f} us/row CPU", flush=True)
for (layout, ids), conn in conns.items():
    (count,) = conn.execute("SELECT COUNT(*) FROM cost_records").fetchone()
    assert count == PREFILL + ROUNDS * N, (layout, ids, count)
    conn.close()
for ids in IDS:
    for layout in LAYOUTS:
        m = statistics.median(res[(layout, ids)])
        print(f"{ids} {layout}: median {m:.2f} us/row = {1e6 / m:,.0f} rows per CPU-second", flush=True)
shutil.rmtree(tmp)
print("load at end", os.getloadavg())
