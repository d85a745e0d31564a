"""Rows with equal measures and an empty name, on the ledgers named on the command line:
python ties.py sqlite:///ties.db postgresql://.../an_icu_database"""

import sys

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import open_ledger

recs = [
    CostRecord(model="gpt-4o", tenant=t, feature=f, cost_usd=0.0, task_id=t + "-task")
    for t, f in [("beta", "x"), ("Acme", "x"), ("_ops", "y"), ("alpha", ""), ("Zeta", None)]
]
out = {}
for url in sys.argv[1:]:
    led = open_ledger(url)
    for r in recs:
        led.write(r)
    rep = led.reports()
    out[url] = {
        "tenant": [r["tenant"] for r in rep.totals(by="tenant")],
        "feature": [r["feature"] for r in rep.totals(by="feature")],
        "tasks_tenant": [r["tenant"] for r in rep.tasks(by="tenant")],
    }
    led.close()
for k, v in out.items():
    print(k, v)
