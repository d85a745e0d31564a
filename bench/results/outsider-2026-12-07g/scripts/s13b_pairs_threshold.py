# ruff: noqa: E402, E741, SIM115
# one-entry semantic cache, more near-miss pairs: the second question must not get the first's answer
import sys

from langchain_core.globals import set_llm_cache

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, SemanticCache

pairs = [l.split("\t") for l in open(sys.argv[1]).read().splitlines() if l.strip() and not l.startswith("#")]
from llm_cost_hooks.cache import CacheConfig, DecisionPolicy

thr = float(sys.argv[2])
cache = SemanticCache(
    path=":memory:",
    config=CacheConfig(default=DecisionPolicy(kind="similarity", threshold=thr, min_similarity=thr)),
)
set_llm_cache(cache)
wrong = 0
for i, (a, b) in enumerate(pairs):
    llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[f"A{i}", f"B{i}"])
    h = CostCallbackHandler(ledger="memory://")
    cfg = {"callbacks": [h], "metadata": {"tenant_id": f"t{i}"}}  # one entry per partition
    llm.invoke(a, config=cfg)
    out = llm.invoke(b, config=cfg).content
    st = h.records()[-1].cache_status.value
    bad = st != "miss"
    wrong += bad
    if bad or "-v" in sys.argv:
        print(("SERVED " if bad else "ok     ") + st, repr(a), "->", repr(b))
print(f"pairs {len(pairs)} served {wrong}")
