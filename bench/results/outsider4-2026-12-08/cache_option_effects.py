# ruff: noqa: E402  (logging is set up before the package is imported)
import logging
import sys

logging.basicConfig(level=logging.WARNING, format="LOG %(levelname)s %(name)s: %(message)s")
from langchain_core.globals import set_llm_cache

from llm_cost_hooks.langchain import FakeChatModelWithUsage, SemanticCache

kw = eval(sys.argv[1])
c = SemanticCache(path=":memory:", **kw)
set_llm_cache(c)
m = FakeChatModelWithUsage(responses=["a1", "a2", "a3"])
for q in ["When will my card arrive?", "When will my card arrive?", "When does my card arrive?"]:
    try:
        print(m.invoke(q, config={"metadata": {"tenant_id": "A"}}).content)
    except Exception as e:
        print("RAISED", type(e).__name__, e)
print(c.stats)
