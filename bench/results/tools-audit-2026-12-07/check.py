"""Check that a ledger's reports add up: python check.py LEDGER (SQLite/JSONL path or URL).

Every grouping's calls, tokens, dollars and savings sum to the ungrouped total; tasks by each
dimension sum to all tasks; cost per successful task = task cost / successful tasks; cache
savings = total saved; the waterfall runs from billed + net savings down to billed.
"""

from __future__ import annotations

import math
import sys

from llm_cost_hooks.ledger import LedgerReports
from llm_cost_hooks.ledger._html import savings_waterfall

COUNTS = ("calls", "input_tokens", "output_tokens", "cache_read_tokens", "errors", "cache_hits")
DOLLARS = ("cost_usd", "saved_usd", "retry_cost_usd")
GROUPS = ["tenant", "user", "feature", "route", "prompt_version", "model", "provider", "day", "month"]


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def main(url: str) -> list[tuple[object, ...]]:
    r = LedgerReports.open(url)
    (total,) = r.totals()
    problems: list[tuple[object, ...]] = []
    for by in [*GROUPS, "cache_status", "success", "tenant,feature", "model,route,day"]:
        rows = r.totals(by=by)
        for key in COUNTS:
            if sum(x[key] or 0 for x in rows) != total[key]:
                problems.append(("totals", by, key))
        for key in DOLLARS:
            if not close(sum(x[key] or 0 for x in rows), total[key] or 0):
                problems.append(("totals", by, key))
    (tasks,) = r.tasks()
    for by in GROUPS:
        rows = r.tasks(by=by)
        for key in ("tasks", "successful_tasks", "failed_tasks", "calls"):
            if sum(x[key] for x in rows) != tasks[key]:
                problems.append(("tasks", by, key))
        if not close(sum(x["cost_usd"] for x in rows), tasks["cost_usd"]):
            problems.append(("tasks", by, "cost_usd"))
    if tasks["calls"] != total["calls"] or not close(tasks["cost_usd"], total["cost_usd"]):
        problems.append(("tasks vs totals",))
    if tasks["successful_tasks"]:
        per = tasks["cost_usd"] / tasks["successful_tasks"]
        if not math.isclose(per, tasks["cost_per_successful_task"], rel_tol=1e-6):
            problems.append(("cost per successful task", per, tasks["cost_per_successful_task"]))
    saved = sum(x["saved_usd"] for x in r.cache_savings())
    if not close(saved, total["saved_usd"]):
        problems.append(("cache savings vs totals", saved, total["saved_usd"]))
    steps = savings_waterfall(r)
    if not close(steps[-1]["cost_usd"], total["cost_usd"]):
        problems.append(("waterfall billed", steps[-1]["cost_usd"]))
    print("totals", total)
    print("tasks", tasks)
    print("waterfall", [(s["step"], round(s["cost_usd"], 6)) for s in steps])
    print("problems", problems)
    r.close()
    return problems


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1]) else 0)
