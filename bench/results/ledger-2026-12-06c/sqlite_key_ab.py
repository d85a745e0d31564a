"""SQLite insert CPU per row for storage layouts of the request_id key, alternating rounds
in one process. Rows are the ledger's (``bench_foundation.ledger_records``), with the
request ids LangChain gives (``str(uuid7())``: time-ordered) or random ones (``uuid4().hex``,
CostRecord's default, and LiteLLM's ``str(uuid4())`` shape). Batches of B rows per
transaction, WAL, synchronous=NORMAL, the ledger's multi-row INSERT statements.

Layouts: ``main`` (rowid table, TEXT PRIMARY KEY: an automatic unique index),
``without_rowid`` (the table clustered on the TEXT key), ``blob`` (the key as 16 bytes), ``sorted`` (this release's schema, each batch's rows
put in key order before the INSERTs; the sort counted), ``time_key`` (no key on
request_id alone: one UNIQUE index on (timestamp, request_id), which also serves the
time ranges, in place of the key's index and the timestamp index).
"""

import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from operator import itemgetter

sys.path.insert(0, os.getcwd())
from uuid_utils.compat import uuid7

from bench.bench_foundation import ledger_records
from llm_cost_hooks.ledger import _stores as S
from llm_cost_hooks.ledger._base import record_to_row

N = int(os.environ.get("N", "100000"))
B = int(os.environ.get("B", "5000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
LAYOUTS = os.environ.get("LAYOUTS", "main,without_rowid,blob").split(",")
IDS = os.environ.get("IDS", "uuid7,uuid4").split(",")
# Rows already in the file before the timed ones (not timed; ids of the same kind, older).
PREFILL = int(os.environ.get("PREFILL", "0"))


def make_rows(ids: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    rows = [record_to_row(r) for r in ledger_records(N)]
    new = (lambda: str(uuid7())) if ids == "uuid7" else (lambda: uuid.uuid4().hex)
    prefill = [(new(),) + rows[i % N][1:] for i in range(PREFILL)]
    return prefill, [(new(),) + r[1:] for r in rows]


def schema(conn, layout: str) -> None:
    create = S.CREATE_RECORDS
    if layout == "without_rowid":
        create += " WITHOUT ROWID"
    if layout == "blob":
        create = create.replace("request_id TEXT PRIMARY KEY", "request_id BLOB PRIMARY KEY")
    if layout == "time_key":
        create = create.replace("request_id TEXT PRIMARY KEY", "request_id TEXT NOT NULL")
    conn.execute(create)
    conn.execute(S.CREATE_OUTCOMES)
    if layout == "time_key":
        conn.execute("CREATE UNIQUE INDEX ux_time_request ON cost_records(timestamp, request_id)")
    else:
        for stmt in S.CREATE_INDEXES:
            conn.execute(stmt)
    conn.commit()


def run(layout: str, prefill: list[tuple[object, ...]], rows: list[tuple[object, ...]]) -> float:
    import sqlite3

    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "x.db")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    schema(conn, layout)
    for s in range(0, len(prefill), B):
        with conn:
            S._insert_rows(conn, convert(layout, prefill[s : s + B]))
    c0 = time.thread_time()
    for s in range(0, N, B):
        batch = convert(layout, rows[s : s + B])
        with conn:
            S._insert_rows(conn, batch)
    cpu = (time.thread_time() - c0) / N * 1e6
    conn.close()
    shutil.rmtree(folder)
    return cpu


def convert(layout: str, batch: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    if layout == "sorted":
        batch = sorted(batch, key=itemgetter(0))
    if layout == "blob":
        batch = [(bytes.fromhex(r[0].replace("-", "")),) + r[1:] for r in batch]  # type: ignore[union-attr]
    return batch


print("load at start", os.getloadavg(), f"N={N} B={B} PREFILL={PREFILL}", flush=True)
for ids in IDS:
    prefill, rows = make_rows(ids)
    res: dict[str, list[float]] = {k: [] for k in LAYOUTS}
    for r in range(ROUNDS):
        order = LAYOUTS if r % 2 == 0 else LAYOUTS[::-1]
        for layout in order:
            res[layout].append(run(layout, prefill, rows))
            print(f"{ids} round {r} {layout}: {res[layout][-1]:.2f} us/row CPU", flush=True)
    for layout in LAYOUTS:
        m = statistics.median(res[layout])
        print(f"{ids} {layout}: median {m:.2f} us/row = {1e6 / m:,.0f} rows per CPU-second", flush=True)
print("load at end", os.getloadavg())
