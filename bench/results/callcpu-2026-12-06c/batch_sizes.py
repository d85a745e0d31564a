"""How many records the SQLite ledger's writer finds per wake-up when ``invoke`` runs at full
speed (the cheap bench model, 11 x 1,000 calls, flushed after each 1,000 as the foundation
benchmark does): the batch size the BATCHED=1 callgrind count stands for."""

import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.getcwd())
from bench._common import fixed_usage_model
from llm_cost_hooks.langchain import CostCallbackHandler
from llm_cost_hooks.ledger import SQLiteLedger

sizes: list[int] = []
_write = SQLiteLedger._write_batch


def _counted(self, records, outcomes):  # type: ignore[no-untyped-def]
    sizes.append(len(records))
    return _write(self, records, outcomes)


SQLiteLedger._write_batch = _counted  # type: ignore[method-assign]
model = fixed_usage_model()
h = CostCallbackHandler(ledger=f"sqlite:///{tempfile.mkdtemp()}/x.db", defaults={"feature": "bench"})
c = {"callbacks": [h], "metadata": {"tenant_id": "acme", "prompt_version": "v1"}}
for _ in range(11):
    for _ in range(1000):
        model.invoke("When will my card arrive?", config=c)
    h.flush()
print("load", os.getloadavg())
print(
    "batches",
    len(sizes),
    "records",
    sum(sizes),
    "median size",
    statistics.median(sizes),
    "mean",
    sum(sizes) / len(sizes),
)
