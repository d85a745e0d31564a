from langchain_core.globals import set_llm_cache
from langchain_core.prompts import ChatPromptTemplate

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, SemanticCache, cache_scope

set_llm_cache(SemanticCache())  # embedded, persisted to ./llm_cache.db; needs the embed extra
# set_llm_cache(SemanticCache(redis_url="redis://cache:6379"))   # shared by many processes/machines

chain = ChatPromptTemplate.from_messages(
    [("system", "You are a bank assistant."), ("human", "{q}")]
) | FakeChatModelWithUsage(model_name="gpt-4o", responses=["Cards arrive in 3-5 working days."])
handler = CostCallbackHandler(ledger="memory://")
cfg = {"callbacks": [handler], "metadata": {"tenant_id": "acme", "route": "faq", "prompt_version": "v3"}}
chain.invoke({"q": "When will my card arrive?"}, config=cfg)  # miss: calls the model, stores the answer
chain.invoke({"q": "when will my card arrive?"}, config=cfg)  # exact hit (normalised), cost 0
with cache_scope(tenant="globex"):  # explicit scope wins over metadata
    chain.invoke({"q": "When will my card arrive?"}, config={"callbacks": [handler]})  # another tenant: miss
print([(r.cache_status.value, r.cost_usd, r.saved_usd) for r in handler.records()])
# [('miss', 0.0001575, 0.0), ('exact', 0.0, 0.0001575), ('miss', 0.0001575, 0.0)]
