"""Fork with the ledger-kept salt on a JSONL ledger, cold: 4 children race to make
<file>.salt; the parent writes after them. One user hash expected, salt file mode 0600."""

import json
import os

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage

h = CostCallbackHandler(ledger="costs.jsonl")
llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"])
M = {"tenant_id": "t", "user_id": "alice@example.com"}
pids = []
for i in range(4):
    pid = os.fork()
    if pid == 0:
        for j in range(3):
            llm.invoke(f"c{i}{j}", config={"callbacks": [h], "metadata": M})
        h.flush()
        os._exit(0)
    pids.append(pid)
for p in pids:
    os.waitpid(p, 0)
llm.invoke("parent", config={"callbacks": [h], "metadata": M})
h.flush()
with open("costs.jsonl") as f:
    users = [json.loads(line).get("user") for line in f if line.strip()]
print(
    "jsonl cold fork: records",
    len(users),
    "distinct user hashes",
    len(set(users)),
    "salt file mode",
    oct(os.stat("costs.jsonl.salt").st_mode & 0o777),
    [f for f in os.listdir(".") if "tmp" in f],
)
