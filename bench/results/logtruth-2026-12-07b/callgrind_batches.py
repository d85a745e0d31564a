# Worst case for a per-batch cost: background=False writes every record as its own batch.
import pathlib
import sys
import tempfile

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger

N = int(sys.argv[1])
recs = [CostRecord(model="gpt-4o-mini", tenant="acme", cost_usd=0.001) for _ in range(N)]
ledger = SQLiteLedger(pathlib.Path(tempfile.mkdtemp()) / "cg.db", background=False)
for r in recs:
    ledger.write(r)
assert ledger.stats.written == N
ledger.close()
