"""The SQLite store's ``_write_batch`` of the base package (a copy importable as
``llm_cost_hooks_base``, ``BASE_PKG_DIR``) against this tree's, the same rows (the row a
CostCallbackHandler call on the cheap benchmark model makes: a call that is its own task,
the bench's attribution), each batch its own transaction, alternating batch by batch, one
thread alone. Checks that both files hold the same rows (floats bit for bit).

    BASE_PKG_DIR=/tmp/wr/basepkg PYTHONPATH=$PWD B=200 REPS=100 python bench/results/writer-2026-12-07/insert_ab.py
"""

import os
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/wr/basepkg"))
from llm_cost_hooks_base.ledger import SQLiteLedger as Base

from llm_cost_hooks.ledger import SQLiteLedger as New
from llm_cost_hooks.ledger._base import RECORD_COLUMNS


def LOAD():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


B, REPS = int(os.environ.get("B", "200")), int(os.environ.get("REPS", "100"))
tmp = tempfile.mkdtemp()


def rows_for(rep):
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


a = Base(f"{tmp}/base.db", background=False)
b = New(f"{tmp}/new.db", background=False)
t = {"base": [], "new": []}
for rep in range(REPS):
    rows = rows_for(rep)
    order = (("base", a), ("new", b)) if rep % 2 else (("new", b), ("base", a))
    for name, led in order:
        t0 = time.thread_time_ns()
        led._write_batch(rows, [])
        t[name].append(time.thread_time_ns() - t0)
cols = ", ".join(RECORD_COLUMNS)
ra = a.connect().execute(f"SELECT {cols} FROM cost_records ORDER BY timestamp, request_id").fetchall()
rb = b.connect().execute(f"SELECT {cols} FROM cost_records ORDER BY timestamp, request_id").fetchall()
assert ra == rb and len(ra) == B * REPS, "files differ"
print(f"batches of {B}, {REPS} each, alternating; load {LOAD()}; files equal ({len(ra)} rows)")
for name in ("base", "new"):
    v = sorted(t[name])
    print(
        f"  {name}: median {statistics.median(v) / B / 1e3:.2f} us/row (quartiles {v[len(v) // 4] / B / 1e3:.2f}-{v[3 * len(v) // 4] / B / 1e3:.2f})"
    )
d = sorted((x - y) / B / 1e3 for x, y in zip(t["new"], t["base"]))
print(
    f"  new - base, paired by batch: median {statistics.median(d):+.2f} us/row (quartiles {d[len(d) // 4]:+.2f} to {d[3 * len(d) // 4]:+.2f})"
)
a.close()
b.close()
