"""Scratch check: the sides alternating every B calls (args: model design B cycles); JSON to stdout."""

import gc
import json
import sys
import tempfile
import threading
import time

sys.path.insert(0, ".")
from langchain_core.callbacks import UsageMetadataCallbackHandler

from bench._common import fixed_usage_model, realistic_model
from llm_cost_hooks.langchain import CostCallbackHandler

which, design, B, cycles = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
model = fixed_usage_model() if which == "cheap" else realistic_model()
tmp = tempfile.mkdtemp()
before = set(threading.enumerate())
ours = CostCallbackHandler(ledger=f"sqlite:///{tmp}/b.db", defaults={"feature": "bench"})
owned = [t for t in threading.enumerate() if t not in before]
meta = {"tenant_id": "acme", "prompt_version": "v1"}
prompt = "When will my card arrive?"
cfgs = {
    "bare": {"metadata": meta},
    "usage": {"callbacks": [UsageMetadataCallbackHandler()], "metadata": meta},
    "ours": {"callbacks": [ours], "metadata": meta},
}
drains = {"bare": None, "usage": None, "ours": ours.flush}
names = list(cfgs)
for name in names:
    for _ in range(200):
        model.invoke(prompt, config=cfgs[name])
ours.flush()
clk = [time.pthread_getcpuclockid(t.ident) for t in owned]


def owned_cpu():
    return sum(time.clock_gettime(c) for c in clk)


out = {n: {"p": [], "t": [], "w": []} for n in names}
out["writer"] = []
inv = model.invoke
P0 = time.process_time()
W0 = time.perf_counter()
gc.collect()
for r in range(cycles):
    k = r % 3
    order = names[k:] + names[:k]
    if design == "thread":
        o0 = owned_cpu()
    for name in order:
        cfg = cfgs[name]
        if design == "block":
            gc.collect()
        w0, t0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
        for _ in range(B):
            inv(prompt, config=cfg)
        w1, t1 = time.perf_counter(), time.thread_time()
        if design == "block" and drains[name]:
            drains[name]()
        p1 = time.process_time()
        d = out[name]
        d["w"].append((w1 - w0) / B * 1e6)
        d["t"].append((t1 - t0) / B * 1e6)
        d["p"].append((p1 - p0) / B * 1e6)
    if design == "thread":
        out["writer"].append((owned_cpu() - o0) / B * 1e6)
ours.flush()
out["total_p"] = time.process_time() - P0
out["total_w"] = time.perf_counter() - W0
out["written"] = ours.ledger.stats.written
json.dump(out, sys.stdout)
