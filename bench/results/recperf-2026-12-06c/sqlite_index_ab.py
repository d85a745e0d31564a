"""SQLite insert CPU per row with and without an index on cost_records(task_id), alternating
rounds in one process. Rows shaped like the handler's: each task id is its call's run id (a
random uuid, as for a single model call), or ``task{i // 3}`` with TASK_IDS=sequential (the
ledger benchmark's shape). Batches of B rows per transaction, WAL, synchronous=NORMAL, the
ledger's multi-row INSERT statements."""

import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone

sys.path.insert(0, os.getcwd())
from llm_cost_hooks.ledger import _stores as S

N = int(os.environ.get("N", "60000"))
B = int(os.environ.get("B", "150"))
ROUNDS = int(os.environ.get("ROUNDS", "4"))
SEQ = os.environ.get("TASK_IDS") == "sequential"


def rows(n: int) -> list[tuple[object, ...]]:
    out = []
    for i in range(n):
        rid = str(uuid.uuid4())
        out.append(
            (
                rid,
                f"task{i // 3}" if SEQ else rid,
                None,
                datetime.now(timezone.utc).isoformat(),
                "acme",
                None,
                "bench",
                None,
                "v1",
                "openai",
                "gpt-4o-mini",
                412,
                14,
                256,
                0,
                0,
                1.2e-05,
                1.0e-05,
                2.0e-06,
                0.0,
                8.4e-06,
                0.0,
                "USD",
                1.9e-05,
                "provider_prefix",
                0.12,
                1,
                None,
                1,
                None,
                0,
                0,
            )
        )
    return out


def run(with_task_index: bool) -> float:
    import sqlite3

    path = os.path.join(tempfile.mkdtemp(), "x.db")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    S.init_schema(conn)
    if with_task_index:
        conn.execute("CREATE INDEX ix_records_task ON cost_records(task_id)")
    data = rows(N)
    c0 = time.thread_time()
    for s in range(0, N, B):
        with conn:
            S._insert_rows(conn, data[s : s + B])
    cpu = (time.thread_time() - c0) / N * 1e6
    conn.close()
    return cpu


print("load at start", os.getloadavg(), "task ids:", "sequential" if SEQ else "random (run ids)")
res: dict[bool, list[float]] = {True: [], False: []}
for r in range(ROUNDS):
    for idx in (True, False) if r % 2 == 0 else (False, True):
        res[idx].append(run(idx))
        print(
            f"round {r} {'with' if idx else 'without'} task index: {res[idx][-1]:.2f} us/row CPU", flush=True
        )
for idx in (True, False):
    m = statistics.median(res[idx])
    print(
        f"{'with' if idx else 'without'} task index: median {m:.2f} us/row = {1e6 / m:,.0f} rows per CPU-second"
    )
print("load at end", os.getloadavg())
