"""Sum, per run tag, the last exported value of each metric per service.instance.id (what a backend adds up)."""

import collections
import json
import sys

tag = sys.argv[1]
last = {}
for line in open("/tmp/fail_s/otlp_rx.jsonl"):  # noqa: SIM115
    r = json.loads(line)
    if r["signal"] != "metric" or r["resource"].get("service.name") != f"fork-{tag}":
        continue
    key = (r["resource"].get("service.instance.id"), r["name"], json.dumps(r["attributes"], sort_keys=True))
    last[key] = r.get("count", r.get("value"))
per_metric = collections.defaultdict(float)
per_instance = collections.defaultdict(dict)
for (inst, name, _), v in last.items():
    per_metric[name] += v
    per_instance[inst][name] = per_instance[inst].get(name, 0) + v
for inst, d in per_instance.items():
    print(
        tag,
        "instance",
        inst[:8],
        {k: round(v, 6) for k, v in sorted(d.items()) if "duration" in k or "cost" in k},
    )
print(
    tag,
    "summed over instances",
    {k: round(v, 6) for k, v in sorted(per_metric.items()) if "duration" in k or "cost" in k},
    "(calls made: 7)",
)
