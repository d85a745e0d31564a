"""CPU time per call of overhead.py's loop (no scope set), in this process:
python cpu_ab.py N  -> prints microseconds of CPU per call."""

import sys
import time

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage

n = int(sys.argv[1])
handler = CostCallbackHandler(ledger="memory://")
model = FakeChatModelWithUsage(responses=["Done."])
config = {"callbacks": [handler], "metadata": {"tenant_id": "acme", "feature": "faq"}}
for _ in range(200):
    model.invoke("warm up", config=config)
t0 = time.process_time()
for _ in range(n):
    model.invoke("Where is my order?", config=config)
print(f"{(time.process_time() - t0) / n * 1e6:.1f}")
