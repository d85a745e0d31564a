# one-entry semantic cache: near-miss pairs must not be served
from langchain_core.globals import set_llm_cache

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, SemanticCache

pairs = [
    ("How do I block my card?", "How do I unblock my card?"),
    ("What is the status of order 1234?", "What is the status of order 5678?"),
    ("Can I transfer $100 today?", "Can I transfer $5000 today?"),
    ("Are you open on Saturday?", "Are you open on Sunday?"),
    ("How do I activate my card?", "How do I deactivate my card?"),
    ("Can I cancel my order?", "Can I not cancel my order?"),
    ("How do I block my card", "how do i unblock my card"),
]
bad = 0
for a, b in pairs:
    cache = SemanticCache(path=":memory:")
    set_llm_cache(cache)
    llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[f"ANSWER FOR: {a}", f"ANSWER FOR: {b}"])
    h = CostCallbackHandler(ledger="memory://")
    cfg = {"callbacks": [h], "metadata": {"tenant_id": "acme"}}
    r1 = llm.invoke(a, config=cfg).content
    r2 = llm.invoke(b, config=cfg).content
    st = [r.cache_status.value for r in h.records()]
    wrong = r2 == f"ANSWER FOR: {a}"
    bad += wrong
    print(f"{'WRONG' if wrong else 'ok   '} {a!r} -> {b!r}: {r2!r} statuses={st}")
    # also repeat: exact hit should serve
    r3 = llm.invoke(a, config=cfg).content
    print(
        "      repeat of a served:", r3 == f"ANSWER FOR: {a}", [r.cache_status.value for r in h.records()][-1]
    )
print("wrong:", bad)
