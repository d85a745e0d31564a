"""The docs/budgets.md set-up with store="redis://..." pointing at a port nothing listens on."""

import logging
import sys
import time

logging.basicConfig(
    level=logging.WARNING, format="%(relativeCreated)6.0fms %(name)s %(levelname)s %(message)s"
)
from llm_cost_hooks.budget import Limit, SpendGuard  # noqa: E402
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, GuardedChatModel  # noqa: E402

url = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else "open"
t0 = time.perf_counter()
guard = SpendGuard(
    [Limit.usd(25, per="day", scope="tenant"), Limit.usd_per_request(0.05)],
    store=None if url == "none" else url,
    fail_mode=mode,
)
print(f"SpendGuard(...) took {(time.perf_counter() - t0) * 1000:.0f} ms", flush=True)
model = GuardedChatModel(inner=FakeChatModelWithUsage(), guard=guard)
handler = CostCallbackHandler(ledger="memory://")
for i in range(8):
    t = time.perf_counter()
    try:
        model.invoke("Where is my order?", config={"callbacks": [handler], "metadata": {"tenant_id": "acme"}})
        outcome = "ok"
    except Exception as exc:
        outcome = type(exc).__name__
    print(f"call {i}: {(time.perf_counter() - t) * 1000:.0f} ms {outcome}", flush=True)
