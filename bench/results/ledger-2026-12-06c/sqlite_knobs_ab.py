"""SQLite insert CPU per row under settings that keep the documented durability (WAL,
synchronous=NORMAL), alternating rounds in one process; rows as in sqlite_key_ab.py.

Variants: ``main`` (this release's schema and settings), ``page8k`` / ``page16k`` (a
larger page size for a new file), ``ckpt10k`` (wal_autocheckpoint 10,000 pages), ``page16k_ckpt10k`` (both),
``no_time_index`` (the timestamp index left out: what that index costs), ``ignore``
(INSERT OR IGNORE in place of OR REPLACE)."""

import os
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

N = int(os.environ.get("N", "100000"))
B = int(os.environ.get("B", "5000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
VARIANTS = os.environ.get("VARIANTS", "main,page8k,page16k,ckpt10k,no_time_index,ignore").split(",")
IDS = os.environ.get("IDS", "uuid7,uuid4").split(",")


def make_rows(ids: str) -> list[tuple[object, ...]]:
    rows = [record_to_row(r) for r in ledger_records(N)]
    new = (lambda: str(uuid7())) if ids == "uuid7" else (lambda: uuid.uuid4().hex)
    return [(new(),) + r[1:] for r in rows]


COMMIT: dict[str, list[float]] = {}


def run(variant: str, rows: list[tuple[object, ...]]) -> float:
    import sqlite3

    path = os.path.join(tempfile.mkdtemp(), "x.db")
    conn = sqlite3.connect(path)
    if variant.startswith("page"):
        conn.execute(f"PRAGMA page_size={8192 if variant.startswith('page8k') else 16384}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    if variant.endswith("ckpt10k"):
        conn.execute("PRAGMA wal_autocheckpoint=10000")
    conn.execute(S.CREATE_RECORDS)
    conn.execute(S.CREATE_OUTCOMES)
    if variant != "no_time_index":
        conn.execute(S.CREATE_INDEXES[0])
    conn.commit()
    saved = dict(S._INSERT_ROWS), S.INSERT_RECORD
    if variant == "ignore":
        for k, v in S._INSERT_ROWS.items():
            S._INSERT_ROWS[k] = v.replace("OR REPLACE", "OR IGNORE")
        S.INSERT_RECORD = S.INSERT_RECORD.replace("OR REPLACE", "OR IGNORE")
    try:
        commit = 0.0
        c0 = time.thread_time()
        for s in range(0, N, B):
            conn.execute("BEGIN")
            S._insert_rows(conn, rows[s : s + B])
            c1 = time.thread_time()
            conn.commit()
            commit += time.thread_time() - c1
        cpu = (time.thread_time() - c0) / N * 1e6
        COMMIT[variant].append(commit / N * 1e6)
    finally:
        S._INSERT_ROWS.update(saved[0])
        S.INSERT_RECORD = saved[1]
    assert conn.execute("SELECT COUNT(*) FROM cost_records").fetchone()[0] == N
    conn.close()
    return cpu


print("load at start", os.getloadavg(), f"N={N} B={B}", flush=True)
for ids in IDS:
    rows = make_rows(ids)
    res: dict[str, list[float]] = {k: [] for k in VARIANTS}
    COMMIT.update({k: [] for k in VARIANTS})
    for r in range(ROUNDS):
        for v in VARIANTS if r % 2 == 0 else VARIANTS[::-1]:
            res[v].append(run(v, rows))
            print(f"{ids} round {r} {v}: {res[v][-1]:.2f} us/row CPU", flush=True)
    base = statistics.median(res["main"]) if "main" in res else None
    for v in VARIANTS:
        m = statistics.median(res[v])
        ratio = f" ({m / base:.2f}x main)" if base else ""
        print(
            f"{ids} {v}: median {m:.2f} us/row = {1e6 / m:,.0f} rows per CPU-second{ratio}; "
            f"commits {statistics.median(COMMIT[v]):.2f} us/row of it",
            flush=True,
        )
print("load at end", os.getloadavg())
