import collections
import json
import sys

with open(sys.argv[1]) as f:
    rows = [json.loads(line) for line in f]
c = collections.Counter(
    (r["body"]["kind"], r["body"].get("threshold"), r["body"]["scope_value"]) for r in rows
)
for k, v in sorted(c.items(), key=str):
    print(k, v)
print(
    "payload contains prompt/answer text:",
    any("SECRET" in json.dumps(r["body"]) or "ships tomorrow" in json.dumps(r["body"]) for r in rows),
)
