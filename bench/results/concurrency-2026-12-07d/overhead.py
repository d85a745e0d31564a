"""Cost of reading the cache scope on every run start: N model calls through the callback
handler with a memory ledger, no scope set (the common case) or inside cache_scope.
python overhead.py N [scoped]"""

import sys

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, cache_scope

n = int(sys.argv[1])
handler = CostCallbackHandler(ledger="memory://")
model = FakeChatModelWithUsage(responses=["Done."])
config = {"callbacks": [handler], "metadata": {"tenant_id": "acme", "feature": "faq"}}
model.invoke("warm up", config=config)
if len(sys.argv) > 2:
    with cache_scope(tenant="acme"):
        for _ in range(n):
            model.invoke("Where is my order?", config=config)
else:
    for _ in range(n):
        model.invoke("Where is my order?", config=config)
