"""Garbage collections per 1,000 LangChain calls of the foundation bench's model, MODE=none|usage|ours
(ours: CostCallbackHandler, SQLite ledger, its writer running as usual), and the thread CPU
they took (gc.callbacks around each collection).

    MODE=ours N=6000 MODEL=cheap python bench/results/reccpu-2026-12-08/gc_count.py
"""

import gc
import os
import tempfile
import time

from langchain_core.callbacks import UsageMetadataCallbackHandler

from bench._common import fixed_usage_model, realistic_model
from llm_cost_hooks.langchain import CostCallbackHandler

mode = os.environ.get("MODE", "ours")
n = int(os.environ.get("N", "6000"))
model = realistic_model() if os.environ.get("MODEL") == "realistic" else fixed_usage_model()
meta = {"tenant_id": "acme", "prompt_version": "v1"}
tmp = tempfile.mkdtemp()
ours = CostCallbackHandler(ledger=f"sqlite:///{tmp}/g.db", defaults={"feature": "bench"})
cfg: dict = {"metadata": meta}
if mode == "usage":
    cfg["callbacks"] = [UsageMetadataCallbackHandler()]
elif mode == "ours":
    cfg["callbacks"] = [ours]
for _ in range(300):
    model.invoke("When will my card arrive?", config=cfg)
ours.flush()
counts = [0, 0, 0]
cpu = [0, 0, 0]
started = [0]


def on_gc(phase: str, info: dict) -> None:
    if phase == "start":
        started[0] = time.thread_time_ns()
    else:
        g = info["generation"]
        counts[g] += 1
        cpu[g] += time.thread_time_ns() - started[0]


gc.callbacks.append(on_gc)
t0 = time.process_time_ns()
for _ in range(n):
    model.invoke("When will my card arrive?", config=cfg)
ours.flush()
t1 = time.process_time_ns()
gc.callbacks.remove(on_gc)
print(
    f"{mode}: collections per 1,000 calls (gen0/1/2) "
    + "/".join(f"{c * 1000 / n:.1f}" for c in counts)
    + "; their CPU per call (µs) "
    + "/".join(f"{c / n / 1e3:.2f}" for c in cpu)
    + f"; process CPU per call {(t1 - t0) / n / 1e3:.1f} µs; gc objects {len(gc.get_objects())}"
)
ours.tracker.close()
