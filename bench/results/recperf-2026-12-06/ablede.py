"""Same-process A/B of the ledger write path: main's SQLiteLedger vs this branch's, alternating."""

import gc
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/recperf/basepkg"))
import llm_cost_hooks_base as B
from llm_cost_hooks_base.ledger import SQLiteLedger as Main

from bench.bench_foundation import ledger_records
from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger as New

n = 100_000
res = {"main": [], "new": []}
print("load at start", os.getloadavg(), flush=True)
for rnd in range(int(os.environ.get("ROUNDS", 3))):
    for name, cls, rec_cls in (("main", Main, B.CostRecord), ("new", New, CostRecord)):
        records = ledger_records(n, rec_cls)
        with tempfile.TemporaryDirectory() as tmp:
            ledger = cls(os.path.join(tmp, "b.db"), max_buffer=n + 1)
            gc.collect()
            p0 = time.process_time()
            for r in records:
                ledger.write(r)
            assert ledger.flush(timeout=300)
            p = time.process_time() - p0
            assert ledger.stats.written == n and ledger.stats.dropped == 0
            ledger.close()
        res[name].append(p / n * 1e6)
        print(
            f"round {rnd} {name}: {p / n * 1e6:.2f} us/record process CPU = {n / p:,.0f} records per CPU-second",
            flush=True,
        )
for k, v in res.items():
    print(
        f"{k}: median {statistics.median(v):.2f} us/record = {1e6 / statistics.median(v):,.0f} records/CPU-s"
    )
print("load", os.getloadavg())
