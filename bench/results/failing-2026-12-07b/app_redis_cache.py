"""docs/semantic-cache.md with redis_url pointing at a port nothing listens on."""

import logging
import sys
import time

logging.basicConfig(
    level=logging.WARNING, format="%(relativeCreated)6.0fms %(name)s %(levelname)s %(message)s"
)
from langchain_core.globals import set_llm_cache  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, SemanticCache  # noqa: E402

url = sys.argv[1]
t0 = time.perf_counter()
try:
    cache = (
        SemanticCache(redis_url=url, semantic=False)
        if url != "none"
        else SemanticCache(path=":memory:", semantic=False)
    )
    print(f"SemanticCache(...) took {(time.perf_counter() - t0) * 1000:.0f} ms", flush=True)
except Exception as exc:
    print(
        f"SemanticCache(...) raised after {(time.perf_counter() - t0) * 1000:.0f} ms: {type(exc).__name__}: {exc}",
        flush=True,
    )
    sys.exit(0)
set_llm_cache(cache)
chain = ChatPromptTemplate.from_messages(
    [("system", "You are a bank assistant."), ("human", "{q}")]
) | FakeChatModelWithUsage(model_name="gpt-4o", responses=["Cards arrive in 3-5 working days."])
handler = CostCallbackHandler(ledger="memory://")
cfg = {"callbacks": [handler], "metadata": {"tenant_id": "acme", "route": "faq", "prompt_version": "v3"}}
for i in range(6):
    t = time.perf_counter()
    try:
        chain.invoke({"q": "When will my card arrive?"}, config=cfg)
        outcome = "ok"
    except Exception as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    print(f"call {i}: {(time.perf_counter() - t) * 1000:.0f} ms {outcome}", flush=True)
print([(r.cache_status.value, r.cost_usd) for r in handler.records()])
