"""Thread CPU of the SQLite store's ``_write_batch`` alone (no writer thread, no caller running
beside it), per transaction and per row, for batches of ``NS`` rows."""

import os
import tempfile
import time

from bench.bench_foundation import ledger_records
from llm_cost_hooks.ledger import SQLiteLedger
from llm_cost_hooks.ledger._base import record_to_row


def read(path):
    with open(path) as f:
        return f.read()


def loadavg():
    return read("/proc/loadavg").strip()


tmp = tempfile.mkdtemp()
rows = [record_to_row(r) for r in ledger_records(30000, request_ids="time-ordered")]


def st():
    f = read("/proc/thread-self/stat").rsplit(")", 1)[1].split()
    return int(f[11]), int(f[12])


for n in (int(x) for x in os.environ.get("NS", "1,10,50,200,1000").split(",")):
    led = SQLiteLedger(f"{tmp}/t{n}.db", background=False)
    total = min(len(rows), max(n * 40, 4000))
    k = 0
    led._write_batch(rows[:n], [])
    s0 = st()
    t0 = time.thread_time()
    w0 = time.perf_counter()
    for i in range(n, total, n):
        led._write_batch(rows[i : i + n], [])
        k += 1
    dt = time.thread_time() - t0
    s1 = st()
    print(
        f"batch {n:5d}: {dt / (k) * 1e6:8.1f} us/txn, {dt / (k * n) * 1e6:6.1f} us/row; ticks user {s1[0] - s0[0]} sys {s1[1] - s0[1]}; wall {(time.perf_counter() - w0) / (k * n) * 1e6:.1f} us/row"
    )
    led.close()
