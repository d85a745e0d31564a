"""One worker process: T threads of guarded LangChain calls on a shared Redis budget."""

import json
import logging
import os
import sys
import threading
import time

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard, WebhookSink
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, GuardedChatModel

url, hook, calls, threads, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
logging.basicConfig(level=logging.WARNING, format=f"{tag} %(levelname)s %(name)s %(message)s")
sink = WebhookSink(hook)
guard = SpendGuard(
    [Limit.usd(float(os.environ.get("LIMIT", "0.0002")), per="day", scope="tenant")],
    store=url,
    alerts=AlertManager([sink], log=False, span_events=False),
)
model = GuardedChatModel(
    inner=FakeChatModelWithUsage(max_tokens=20, responses=["Your order ships tomorrow."]), guard=guard
)
handler = CostCallbackHandler(ledger="memory://")
tenant = os.environ.get("TENANT", "acme")
model.invoke("warm up", config={"metadata": {"tenant_id": "warm-" + tag}})
open(os.environ.get("CHK", "/tmp/bud/chk") + f"/ready_{tag}", "w").close()
while not os.path.exists(os.environ.get("GO", os.environ.get("CHK", "/tmp/bud/chk") + "/go")):
    time.sleep(0.05)
T0 = time.time()
done = {"ok": 0, "refused": 0, "other": 0}


def run():
    for _ in range(calls):
        try:
            model.invoke(
                "SECRET-PROMPT where is my order 4411?",
                config={"callbacks": [handler], "metadata": {"tenant_id": tenant}},
            )
            done["ok"] += 1
            print(tag, "%.1f" % (time.time() - T0), "ok", file=sys.stderr)
        except BudgetExceeded:
            done["refused"] += 1
            print(tag, "%.1f" % (time.time() - T0), "refused", file=sys.stderr)
        except Exception as e:
            done["other"] += 1
            print(tag, "ERR", repr(e), file=sys.stderr)
        time.sleep(float(os.environ.get("PAUSE", "0")))


ts = [threading.Thread(target=run) for _ in range(threads)]
[t.start() for t in ts]
[t.join() for t in ts]
sink.flush(30)
print(tag, json.dumps(done), "delivered", sink.delivered, "failed", sink.failed, flush=True)
