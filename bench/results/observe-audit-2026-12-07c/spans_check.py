"""What scenario.py's in-memory exporter and metric reader received (spans.json, metrics.json),
against its ledger (costs.db), in the current directory."""

from __future__ import annotations

import collections
import json
import sqlite3
from pathlib import Path

spans = json.loads(Path("spans.json").read_text())
metrics = {m["name"]: m for m in json.loads(Path("metrics.json").read_text())}
db = sqlite3.connect("costs.db")
cost, calls, tin, tout = db.execute(
    "select sum(cost_usd), count(*), sum(input_tokens), sum(output_tokens) from cost_records"
).fetchone()
model = [s for s in spans if s["kind"] == "SpanKind.CLIENT"]
print(f"spans {len(spans)}: {len(model)} model (CLIENT) spans for {calls} ledger records")
keys = collections.Counter(k for s in model for k in s["attributes"])
print("attributes on model spans (count of spans):")
for k, v in sorted(keys.items()):
    print(f"  {v:3d} {k}")
span_cost = sum(s["attributes"]["gen_ai.usage.cost"] for s in model)
print(f"sum gen_ai.usage.cost ${span_cost:.8f} vs ledger ${cost:.8f}")
saved = [
    s["attributes"].get("llm_cost_hooks.cost.saved_usd")
    for s in model
    if "llm_cost_hooks.cost.saved_usd" in s["attributes"]
]
print("cache savings on spans:", saved, db.execute("select sum(saved_usd) from cost_records").fetchone()[0])
roots = [s for s in spans if s["parent"] is None]
print(
    f"root spans {len(roots)}, with llm_cost_hooks.task.*: {sum('llm_cost_hooks.task.cost_usd' in s['attributes'] for s in roots)}"
)
print("prompt/answer text anywhere in spans:", "SECRET" in json.dumps(spans))
errors = [
    (s["status"], s["status_description"], [e["attributes"] for e in s["events"]])
    for s in model
    if s["status"] != "StatusCode.UNSET"
]
print("failed model spans:", errors)
for name, m in metrics.items():
    pts = m["points"]
    total = sum((p["value"] if p["value"] is not None else p["count"]) for p in pts)
    print(f"metric {name} unit {m['unit']!r} {m['type']}: {total:.8g} over {len(pts)} attribute sets")
tok = metrics["gen_ai.client.token.usage"]["points"]
print(
    "token histogram sums: input",
    sum(p["sum"] for p in tok if p["gen_ai.token.type"] == "input"),
    "output",
    sum(p["sum"] for p in tok if p["gen_ai.token.type"] == "output"),
    f"(ledger {tin} / {tout})",
)
