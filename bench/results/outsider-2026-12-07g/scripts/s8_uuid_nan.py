# ruff: noqa: E402
# tenant ids as they come from a database (uuid.UUID) or a DataFrame (NaN for a missing one)
import logging
import os
import uuid

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
logging.basicConfig(level=logging.WARNING, format="LOG %(name)s %(levelname)s %(message)s")
from langchain_core.globals import set_llm_cache

from llm_cost_hooks.budget import Limit, SpendGuard
from llm_cost_hooks.langchain import (
    CostCallbackHandler,
    FakeChatModelWithUsage,
    GuardedChatModel,
    SemanticCache,
)

org = uuid.UUID("6f1c0e52-3d4b-4b8e-9a55-0f2d5b1c7e11")
h = CostCallbackHandler(ledger="memory://", defaults={"tenant_id": "default-tenant"})
guard = SpendGuard([Limit.usd(10.0, per="day", scope="tenant")])
m = GuardedChatModel(inner=FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"]), guard=guard)
m.invoke("hi", config={"callbacks": [h], "metadata": {"tenant_id": org}})
r = h.records()[-1]
print(
    "LangChain UUID tenant: record tenant",
    repr(r.tenant),
    "| guard charged",
    guard.spent(guard.limits[0], str(org)) > 0,
)
import litellm

from llm_cost_hooks.litellm import CostHooksLogger, uninstall

cl = CostHooksLogger(ledger="memory://", defaults={"tenant_id": "default-tenant"})
litellm.callbacks = [cl]
litellm.completion(
    model="gpt-4o-mini",
    messages=[{"role": "user", "content": "hi"}],
    mock_response="ok",
    metadata={"tenant_id": org},
)
cl.flush()
print("LiteLLM UUID tenant: record tenant", repr(cl.records()[-1].tenant))
uninstall(cl)
# NaN tenants: two rows that lost their tenant, in a cache that has seen tenants
set_llm_cache(SemanticCache(path=":memory:", semantic=False))
llm = FakeChatModelWithUsage(
    model_name="gpt-4o-mini",
    responses=[
        "answer written for tenant 'seen'",
        "answer written for NaN row 1 (tenant A)",
        "answer written for NaN row 2 (tenant B)",
    ],
)
q = "What is my account balance?"
h2 = CostCallbackHandler(ledger="memory://")
print(llm.invoke(q, config={"callbacks": [h2], "metadata": {"tenant_id": "seen"}}).content)
print(
    "NaN row 1 (tenant A) served:",
    llm.invoke(q, config={"callbacks": [h2], "metadata": {"tenant_id": float("nan")}}).content,
)
out = llm.invoke(q, config={"callbacks": [h2], "metadata": {"tenant_id": float("nan")}}).content
print("NaN row 2 (tenant B) served:", out, "<- WRONG: tenant A's answer" if "row 1" in out else "")
print([(r.tenant, r.cache_status.value) for r in h2.records()])
