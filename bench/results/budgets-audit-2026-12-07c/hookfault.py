"""Guarded LangChain calls crossing 50/80/100 % with a webhook that is down, slow (10 s) or answers 500."""

import json
import logging
import sys
import time

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard, WebhookSink
from llm_cost_hooks.langchain import FakeChatModelWithUsage, GuardedChatModel

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
url = sys.argv[1]
sink = WebhookSink(url)
guard = SpendGuard(
    [Limit.usd(0.0001, per="day", scope="tenant")], alerts=AlertManager([sink], log=False, span_events=False)
)
model = GuardedChatModel(
    inner=FakeChatModelWithUsage(max_tokens=20, responses=["Your order ships tomorrow."]), guard=guard
)
model.invoke("warm", config={"metadata": {"tenant_id": "warm"}})
lat = []
for _ in range(40):
    t = time.perf_counter()
    try:
        model.invoke("SECRET-PROMPT where is my order?", config={"metadata": {"tenant_id": "acme"}})
    except BudgetExceeded:
        pass
    lat.append(time.perf_counter() - t)
t = time.perf_counter()
ok = sink.flush(60)
print("flush", ok, "%.1fs" % (time.perf_counter() - t))
print(
    json.dumps(
        {
            "max_call_s": round(max(lat), 4),
            "median_call_s": round(sorted(lat)[20], 4),
            "delivered": sink.delivered,
            "failed": sink.failed,
        }
    )
)
