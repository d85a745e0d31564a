"""Fork with the default (ledger-kept) user-hash salt on SQLite: one user's records from the
parent and from forked children must carry the same hash.

mode "warm": the parent makes a call (reads/creates the salt) before forking.
mode "cold": the parent forks before any call (gunicorn --preload with no warm-up); the
children race to create the salt.
"""

import os
import sqlite3
import sys

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage

mode = sys.argv[1]
db = f"fork_salt_{mode}.db"
for f in (db, db + "-wal", db + "-shm"):
    if os.path.exists(f):
        os.remove(f)
h = CostCallbackHandler(ledger=f"sqlite:///{db}")
llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"])


def call(tag: str) -> None:
    llm.invoke(tag, config={"callbacks": [h], "metadata": {"tenant_id": "t", "user_id": "alice@example.com"}})


if mode == "warm":
    call("parent before fork")
pids = []
for i in range(3):
    pid = os.fork()
    if pid == 0:
        for j in range(3):
            call(f"child {i} call {j}")
        h.flush()
        os._exit(0) if i == 2 else sys.exit(0)
    pids.append(pid)
for p in pids:
    os.waitpid(p, 0)
call("parent after fork")
h.flush()

c = sqlite3.connect(db)
rows = c.execute('select "user", count(*) from cost_records group by "user"').fetchall()
print("mode", mode, "user hashes:", [(u[:12] + "..." if u else u, n) for u, n in rows])
print("salt rows:", c.execute("select count(*) from llm_cost_meta where key='user_hash_salt'").fetchone()[0])
print("distinct hashes for one user:", len(rows), "records:", sum(n for _, n in rows))
