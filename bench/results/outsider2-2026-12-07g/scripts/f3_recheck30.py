"""require_tenant="auto" across processes: process P starts on a fresh shared cache file and
makes tenant-less calls (served, single-tenant style); another process then writes tenant A's
entry to the same file. Within 30 s (plus one call) P's tenant-less calls must stop being served."""

import subprocess
import sys
import time

from langchain_core.globals import set_llm_cache

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, SemanticCache

PATH = "shared_cache.db"
q = "What is my account balance?"
if len(sys.argv) > 1 and sys.argv[1] == "writer":
    set_llm_cache(SemanticCache(path=PATH, semantic=False))
    llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["A's balance: $12,000"])
    llm.invoke(q, config={"metadata": {"tenant_id": "A"}})
    sys.exit(0)

set_llm_cache(SemanticCache(path=PATH, semantic=False))
h = CostCallbackHandler(ledger="memory://")
llm = FakeChatModelWithUsage(
    model_name="gpt-4o-mini", responses=[f"tenant-less answer {i}" for i in range(99)]
)
llm.invoke(q, config={"callbacks": [h]})
llm.invoke(q, config={"callbacks": [h]})
print("before the other process wrote a tenant:", [r.cache_status.value for r in h.records()])
subprocess.run([sys.executable, __file__, "writer"], check=True)
t0 = time.monotonic()
statuses = []
while time.monotonic() - t0 < 40:
    n = len(h.records())
    llm.invoke(q, config={"callbacks": [h]})
    statuses.append((round(time.monotonic() - t0), h.records()[n].cache_status.value))
    time.sleep(2)
print("after:", statuses)
first_bypass = next((t for t, s in statuses if s == "miss"), None)
print("first tenant-less call not served at", first_bypass, "s after the write (limit 30 s + 2 s step)")
