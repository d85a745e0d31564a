# keyed answers: several wordings share the "block card" answer_key; do near-misses get it?
from langchain_core.globals import set_llm_cache

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, SemanticCache, cache_scope

groups = {
    "block": (
        [
            "How do I block my card?",
            "How can I block my card?",
            "I want to block my card",
            "Please block my card",
            "How to block my card?",
        ],
        ["How do I unblock my card?", "How can I unblock my card?"],
    ),
    "order1234": (
        [
            "What is the status of order 1234?",
            "Where is order 1234?",
            "Status of my order 1234 please",
            "Track order 1234",
            "Has order 1234 shipped?",
        ],
        ["What is the status of order 5678?", "Where is order 5678?"],
    ),
    "tx100": (
        [
            "Can I transfer $100 today?",
            "Is it possible to transfer $100 today?",
            "Can I send $100 today?",
            "Transfer $100 today, possible?",
            "May I transfer $100 today?",
        ],
        ["Can I transfer $5000 today?", "Is it possible to transfer $5000 today?"],
    ),
    "sat": (
        [
            "Are you open on Saturday?",
            "Is the branch open on Saturday?",
            "Do you open on Saturday?",
            "Saturday opening hours?",
            "Are branches open Saturday?",
        ],
        ["Are you open on Sunday?", "Is the branch open on Sunday?"],
    ),
}
wrong = 0
served = 0
for key, (seed, probes) in groups.items():
    set_llm_cache(SemanticCache(path=":memory:"))
    llm = FakeChatModelWithUsage(
        model_name="gpt-4o-mini",
        responses=[f"KEYED {key} #{i}" for i in range(len(seed))] + [f"FRESH #{i}" for i in range(10)],
    )
    h = CostCallbackHandler(ledger="memory://")
    cfg = {"callbacks": [h], "metadata": {"tenant_id": "acme"}}
    for q in seed:
        with cache_scope(answer_key=key):
            llm.invoke(q, config=cfg)
    # paraphrase should hit
    print("   seed statuses", [r.cache_status.value for r in h.records()])
    para = llm.invoke(seed[0].replace("?", "") + " now?", config=cfg).content
    print("   paraphrase status", h.records()[-1].cache_status.value)
    served += para.startswith("KEYED")
    for p in probes:
        out = llm.invoke(p, config=cfg).content
        bad = h.records()[-1].cache_status.value != "miss"
        wrong += bad
        print("WRONG" if bad else "ok   ", key, repr(p), "->", out, h.records()[-1].cache_status.value)
    print("   paraphrase served:", para)
print("wrong", wrong, "paraphrases served", served)
