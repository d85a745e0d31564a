"""Print what a release reads from a ledger: records, task outcomes, report totals.

Run with the release under test first on sys.path. argv: ledger_url
"""

import json
import sys

from llm_cost_hooks.ledger import LedgerReports, open_ledger

url = sys.argv[1]
if url.startswith("postgres"):
    from llm_cost_hooks.ledger import PostgresLedger

    ledger = PostgresLedger(url)
else:
    ledger = open_ledger(url)
records = list(ledger.records())
outcomes = list(ledger.task_outcomes())
ledger.close()
rep = LedgerReports.open(url)
totals = rep.totals()
tasks = rep.tasks()
print(
    json.dumps(
        {
            "records": len(records),
            "distinct_request_ids": len({r.request_id for r in records}),
            "outcomes": len(outcomes),
            "distinct_outcomes": len(
                {(o.task_id, o.timestamp, o.success, o.source, o.reason) for o in outcomes}
            ),
            "totals": totals,
            "tasks": tasks,
        },
        default=str,
        sort_keys=True,
    )
)
