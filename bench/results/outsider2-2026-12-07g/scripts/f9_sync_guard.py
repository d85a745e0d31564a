# ruff: noqa: E402
"""CostHooksLogger(guard=...) in litellm.callbacks and plain sync litellm.completion calls
(no pre-call hook runs for them): 3 calls costing 4x a $0.00001 limit."""

import logging

logging.basicConfig(level=logging.WARNING, format="LOG %(name)s %(levelname)s %(message)s")

# isort: off
from llm_cost_hooks.budget import Limit, SpendGuard
from llm_cost_hooks.litellm import CostHooksLogger

import litellm

# isort: on

g = SpendGuard([Limit.usd(0.00001, per="day", scope="tenant")])
cl = CostHooksLogger(ledger="memory://", defaults={"tenant_id": "acme"}, guard=g)
litellm.callbacks = [cl]
for i in range(3):
    litellm.completion(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}], mock_response="answer " * 20
    )
cl.flush()
print(
    "records",
    len(cl.records()),
    "cost",
    round(sum(r.cost_usd for r in cl.records()), 8),
    "guard spent",
    g.spent(g.limits[0], "acme"),
    "limit 1e-05",
)
