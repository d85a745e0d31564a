"""What the ledger-kept salt of user hashes costs: the first ask on a ledger (creates the
salt; on a ledger of an earlier release it first looks for a user hash, a scan when there
is none), a later ask (one row), and a call that records a user (memoised attribution).
PYTHONPATH=. python bench/results/tenancy-2026-12-07g/salt_cost.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import llm_cost_hooks
from llm_cost_hooks import CostRecord, CostTracker
from llm_cost_hooks._settings import Settings
from llm_cost_hooks.ledger import SQLiteLedger

print("package:", llm_cost_hooks.__file__)
N = 100_000
with tempfile.TemporaryDirectory() as d:
    path = Path(d) / "costs.db"
    ledger = SQLiteLedger(path, batch_size=5_000)
    for _ in range(N):
        ledger.write(CostRecord(model="gpt-4o-mini", cost_usd=0.001))
    ledger.flush(timeout=120)
    t = time.perf_counter()
    ledger._user_salt()
    print(
        f"first ask, {N} records without a user (scan, then the salt row): {(time.perf_counter() - t) * 1e3:.1f} ms"
    )
    ts = []
    for _ in range(20):
        t = time.perf_counter()
        ledger._user_salt()
        ts.append((time.perf_counter() - t) * 1e3)
    print(f"later ask (one row): median {statistics.median(ts):.2f} ms")
    for name, settings in (("ledger salt", Settings()), ("salt setting", Settings(user_hash_salt="pepper"))):
        tracker = CostTracker(ledger=ledger, settings=settings)
        ts = []
        for i in range(2_000):
            run = f"{name}-{i}"
            t = time.perf_counter_ns()
            tracker.start_llm(run, None, model="gpt-4o-mini", provider="openai", metadata={"user_id": "u1"})
            ts.append(time.perf_counter_ns() - t)
            tracker.end_llm(run, (10, 2, 0, 0, 0))
        print(
            f"start_llm with a user, {name}: median {statistics.median(ts[100:]) / 1e3:.1f} us (first {ts[0] / 1e3:.0f} us)"
        )
    ledger.close()
