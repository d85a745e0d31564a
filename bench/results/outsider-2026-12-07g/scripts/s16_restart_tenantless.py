# require_tenant across a restart: the cache file has seen tenants; the restarted process's
# first calls lose their tenant
import sys

from langchain_core.globals import set_llm_cache

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, SemanticCache

set_llm_cache(SemanticCache(path="restart_cache.db", semantic=False))
h = CostCallbackHandler(ledger="memory://")
q = "What is my account balance?"
if sys.argv[1] == "first":
    llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["A's balance: $12,000"])
    print(
        "run 1, tenant A:", llm.invoke(q, config={"callbacks": [h], "metadata": {"tenant_id": "A"}}).content
    )
else:
    llm = FakeChatModelWithUsage(
        model_name="gpt-4o-mini",
        responses=["answer for lost-tenant call 1 (tenant B)", "answer for lost-tenant call 2 (tenant C)"],
    )
    for i in (1, 2):
        out = llm.invoke(q, config={"callbacks": [h]}).content
        print(
            f"run 2, call {i} without its tenant:",
            out,
            "<- WRONG: another call's answer" if i == 2 and "call 1" in out else "",
        )
    print([r.cache_status.value for r in h.records()])
