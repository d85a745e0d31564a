"""Spans of scenario.py (run with OTLP_ENDPOINT=http://127.0.0.1:PORT/v1/traces) as Phoenix
stored them, against the ledger scenario.py wrote (cwd). Usage: python phoenix_check.py PORT"""

from __future__ import annotations

import collections
import json
import sqlite3
import sys
import urllib.request

port = sys.argv[1]
with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/projects/default/spans?limit=500") as resp:
    spans = json.load(resp)["data"]
# This run's spans only: the project may hold earlier runs (their task ids differ).
db = sqlite3.connect("costs.db")
tasks = {t for (t,) in db.execute("select distinct task_id from cost_records")}
traces = {s["context"]["trace_id"] for s in spans if s["attributes"].get("llm_cost_hooks.task_id") in tasks}
spans = [s for s in spans if s["context"]["trace_id"] in traces]
llm = [s for s in spans if s["span_kind"] == "LLM"]
print("spans:", len(spans), dict(collections.Counter(s["span_kind"] for s in spans)))
print("LLM spans by model:", dict(collections.Counter(s["attributes"].get("llm.model_name") for s in llm)))
print(
    "LLM spans by tenant:",
    dict(collections.Counter(s["attributes"].get("llm_cost_hooks.tenant") for s in llm)),
)
cost = sum(s["attributes"].get("gen_ai.usage.cost", 0.0) for s in llm)
(ledger_cost, calls) = (
    sqlite3.connect("costs.db").execute("select sum(cost_usd), count(*) from cost_records").fetchone()
)
print(f"sum gen_ai.usage.cost on LLM spans ${cost:.8f}; ledger ${ledger_cost:.8f} over {calls} records")
print("prompt/answer text in Phoenix:", "SECRET" in json.dumps(spans))
missing = [
    s["name"]
    for s in llm
    if not {"gen_ai.operation.name", "gen_ai.request.model", "gen_ai.system", "gen_ai.usage.input_tokens"}
    <= set(s["attributes"])
    or "llm_cost_hooks.route" not in s["attributes"]
]
print("LLM spans missing a gen_ai name or the route:", missing)
