"""N LangChain calls through the cheap (or realistic) fake model of the foundation bench,
with MODE=none|usage|ours (CostCallbackHandler, SQLite ledger, the bench's metadata and
defaults), flushed at the end. For instruction counts: run under callgrind at two N and
take the difference (the import and set-up cancel out).

    MODE=ours N=3000 MODEL=cheap python bench/results/reccpu-2026-12-08/calls.py
"""

import os
import tempfile

from langchain_core.callbacks import UsageMetadataCallbackHandler

from bench._common import fixed_usage_model, realistic_model
from llm_cost_hooks.langchain import CostCallbackHandler

mode = os.environ.get("MODE", "ours")
n = int(os.environ.get("N", "2000"))
model = realistic_model() if os.environ.get("MODEL") == "realistic" else fixed_usage_model()
meta = {"tenant_id": "acme", "prompt_version": "v1"}
tmp = tempfile.mkdtemp()
ours = CostCallbackHandler(ledger=f"sqlite:///{tmp}/calls.db", defaults={"feature": "bench"})
cfg: dict = {"metadata": meta}
if mode == "usage":
    cfg["callbacks"] = [UsageMetadataCallbackHandler()]
elif mode == "ours":
    cfg["callbacks"] = [ours]
prompt = "When will my card arrive?"
for _ in range(50):  # warm every path (first calls build caches)
    model.invoke(prompt, config=cfg)
ours.flush()
for _ in range(n):
    model.invoke(prompt, config=cfg)
ours.flush()
if mode == "ours":
    print("written", ours.ledger.stats.written)
ours.tracker.close()
