"""Ask one question through a SemanticCache on a SQLite file; print the answer and the
(exact_hits, semantic_hits, misses) counts. Run once with the parent commit's code (writes),
then with this one (reads):

    PYTHONPATH=. python bench/results/embedfail-2026-12-08/upgrade_check.py /tmp/up.db old
    PYTHONPATH=. python bench/results/embedfail-2026-12-08/upgrade_check.py /tmp/up.db new
"""

import sys

from langchain_core.globals import set_llm_cache

from llm_cost_hooks.langchain import FakeChatModelWithUsage, SemanticCache

cache = SemanticCache(path=sys.argv[1])
model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[sys.argv[2], "x"])
set_llm_cache(cache)
out = model.invoke("When will my card arrive?", config={"metadata": {"tenant_id": "acme"}}).content
print(out, cache.stats.exact_hits, cache.stats.semantic_hits, cache.stats.misses)
