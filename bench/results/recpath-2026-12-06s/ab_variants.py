"""Same-process interleaved A/B of this tree's handler against variants of it: copies of the
package importable as ``llm_cost_hooks_<name>`` under ``EXP_DIR`` (``EXP=exp1,exp2``), with no
handler and the anchor, SQLite ledgers flushed every round (``bench._common.interleaved_cost``).
"""

import importlib
import os
import sys
import tempfile

sys.path.insert(0, os.environ.get("EXP_DIR", "/tmp/recpath/exp"))
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


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().strip()


print("load", loadavg())
kind = os.environ.get("MODEL", "cheap")
model = fixed_usage_model() if kind == "cheap" else realistic_model()
tmp = tempfile.mkdtemp()
meta = {"tenant_id": "acme", "prompt_version": "v1"}
prompt = "When will my card arrive?"
cf = {"bare": {"metadata": meta}, "usage": {"callbacks": [UsageMetadataCallbackHandler()], "metadata": meta}}
arms = {k: Arm(lambda k=k: model.invoke(prompt, config=cf[k])) for k in cf}
sides = ["new"] + os.environ.get("EXP", "exp1,exp2").split(",")
hs = {}
for s in sides:
    cls = New if s == "new" else importlib.import_module(f"llm_cost_hooks_{s}.langchain").CostCallbackHandler
    h, t = threads_started_by(
        lambda cls=cls, s=s: cls(ledger=f"sqlite:///{tmp}/{s}.db", defaults={"feature": "bench"})
    )
    assert t
    hs[s] = h
    cf[s] = {"callbacks": [h], "metadata": meta}
    arms[s] = Arm(lambda s=s: model.invoke(prompt, config=cf[s]), t, h.flush)
run = interleaved_cost(
    arms,
    block=20,
    blocks_per_round=int(os.environ.get("BPR", "20")),
    rounds=int(os.environ.get("ROUNDS", "20")),
)
c = run.cost
print(
    "load",
    loadavg(),
    kind,
    run.how(),
    f"{run.seconds:.1f}s",
    {s: h.tracker.ledger.stats.written for s, h in hs.items()},
)
for clock in ("thread", "process"):
    u, _, _ = c["usage"].excess(c["bare"], clock)
    print(clock, f"no handler {c['bare'].mean(clock) * 1e6:.1f} anchor +{u * 1e6:.1f}")
    for s in sides:
        o, lo, hi = c[s].excess(c["bare"], clock)
        r, rlo, rhi = ratio_interval(c[s], c["usage"], c["bare"], clock)
        dm, dlo, dhi = (x * 1e6 for x in c[s].excess(c["new"], clock))
        print(
            f"   {s:6s} +{o * 1e6:.1f} ({lo * 1e6:.1f}-{hi * 1e6:.1f}) {r:.2f}x ({rlo:.2f}-{rhi:.2f})  vs new {dm:+.1f} ({dlo:+.1f}..{dhi:+.1f})"
        )
