"""INSERT OR REPLACE (the store's) against OR IGNORE and OR ABORT, the same 200-row batches
through ``_insert_rows``, alternating, one thread alone. The statements of sizes above one are
prepared inside the timing (the shapes are cleared for each batch), the same for all three.

    PYTHONPATH=$PWD python bench/results/writer-2026-12-07/conflict.py
"""

import sqlite3
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, ".")
import llm_cost_hooks.ledger._stores as S
from llm_cost_hooks.ledger._stores import _insert_rows, init_schema

tmp = tempfile.mkdtemp()


def rows_for(rep, B=200):
    out = []
    for i in range(B):
        rid = str(uuid.uuid4())
        us = (rep * B + i) % 1_000_000
        ts = f"2026-12-07T{rep // 3600 % 24:02d}:{rep // 60 % 60:02d}:{rep % 60:02d}.{us:06d}+00:00"
        out.append(
            (
                rid,
                rid,
                None,
                ts,
                "acme",
                None,
                "bench",
                None,
                "v1",
                "openai",
                "gpt-4o-mini-2024-07-18",
                412 + i,
                14,
                256,
                0,
                0,
                5.1e-05 + i * 1e-9,
                2.34e-05,
                1.92e-05,
                0.0,
                8.4e-06,
                0.0,
                "USD",
                1.92e-05,
                "provider_prefix",
                0.048012 + i / 7,
                1,
                None,
                1,
                None,
                0,
                0,
            )
        )
    return out


conns = {}
for v in ("REPLACE", "IGNORE", "ABORT"):
    c = sqlite3.connect(f"{tmp}/{v}.db", isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=NORMAL")
    init_schema(c)
    conns[v] = c
t = {v: [] for v in conns}
orig = S._Shape.__init__
for rep in range(120):
    rows = rows_for(rep)
    for v in list(conns) if rep % 2 else list(conns)[::-1]:
        S._SHAPES.clear()

        def init(self, e, s, v=v):
            orig(self, e, s)
            self.statements = {
                k: q.replace("INSERT OR REPLACE", "INSERT OR " + v) for k, q in self.statements.items()
            }

        S._Shape.__init__ = init
        _insert_rows(conns[v].cursor(), rows[:1])  # prepare outside the timing
        conns[v].execute("DELETE FROM cost_records WHERE request_id = ?", (rows[0][0],))
        c = conns[v]
        t0 = time.thread_time_ns()
        c.execute("BEGIN")
        _insert_rows(c.cursor(), rows)
        c.execute("COMMIT")
        t[v].append(time.thread_time_ns() - t0)
for v in t:
    print(v, f"{statistics.median(t[v]) / 200 / 1e3:.2f} us/row")
