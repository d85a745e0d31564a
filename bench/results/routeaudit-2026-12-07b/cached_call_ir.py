"""One variant of cached_call.py for callgrind: `calls` cached calls (0 = the baseline).

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python cached_call_ir.py {A|B} CALLS
Instructions per call = (Ir at CALLS - Ir at 0) / CALLS.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from langchain_core.globals import set_llm_cache

from llm_cost_hooks.langchain import FakeChatModelWithUsage, RoutedChatModel, SemanticCache
from llm_cost_hooks.routing import RuleRouter

variant, calls = sys.argv[1], int(sys.argv[2])
set_llm_cache(SemanticCache(path=":memory:", semantic=False))
tiers = {t: FakeChatModelWithUsage(model_name=t, responses=["4"] * 5) for t in ("gpt-4o-mini", "gpt-4o")}
extra = {"cache": None} if variant == "A" else {}
m = RoutedChatModel(tiers=tiers, strategy=RuleRouter([], default="gpt-4o-mini"), **extra)
m.invoke("What is 2 plus 2?")
m.invoke("What is 2 plus 2?")
for _ in range(calls):
    m.invoke("What is 2 plus 2?")
