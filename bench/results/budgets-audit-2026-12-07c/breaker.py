"""Breaker and retry budget through a GuardedChatModel whose model fails, then recovers."""

import logging
import time

from llm_cost_hooks import CircuitOpenError
from llm_cost_hooks.dedup import CircuitBreaker, RetryBudget
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, GuardedChatModel

logging.basicConfig(level=logging.INFO, format="LOG %(levelname)s %(name)s %(message)s")
for name in ("httpx", "LiteLLM"):
    logging.getLogger(name).setLevel(logging.WARNING)
boom = ConnectionError("provider down")
inner = FakeChatModelWithUsage(errors=[boom] * 3)
breaker = CircuitBreaker(failure_threshold=3, window_seconds=60, reset_seconds=1)
handler = CostCallbackHandler(ledger="memory://")
model = GuardedChatModel(inner=inner, breaker=breaker, retry=RetryBudget(max_attempts=2))
for i in range(6):
    try:
        model.invoke("hi", config={"callbacks": [handler], "metadata": {"tenant_id": "acme"}})
        print(i, "ok")
    except CircuitOpenError as e:
        print(i, "CircuitOpenError:", e)
    except ConnectionError:
        print(i, "ConnectionError")
    print("   state", breaker.state("gpt-4o-mini").value)
time.sleep(1.1)
for i in range(3):
    try:
        model.invoke("hi", config={"callbacks": [handler]})
        print("after reset", i, "ok", breaker.state("gpt-4o-mini").value)
    except Exception as e:
        print("after reset", i, type(e).__name__, breaker.state("gpt-4o-mini").value)
handler.flush() if hasattr(handler, "flush") else None
for r in handler.ledger.records() if hasattr(handler.ledger, "records") else []:
    print(
        "record",
        r.success,
        r.error_type,
        {k: v for k, v in r.tags.items() if k.startswith(("breaker", "retry"))},
    )
