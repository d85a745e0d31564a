"""A/B: the cache-savings query and the savings waterfall before and after the batch
saving is taken out (a CASE on the tag per non-miss row, and one more SUM for the waterfall).

    python report_sql_ab.py make LEDGER.db N     # write N records (25 % cache hits, 5 % batch answers)
    python report_sql_ab.py time LEDGER.db REPS  # median seconds of cache_savings() and savings_waterfall()

Run `time` with PYTHONPATH pointing at either tree, alternating (see README.md).
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import sys
import time


def make(path: str, n: int) -> None:
    from llm_cost_hooks import CostRecord
    from llm_cost_hooks.ledger import SQLiteLedger

    rnd = random.Random(7)
    ledger = SQLiteLedger(path)
    for i in range(n):
        status = rnd.choices(["miss", "provider_prefix", "exact", "semantic"], [75, 15, 6, 4])[0]
        tags, saved = {"tier": "a"}, 0.0 if status == "miss" else 0.002
        if rnd.random() < 0.05:
            tags |= {"batch": "true", "batch_id": "b1", "batch.saved_usd": "0.00525"}
            saved += 0.00525
        ledger.write(CostRecord(request_id=f"r{i}", model="claude-sonnet-4-5", tenant=f"t{i % 50}",
                                feature=f"f{i % 7}", input_tokens=3000, output_tokens=100,
                                cost_usd=0.003, saved_usd=saved, cache_status=status, tags=tags))  # fmt: skip
        if i % 20000 == 0:
            ledger.flush()  # keep the writer's queue below its bound
    ledger.close()


def timed(path: str, reps: int) -> None:
    from llm_cost_hooks.ledger import LedgerReports, savings_waterfall

    reports = LedgerReports(sqlite3.connect(path))
    reports.cache_savings()  # warm the page cache
    a, b = [], []
    for _ in range(reps):
        t = time.perf_counter()
        reports.cache_savings()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        savings_waterfall(reports)
        b.append(time.perf_counter() - t)
    print(f"cache_savings {statistics.median(a) * 1e3:.1f} ms  waterfall {statistics.median(b) * 1e3:.1f} ms")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]))
    else:
        timed(sys.argv[2], int(sys.argv[3]))
