import os
import sqlite3
import sys
import time

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage

for f in ("fork.db", "fork.db-wal", "fork.db-shm"):
    if os.path.exists(f):
        os.remove(f)
h = CostCallbackHandler(ledger=sys.argv[1] if len(sys.argv) > 1 else "sqlite:///fork.db")
llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"])
cfg = {"callbacks": [h], "metadata": {"tenant_id": "parent"}}
llm.invoke("parent before fork", config=cfg)  # starts writer thread in parent
pids = []
for i in range(3):
    pid = os.fork()
    if pid == 0:
        for j in range(5):
            llm.invoke(
                f"child {i} call {j}", config={"callbacks": [h], "metadata": {"tenant_id": f"child{i}"}}
            )
        # child exits like a multiprocessing fork worker: normal sys.exit path
        if i == 2:
            os._exit(0)  # like celery prefork / multiprocessing.Pool workers
        sys.exit(0)
    pids.append(pid)
for p in pids:
    os.waitpid(p, 0)
llm.invoke("parent after fork", config=cfg)
h.flush()
time.sleep(0.5)
if "sqlite" in (sys.argv[1] if len(sys.argv) > 1 else "sqlite"):
    con = sqlite3.connect("fork.db")
    print(con.execute("select tenant, count(*) from cost_records group by tenant").fetchall())
print("parent stats", h.tracker.ledger.stats if hasattr(h, "tracker") else None)
