"""Same-process A/B of a record's row (``record_to_row``, the SQLite writer's conversion of
a prebuilt record): main's package (``llm_cost_hooks_base``) against this tree's, 100,000
of the foundation bench's records per round, alternating; CPU per record."""

import os
import statistics
import sys
import time

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/ledger-ab/basepkg"))
import llm_cost_hooks_base as B
from llm_cost_hooks_base.ledger._base import record_to_row as main_row

from bench.bench_foundation import ledger_records
from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger._base import record_to_row as new_row

n = 100_000
sides = {"main": (main_row, ledger_records(n, B.CostRecord)), "new": (new_row, ledger_records(n, CostRecord))}
assert all(new_row(r)[3] == r.timestamp.isoformat() for r in sides["new"][1])
res: dict[str, list[float]] = {k: [] for k in sides}
print("load at start", os.getloadavg(), flush=True)
for rnd in range(int(os.environ.get("ROUNDS", 9))):
    for side in sides if rnd % 2 == 0 else list(sides)[::-1]:
        fn, records = sides[side]
        c0 = time.thread_time()
        for r in records:
            fn(r)
        res[side].append((time.thread_time() - c0) / n * 1e6)
m, b = statistics.median(res["main"]), statistics.median(res["new"])
paired = statistics.median(x - y for x, y in zip(res["new"], res["main"]))
print(f"record_to_row: main {m:.2f} us, this tree {b:.2f} us ({b / m:.2f}x); paired median {paired:+.2f} us")
print("main rounds", ", ".join(f"{x:.2f}" for x in res["main"]))
print("new rounds", ", ".join(f"{x:.2f}" for x in res["new"]))
print("load at end", os.getloadavg())
