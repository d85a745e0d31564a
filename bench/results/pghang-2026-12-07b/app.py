"""The user's process: makes a PostgreSQL ledger, writes N records at a steady rate,
flushes, closes. Prints JSON lines (wall-clock times, so the driver can compare)."""

import json
import sys
import time

t_start = time.time()
from llm_cost_hooks import CostRecord  # noqa: E402
from llm_cost_hooks.ledger import PostgresLedger  # noqa: E402

t_imported = time.time()
url, n, rate, flush_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
ledger = PostgresLedger(url)
t_made = time.time()
print(
    json.dumps(
        {"event": "ready", "import_s": t_imported - t_start, "construct_s": t_made - t_imported, "t": t_made}
    ),
    flush=True,
)
for _ in range(n):
    ledger.write(CostRecord(model="gpt-4o-mini", tenant="acme", cost_usd=0.001))
    time.sleep(1 / rate)
ok = ledger.flush(timeout=flush_s)
s = ledger.stats
print(
    json.dumps(
        {
            "event": "flushed",
            "ok": ok,
            "written": s.written,
            "pending": s.pending,
            "failures": s.write_failures,
            "last_error": s.last_error,
            "t": time.time(),
        }
    ),
    flush=True,
)
ledger.close()
s = ledger.stats
print(
    json.dumps(
        {
            "event": "closed",
            "written": s.written,
            "dead_lettered": s.dead_lettered,
            "dropped": s.dropped,
            "t": time.time(),
        }
    ),
    flush=True,
)
