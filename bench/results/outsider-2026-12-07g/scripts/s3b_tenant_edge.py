# pairs of distinct tenant values: must never share a cache entry
from langchain_core.globals import set_llm_cache

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, SemanticCache

pairs = [
    ("A", "a"),
    ("A", "A "),
    ("acme", "ａｃｍｅ"),
    ("x\ud800", "x\udfff"),
    ("x\ud800", "x\ufffd"),
    ("org-" + "x" * 300 + "A", "org-" + "x" * 300 + "B"),
    ("org-" + "x" * 5000 + "A", "org-" + "x" * 5000 + "B"),
    ("a\x00b", "a\x00c"),
    ("a\x00b", "a"),
    ("7", 7),
    ("1", True),
    ("None", None),
    ("", None),
    ("t1", {"a": 1}),
    ({"a": 1}, {"a": 2}),
    (float("nan"), "nan"),
    (1.0, "1.0"),
    (1, 1.0),
    ("café", "cafe\u0301"),
]
bad = 0
for a, b in pairs:
    set_llm_cache(SemanticCache(path=":memory:", semantic=False))
    llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ANSWER-A", "ANSWER-B"])
    h = CostCallbackHandler(ledger="memory://")
    q = "What is my account balance?"
    ra = llm.invoke(q, config={"callbacks": [h], "metadata": {"tenant_id": a}}).content
    rb = llm.invoke(q, config={"callbacks": [h], "metadata": {"tenant_id": b}}).content
    shared = rb == "ANSWER-A"
    bad += shared
    recs = h.records()
    print(
        "SHARED" if shared else "sep   ",
        repr(a)[:20],
        repr(b)[:20],
        "recorded tenants:",
        repr(recs[0].tenant)[:20],
        repr(recs[1].tenant)[:20],
        [r.cache_status.value for r in recs],
    )
print("shared:", bad)
