"""Same-process A/B of the handler's overhead per LangChain call, as ``python -m bench
foundation`` measures it (``bench._common.interleaved_cost``: sides alternating every 20
calls, the ledger writer's thread CPU charged to its side, the SQLite ledger flushed every
round): no handler, ``UsageMetadataCallbackHandler`` (anchor), main's package (a copy
importable as ``llm_cost_hooks_base``, ``BASE_PKG_DIR``) and this tree's, one process.

    BASE_PKG_DIR=/tmp/recpath/basepkg PYTHONPATH=$PWD MODEL=cheap|realistic ROUNDS=20 \\
        python bench/results/recpath-2026-12-06s/ab_recpath.py
"""

import os
import sys
import tempfile

sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/recpath/basepkg"))
from langchain_core.callbacks import UsageMetadataCallbackHandler
from llm_cost_hooks_base.langchain import CostCallbackHandler as Base

from bench._common import (
    Arm,
    fixed_usage_model,
    interleaved_cost,
    ratio_interval,
    realistic_model,
    threads_started_by,
)
from llm_cost_hooks.langchain import CostCallbackHandler as New

with open("/proc/loadavg") as f:
    print("load at start:", f.read().strip())
kind = os.environ.get("MODEL", "cheap")
model = fixed_usage_model() if kind == "cheap" else realistic_model()
rounds = int(os.environ.get("ROUNDS", "20"))
tmp = tempfile.mkdtemp()
meta = {"tenant_id": "acme", "prompt_version": "v1"}
prompt = "When will my card arrive?"
base, base_threads = threads_started_by(
    lambda: Base(ledger=f"sqlite:///{tmp}/base.db", defaults={"feature": "bench"})
)
new, new_threads = threads_started_by(
    lambda: New(ledger=f"sqlite:///{tmp}/new.db", defaults={"feature": "bench"})
)
assert base_threads and new_threads
cfgs = {
    "bare": {"metadata": meta},
    "usage": {"callbacks": [UsageMetadataCallbackHandler()], "metadata": meta},
    "base": {"callbacks": [base], "metadata": meta},
    "new": {"callbacks": [new], "metadata": meta},
}
arms = {
    "bare": Arm(lambda: model.invoke(prompt, config=cfgs["bare"])),
    "usage": Arm(lambda: model.invoke(prompt, config=cfgs["usage"])),
    "base": Arm(lambda: model.invoke(prompt, config=cfgs["base"]), base_threads, base.flush),
    "new": Arm(lambda: model.invoke(prompt, config=cfgs["new"]), new_threads, new.flush),
}
run = interleaved_cost(arms, block=20, blocks_per_round=20, rounds=rounds)
cost = run.cost
with open("/proc/loadavg") as f:
    print("load at end:", f.read().strip())
print(f"MODEL={kind}; {run.how()}; {run.seconds:.1f} s")
print(f"records written: base {base.tracker.ledger.stats.written}, new {new.tracker.ledger.stats.written}")
for clock in ("thread", "process"):
    u, ulo, uhi = cost["usage"].excess(cost["bare"], clock)
    print(
        f"[{clock}] no handler {cost['bare'].mean(clock) * 1e6:.1f} us; anchor +{u * 1e6:.1f} ({ulo * 1e6:.1f}-{uhi * 1e6:.1f})"
    )
    for side in ("base", "new"):
        o, lo, hi = cost[side].excess(cost["bare"], clock)
        r, rlo, rhi = ratio_interval(cost[side], cost["usage"], cost["bare"], clock)
        print(
            f"  {side:4s} +{o * 1e6:6.1f} us ({lo * 1e6:.1f}-{hi * 1e6:.1f})  {r:.2f}x ({rlo:.2f}-{rhi:.2f})"
        )
    d, dlo, dhi = cost["new"].excess(cost["base"], clock)
    print(f"  new - base {d * 1e6:+.1f} us ({dlo * 1e6:+.1f} to {dhi * 1e6:+.1f})")
base.tracker.close()
new.tracker.close()
