import multiprocessing as mp
import os
import sqlite3

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage

for f in ("mp.db", "mp.db-wal", "mp.db-shm"):
    if os.path.exists(f):
        os.remove(f)
h = CostCallbackHandler(ledger="sqlite:///mp.db")
llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"])
llm.invoke("warm", config={"callbacks": [h], "metadata": {"tenant_id": "parent"}})


def work(i):
    llm.invoke(f"q{i}", config={"callbacks": [h], "metadata": {"tenant_id": "pool"}})
    return os.getpid()


if __name__ == "__main__":
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        print(len(set(pool.map(work, range(20)))), "workers")
    h.flush()
    con = sqlite3.connect("mp.db")
    print(con.execute("select tenant, count(*) from cost_records group by tenant").fetchall())
