# fork after the cache and the ledger are in use: children keep recording and caching
import os
import sqlite3
import sys

from langchain_core.globals import set_llm_cache

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, SemanticCache

for f in os.listdir("."):
    if f.startswith(("fc.db", "fcl.db")):
        os.remove(f)
cache = SemanticCache(path="fc.db")
set_llm_cache(cache)
h = CostCallbackHandler(ledger="sqlite:///fcl.db")
llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[f"ans {i}" for i in range(100)])


def ask(q, t):
    return llm.invoke(q, config={"callbacks": [h], "metadata": {"tenant_id": t}}).content


print("parent:", ask("When will my card arrive?", "acme"))
pids = []
for i in range(2):
    pid = os.fork()
    if pid == 0:
        out = [
            ask("When will my card arrive?", "acme"),
            ask(f"How do I reset my PIN number {i}?", "acme"),
            ask("When will my card arrive?", f"child{i}"),
        ]
        print(f"child {i}:", out, "statuses", [r.cache_status.value for r in h.records()][-3:], flush=True)
        sys.exit(0)
    pids.append(pid)
codes = [os.waitpid(p, 0)[1] for p in pids]
print("child exit codes", codes)
print("parent again:", ask("How do I reset my PIN number 0?", "acme"), h.records()[-1].cache_status.value)
h.flush()
con = sqlite3.connect("fcl.db")
print(con.execute("select tenant, cache_status, count(*) from cost_records group by 1,2").fetchall())
print("cache stats", cache.core.stats)
