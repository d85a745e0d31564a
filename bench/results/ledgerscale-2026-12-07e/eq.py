"""The task reports of several windows and groupings as JSON, to compare two builds.

python eq.py LEDGER > out.json
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone

from llm_cost_hooks.ledger import LedgerReports

r = LedgerReports.open(sys.argv[1])
out = {}
for days in (7, 30, 200):
    since = (datetime.now(timezone.utc) - timedelta(days=days)).date().isoformat()
    for by in ("tenant,feature", "model", "day", None):
        out[f"{days} {by}"] = r.tasks(by=by, since=since, until="2026-12-05T13:30:00")
print(json.dumps(out, sort_keys=True, default=str))
