"""Writer cost on PostgreSQL: N records written (write + flush), process CPU and wall, one run.
Usage: python pg_ab.py URL N"""

import sys
import time

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger._postgres import PostgresLedger

url, n = sys.argv[1], int(sys.argv[2])
ledger = PostgresLedger(url)
ledger.write(CostRecord(model="warm"))
ledger.flush(30)
recs = [CostRecord(model="gpt-4o-mini", tenant=f"t{i % 7}", cost_usd=0.001) for i in range(n)]
c0 = time.process_time()
w0 = time.perf_counter()
for i, r in enumerate(recs):
    ledger.write(r)
    if i % 500 == 499:
        ledger.flush(30)  # batches of 500, as a steady trickle would give
ledger.flush(60)
c1 = time.process_time()
w1 = time.perf_counter()
assert ledger.stats.written == n + 1, ledger.stats
print(f"cpu_us_per_record={(c1 - c0) / n * 1e6:.2f} wall_us_per_record={(w1 - w0) / n * 1e6:.2f}")
ledger.close()
