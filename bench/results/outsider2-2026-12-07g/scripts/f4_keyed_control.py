"""The keyed control of firsthour/outsider_check.py alone: 48 questions, each stored under its
own answer key in five wordings; the 48 near misses are asked (not served, so stored
as answers of their own); then "Hey, <question>" is asked. Run with the defaults, then
with the sparse-partition cap on other answers lifted (_OTHER_ANSWER_GAP = 10), to see which
change moves the count; "no-near" leaves the near misses out."""

import sys
import tempfile

from langchain_core.globals import set_llm_cache

import llm_cost_hooks.cache._core as core
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, SemanticCache, cache_scope

with open(sys.argv[1]) as f:
    src = f.read()
ns: dict = {}
exec(
    src[src.index("NEAR_MISSES: list") : src.index("PADDINGS =")].replace(
        "NEAR_MISSES: list[tuple[str, str, str]]", "NEAR_MISSES"
    ),
    ns,
)
NEAR = ns["NEAR_MISSES"]
PADDINGS = ["{q}", "Hi, {q}", "Quick question: {q}", "{q} Thanks!", "Hello there. {q}"]
variant = sys.argv[2] if len(sys.argv) > 2 else "defaults"
if variant == "no-gap":
    core._OTHER_ANSWER_GAP = 10.0
cache = SemanticCache(path=tempfile.mkdtemp() + "/c.db")
set_llm_cache(cache)
n = iter(range(10**6))
llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", respond=lambda *a, **k: f"answer {next(n)}")
h = CostCallbackHandler(ledger="memory://")
for i, (_, stored, _) in enumerate(NEAR):
    with cache_scope(tenant="full-keyed", answer_key=f"faq-{i}"):
        for pad in PADDINGS:
            llm.invoke(pad.format(q=stored), config={"callbacks": [h]})
with cache_scope(tenant="full-keyed"):  # as the check does: the near misses asked first (misses, stored)
    for _, _, q in NEAR if variant != "no-near" else []:
        llm.invoke(q, config={"callbacks": [h]})
k = len(h.records())
with cache_scope(tenant="full-keyed"):
    for _, s, _ in NEAR:
        llm.invoke(f"Hey, {s}", config={"callbacks": [h]})
hits = sum(r.cache_status.value == "semantic" for r in h.records()[k:])
print(f"{variant}: {hits} of {len(NEAR)} 'Hey, ...' served semantically")
