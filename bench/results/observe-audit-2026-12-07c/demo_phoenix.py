import collections
import json
import sqlite3
import sys
import urllib.request

spans = []
cursor = None
while True:
    url = "http://127.0.0.1:16006/v1/projects/default/spans?limit=1000" + (
        f"&cursor={cursor}" if cursor else ""
    )
    d = json.load(urllib.request.urlopen(url))
    spans += d["data"]
    cursor = d.get("next_cursor")
    if not cursor:
        break
db = sqlite3.connect("demo_out/llm_costs.db")
n, cost = db.execute("select count(*), sum(cost_usd) from cost_records").fetchone()
since = sys.argv[1]
run = [s for s in spans if s["start_time"] >= since]
llm = [s for s in run if s["span_kind"] == "LLM"]
ours = [s for s in llm if "llm_cost_hooks.cache.status" in s["attributes"]]
print(
    "records",
    n,
    f"${cost:.6f}",
    "| spans",
    len(run),
    "LLM",
    len(llm),
    "with cache.status",
    len(ours),
    f"${sum(s['attributes'].get('gen_ai.usage.cost', 0) for s in ours):.6f}",
)
print(
    collections.Counter(
        s["name"] for s in llm if "llm_cost_hooks.cache.status" not in s["attributes"]
    ).most_common(5)
)
print(collections.Counter(s["name"].split(" ")[0] for s in run).most_common(8))
