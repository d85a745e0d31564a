# The caller's cost of Ledger.write (the record path's only change): a SQLite ledger whose
# writer does not run during the timing (flush_interval 1 h, fewer records than wake it),
# each timing of 200 writes in a fresh queue. Run once per side, interleaved by write_ab.sh.
import os
import sys
import tempfile
import time

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger

tmp = tempfile.mkdtemp()
ledger = SQLiteLedger(f"{tmp}/w.db", flush_interval=3600, batch_size=10**9)
ledger._wake_at = 10**9  # the writer stays asleep: only the caller's work is timed
rec = CostRecord(model="gpt-4o-mini")
write = ledger.write
best = []
for _ in range(int(os.environ.get("ROUNDS", "400"))):
    ledger._buffer.clear()
    t = time.thread_time_ns()
    for _ in range(200):
        write(rec)
    best.append((time.thread_time_ns() - t) / 200)
ledger._buffer.clear()
best.sort()
print(
    f"{sys.argv[1]} min {best[0]:.1f} p10 {best[len(best) // 10]:.1f} median {best[len(best) // 2]:.1f} ns/write"
)
