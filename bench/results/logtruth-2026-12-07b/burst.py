import logging
import pathlib
import tempfile

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger

logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(message)s")
d = pathlib.Path(tempfile.mkdtemp())
# A healthy store, a writer that has not woken yet: 150 records into a queue of 100.
ledger = SQLiteLedger(d / "burst.db", max_buffer=100, flush_interval=3600)
for _ in range(150):
    ledger.write(CostRecord(model="gpt-4o-mini"))
ledger.flush(timeout=30)
s = ledger.stats
print(
    f"stats: written={s.written} dropped={s.dropped} write_failures={s.write_failures} last_error={s.last_error}"
)
ledger.close()
