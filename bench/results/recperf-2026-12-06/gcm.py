import gc
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())
from langchain_core.callbacks import UsageMetadataCallbackHandler

from bench._common import fixed_usage_model
from llm_cost_hooks.langchain import CostCallbackHandler

model = fixed_usage_model()
tmp = tempfile.mkdtemp()
meta = {"tenant_id": "acme", "prompt_version": "v1"}
p = "When will my card arrive?"
h = CostCallbackHandler(ledger=f"sqlite:///{tmp}/b.db", defaults={"feature": "bench"})
acc = {"t": 0.0, "n": [0, 0, 0]}
st = {}


def cb(phase, info):
    if phase == "start":
        st["t"] = time.thread_time()
    else:
        acc["t"] += time.thread_time() - st["t"]
        acc["n"][info["generation"]] += 1


gc.callbacks.append(cb)
res = {}
for name, cfg, drain in (
    ("usage", {"callbacks": [UsageMetadataCallbackHandler()]}, None),
    ("ours", {"callbacks": [h], "metadata": meta}, h.flush),
):
    for _ in range(200):
        model.invoke(p, config=cfg)
    gc.collect()
    acc["t"] = 0
    acc["n"] = [0, 0, 0]
    p0 = time.process_time()
    for _ in range(5000):
        model.invoke(p, config=cfg)
    if drain:
        drain()
    res[name] = dict(
        cpu_us=round((time.process_time() - p0) / 5000 * 1e6, 1),
        gc_us=round(acc["t"] / 5000 * 1e6, 1),
        gens=list(acc["n"]),
    )
print(json.dumps(res))
h.tracker.close()
