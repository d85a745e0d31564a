"""Per-call cost of a guarded LangChain call naming no tenant (the path this change adds
a look-up to) and one naming a tenant (unchanged), old vs new code in alternating processes.

    python bench/results/guardtenant-2026-12-07g/hot_path.py <old checkout> <new checkout>
"""

from __future__ import annotations

import os
import subprocess
import sys

CHILD = r"""
import logging, time
logging.disable(logging.CRITICAL)
from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.langchain._budget import GuardedChatModel
g = SpendGuard([Limit.usd(1e6, per="day", scope="tenant")], alerts=AlertManager(log=False))
h = CostCallbackHandler(ledger="memory://", defaults={"tenant_id": "default-tenant"})
m = GuardedChatModel(inner=FakeChatModelWithUsage(), guard=g)
out = []
for md in ({}, {"tenant_id": "acme"}):
    cfg = {"callbacks": [h], "metadata": md}
    for _ in range(50):
        m.invoke("hi", config=cfg)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter_ns()
        for _ in range(300):
            m.invoke("hi", config=cfg)
        best = min(best, (time.perf_counter_ns() - t) / 300)
    out.append(f"{best / 1000:.1f}")
print(" ".join(out))
"""


def main() -> None:
    old, new = sys.argv[1], sys.argv[2]
    print("round | no tenant: old / new (us per invoke) | named tenant: old / new")
    for i in range(3):
        res = {}
        for name, path in (("old", old), ("new", new)) if i % 2 == 0 else (("new", new), ("old", old)):
            env = {**os.environ, "PYTHONPATH": path}
            res[name] = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                                       text=True, check=True).stdout.split()  # fmt: skip
        print(f"{i} | {res['old'][0]} / {res['new'][0]} | {res['old'][1]} / {res['new'][1]}")


if __name__ == "__main__":
    main()
