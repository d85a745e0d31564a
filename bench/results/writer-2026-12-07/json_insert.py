"""One SQLite statement per batch (``INSERT ... SELECT ... FROM json_each(?)`` of the rows as
JSON) against the store's multi-row statements (``_insert_rows``), the same rows, each batch
in its own transaction, alternating, one thread alone. Checks that both files hold the same
values (floats bit for bit).

    PYTHONPATH=$PWD B=200 REPS=60 python bench/results/writer-2026-12-07/json_insert.py
"""

import json
import os
import sqlite3
import statistics
import tempfile
import time
import uuid

from llm_cost_hooks.ledger._base import RECORD_COLUMNS
from llm_cost_hooks.ledger._stores import _insert_rows, init_schema


def LOAD():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


B, REPS = int(os.environ.get("B", "200")), int(os.environ.get("REPS", "60"))
tmp = tempfile.mkdtemp()


def conn(name):
    c = sqlite3.connect(f"{tmp}/{name}.db", isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=NORMAL")
    init_schema(c)
    return c


cols = ", ".join(RECORD_COLUMNS)
JSON_INSERT = (
    f"INSERT OR REPLACE INTO cost_records ({cols}) SELECT "
    + ", ".join(f"value->>{i}" for i in range(len(RECORD_COLUMNS)))
    + " FROM json_each(?)"
)


def rows_for(rep):
    out = []
    for i in range(B):
        rid = str(uuid.uuid4())
        us = (rep * B + i) % 1_000_000
        out.append(
            (
                rid,
                rid,
                None,
                f"2026-12-07T00:{rep // 60 % 60:02d}:{rep % 60:02d}.{us:06d}+00:00",
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
                8.4e-06 + i / 3e9,
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


a, b = conn("multi"), conn("json")
ta, tb = [], []
for rep in range(REPS):
    rows = rows_for(rep)
    for which in (0, 1) if rep % 2 else (1, 0):
        t0 = time.thread_time_ns()
        if which == 0:
            a.execute("BEGIN")
            _insert_rows(a.cursor(), rows)
            a.execute("COMMIT")
            ta.append(time.thread_time_ns() - t0)
        else:
            b.execute(JSON_INSERT, (json.dumps(rows),))
            tb.append(time.thread_time_ns() - t0)
ra = a.execute(f"SELECT {cols} FROM cost_records ORDER BY timestamp, request_id").fetchall()
rb = b.execute(f"SELECT {cols} FROM cost_records ORDER BY timestamp, request_id").fetchall()
same = sum(1 for x, y in zip(ra, rb) if x == y)
typed = (
    a.execute("SELECT typeof(cost_usd), typeof(input_tokens) FROM cost_records LIMIT 1").fetchall(),
    b.execute("SELECT typeof(cost_usd), typeof(input_tokens) FROM cost_records LIMIT 1").fetchall(),
)
print(f"batches of {B}, {REPS} each, load {LOAD()}")
print(
    f"multi-row statements: median {statistics.median(ta) / B / 1e3:.2f} us/row (quartiles {sorted(ta)[len(ta) // 4] / B / 1e3:.2f}-{sorted(ta)[3 * len(ta) // 4] / B / 1e3:.2f})"
)
print(
    f"json_each statement:  median {statistics.median(tb) / B / 1e3:.2f} us/row (quartiles {sorted(tb)[len(tb) // 4] / B / 1e3:.2f}-{sorted(tb)[3 * len(tb) // 4] / B / 1e3:.2f})"
)
print(f"rows equal: {same} of {len(ra)} / {len(rb)}; types {typed}")
