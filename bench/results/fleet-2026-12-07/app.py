import json
import os

import litellm

from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, GuardedChatModel
from llm_cost_hooks.litellm import CostHooksLogger

guard = SpendGuard(
    [Limit.usd(100, per="day", scope="tenant", name="daily")],
    store=os.environ["REDIS_URL"],
    alerts=AlertManager(log=False),
)
handler = CostCallbackHandler()  # LLM_COST_HOOKS_LEDGER
logger = CostHooksLogger(ledger=handler.ledger, guard=guard)
litellm.callbacks = [logger]
model = GuardedChatModel(
    inner=FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["Your card arrives in 3-5 days."]),
    guard=guard,
)
N = {"n": 0}


def app(environ, start_response):
    pid = os.getpid()
    tenant = f"p{pid}"
    meta = {"tenant_id": tenant, "cost_tags": {"pid": str(pid)}}
    N["n"] += 1
    if N["n"] % 2:
        model.invoke("When will my card arrive?", config={"callbacks": [handler], "metadata": meta})
    else:
        logger.completion(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Where?"}],
            mock_response="On its way.",
            metadata=meta,
        )
    body = json.dumps({"pid": pid, "tenant": tenant}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
