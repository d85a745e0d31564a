"""A user's hash across `llm-cost ledger copy` (JSONL -> SQLite, SQLite -> SQLite): records the
destination gets later, from a new process writing to it, must hash the user alike."""

import json
import os
import sqlite3
import subprocess
import sys

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage

META = {"tenant_id": "t", "user_id": "alice@example.com"}
if len(sys.argv) > 1:  # a new process writing one record to the ledger named
    h = CostCallbackHandler(ledger=sys.argv[1])
    FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"]).invoke(
        "x", config={"callbacks": [h], "metadata": META}
    )
    h.flush()
    sys.exit(0)

for f in os.listdir("."):
    os.remove(f) if os.path.isfile(f) else None
subprocess.run([sys.executable, __file__, "src.jsonl"], check=True)
subprocess.run([sys.executable, __file__, "sqlite:///src.db"], check=True)
for src, dst in (("src.jsonl", "from_jsonl.db"), ("src.db", "from_sqlite.db")):
    subprocess.run(["llm-cost", "ledger", "copy", src, dst], check=True)
    subprocess.run([sys.executable, __file__, f"sqlite:///{dst}"], check=True)
    users = [u for (u,) in sqlite3.connect(dst).execute('select "user" from cost_records')]
    if src.endswith(".jsonl"):
        with open(src) as f:
            src_users = [json.loads(line)["user"] for line in f if line.strip()]
    else:
        src_users = [u for (u,) in sqlite3.connect(src).execute('select "user" from cost_records')]
    print(
        f"{src} -> {dst}: source hash {src_users[0][:12]}..., destination hashes",
        sorted({u[:12] + "..." for u in users}),
        "alike" if len(set(users)) == 1 else "DIFFERENT",
    )
