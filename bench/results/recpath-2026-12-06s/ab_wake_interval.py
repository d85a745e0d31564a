"""Same-process interleaved A/B of the ledger writer's wake-up interval: no handler, the anchor
(``UsageMetadataCallbackHandler``) and ``CostCallbackHandler`` with SQLite ledgers waking every
``flush_interval`` s or at ``_wake_at`` queued records (``VARIANTS="0.05:256,0.25:256"``); ``BPR``
blocks of 20 calls a side per round, ``ROUNDS`` rounds, the cheap model (``MODEL=realistic``).
"""

import os
import tempfile

from langchain_core.callbacks import UsageMetadataCallbackHandler

from bench._common import (
    Arm,
    fixed_usage_model,
    interleaved_cost,
    ratio_interval,
    realistic_model,
    threads_started_by,
)
from llm_cost_hooks.langchain import CostCallbackHandler as New
from llm_cost_hooks.ledger import SQLiteLedger


def read(path):
    with open(path) as f:
        return f.read()


def loadavg():
    return read("/proc/loadavg").strip()


print("load", loadavg())
model = fixed_usage_model() if os.environ.get("MODEL", "cheap") == "cheap" else realistic_model()
tmp = tempfile.mkdtemp()
meta = {"tenant_id": "acme", "prompt_version": "v1"}
prompt = "When will my card arrive?"
cf = {"bare": {"metadata": meta}, "usage": {"callbacks": [UsageMetadataCallbackHandler()], "metadata": meta}}
arms = {
    "bare": Arm(lambda: model.invoke(prompt, config=cf["bare"])),
    "usage": Arm(lambda: model.invoke(prompt, config=cf["usage"])),
}
variants = os.environ.get("VARIANTS", "0.05:256,0.5:5000,1000:1000000000").split(",")
hs = {}
for v in variants:
    fi, wa = v.split(":")

    def mk(fi=float(fi), wa=int(wa), name=v):
        led = SQLiteLedger(f"{tmp}/{name}.db", flush_interval=fi)
        led._wake_at = wa
        return New(ledger=led, defaults={"feature": "bench"})

    h, t = threads_started_by(mk)
    hs[v] = h
    cf[v] = {"callbacks": [h], "metadata": meta}
    arms[v] = Arm(lambda v=v: model.invoke(prompt, config=cf[v]), t, h.flush)
run = interleaved_cost(
    arms,
    block=20,
    blocks_per_round=int(os.environ.get("BPR", "20")),
    rounds=int(os.environ.get("ROUNDS", "10")),
)
c = run.cost
print("load", loadavg(), run.how(), f"{run.seconds:.1f}s")
for clock in ("thread", "process"):
    u, _, _ = c["usage"].excess(c["bare"], clock)
    print(clock, "anchor +%.1f" % (u * 1e6))
    for s in variants:
        o, lo, hi = c[s].excess(c["bare"], clock)
        r, rlo, rhi = ratio_interval(c[s], c["usage"], c["bare"], clock)
        d = c[s].excess(c[variants[0]], clock)
        dm, dlo, dhi = (x * 1e6 for x in d)
        print(
            f"   {s:20s} +{o * 1e6:.1f} ({lo * 1e6:.1f}-{hi * 1e6:.1f}) {r:.2f}x ({rlo:.2f}-{rhi:.2f})"
            f"  vs first {dm:+.1f} ({dlo:+.1f}..{dhi:+.1f})"
        )
