"""Time each report query over LEDGER in one process: with a window of the last 7 days, or the
whole ledger when a second argument is given.

python q.py LEDGER [all]
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone

from llm_cost_hooks.ledger import LedgerReports
from llm_cost_hooks.ledger._html import savings_waterfall

r = LedgerReports.open(sys.argv[1])
week = (datetime.now(timezone.utc) - timedelta(days=7)).date().isoformat()
w = {"since": week} if len(sys.argv) < 3 else {}


def t(name, f):
    c = time.process_time()
    s = time.perf_counter()
    rows = f()
    print(
        f"{name:40s} {time.perf_counter() - s:7.3f} s wall {time.process_time() - c:7.3f} cpu rows={len(rows)}"
    )


t("timeseries day", lambda: r.timeseries("day", **w))
t("timeseries day by feature", lambda: r.timeseries("day", by="feature", **w))
t("totals", lambda: r.totals(**w))
t("totals tenant,feature", lambda: r.totals(by="tenant,feature", **w))
t("totals day", lambda: r.totals(by="day", **w))
t("tasks", lambda: r.tasks(**w))
t("tasks tenant,feature", lambda: r.tasks(by="tenant,feature", **w))
t("cache_savings", lambda: r.cache_savings(**w))
t("cache_precision route", lambda: r.cache_precision(by="route", **w))
t("waterfall", lambda: savings_waterfall(r, **w))
t("budget", lambda: r.budget_breaches(**w))
