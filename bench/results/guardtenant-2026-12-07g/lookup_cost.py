"""What ``Attribution.of`` (the guard's reading of a call) costs, old vs new code, in
alternating processes: a call naming a tenant, and one naming none with the run's handlers
passed (new: the handler is asked for the tenant its record names; old: no such argument,
metadata only).

    python bench/results/guardtenant-2026-12-07g/lookup_cost.py <old checkout> <new checkout>
"""

from __future__ import annotations

import os
import subprocess
import sys

CHILD = r"""
import timeit, uuid, inspect
from types import SimpleNamespace
from llm_cost_hooks.budget._call import Attribution
from llm_cost_hooks.langchain import CostCallbackHandler
h = CostCallbackHandler(ledger="memory://", defaults={"tenant_id": "default-tenant"})
rid = uuid.uuid4()
h.tracker.start_llm(str(rid), None, model="gpt-4o-mini", provider="openai", metadata={})
run = SimpleNamespace(handlers=[object(), h], run_id=rid)
new = "run" in inspect.signature(Attribution.of).parameters
kw = {"run": run} if new else {}
named, none = {"tenant_id": "acme"}, {}
n = 100_000
out = []
for md in (named, none):
    out.append(min(timeit.repeat(lambda: Attribution.of(md, None, **kw), number=n, repeat=5)) / n * 1e9)
print(" ".join(f"{x:.0f}" for x in out))
"""


def main() -> None:
    old, new = sys.argv[1], sys.argv[2]
    print("round | tenant named: old / new (ns) | no tenant: old / new (ns)")
    for i in range(4):
        res = {}
        for name, path in (("old", old), ("new", new)) if i % 2 == 0 else (("new", new), ("old", old)):
            env = {**os.environ, "PYTHONPATH": path}
            res[name] = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                                       text=True, check=True).stdout.split()  # fmt: skip
        print(f"{i} | {res['old'][0]} / {res['new'][0]} | {res['old'][1]} / {res['new'][1]}")


if __name__ == "__main__":
    main()
