"""semantic-cache.md 'Review and repair' and 'keyed answers', as a user would try them."""

from langchain_core.globals import set_llm_cache

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, SemanticCache

cache = SemanticCache(path=":memory:")
set_llm_cache(cache)
m = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["Cards arrive in 3-5 working days."])
h = CostCallbackHandler(ledger="memory://")
meta = {"tenant_id": "acme", "route": "faq", "cache_answer_key": "card_arrival"}
for q in [
    "When will my card arrive?",
    "How long does it take for my card to arrive?",
    "How long until my new card is delivered?",
    "When should I expect my card to arrive?",
]:
    m.invoke(q, config={"callbacks": [h], "metadata": meta})
meta2 = {"tenant_id": "acme", "route": "faq"}
out = m.invoke(
    "How long will it take for my new card to get here?", config={"callbacks": [h], "metadata": meta2}
)
print("statuses:", [r.cache_status.value for r in h.records()])
print("stats:", cache.stats)
recs = list(cache.audit.records)
print("audit records:", len(recs), recs[:1])
if recs:
    r0 = recs[0]
    hit_id = getattr(r0, "hit_id", None) or (r0.get("hit_id") if isinstance(r0, dict) else None)
    print("report_bad_hit ->", cache.report_bad_hit(hit_id))
print("clear(tenant='acme') ->", cache.clear(tenant="acme"), cache.core.backend.count())
