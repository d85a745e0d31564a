# Process CPU of writing N records through a background SQLite ledger and flushing.
import pathlib
import tempfile
import time

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger

N = 100_000
recs = [CostRecord(model="gpt-4o-mini", tenant="acme", cost_usd=0.001) for _ in range(N)]
d = pathlib.Path(tempfile.mkdtemp())
ledger = SQLiteLedger(d / "ab.db")
t0 = time.process_time()
for r in recs:
    ledger.write(r)
ledger.flush(timeout=120)
t1 = time.process_time()
assert ledger.stats.written == N
ledger.close()
print(f"{(t1 - t0) * 1e6 / N:.2f}")
