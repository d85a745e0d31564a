"""docs/budgets.md: "40 litellm.completion calls with mock_response all went through a $0.0002
daily limit; through cost_logger.completion, 14 went through and 26 were refused, with the
50 % and 80 % alerts". Plus guard.limits read-only and guard.estimate's tuple."""

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
import litellm

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard, SpendRequest
from llm_cost_hooks.litellm import CostHooksLogger, uninstall

MESSAGES = [{"role": "user", "content": "Where is my parcel? It was due on Monday."}]
for path in ("litellm.completion", "cost_logger.completion"):
    events = []
    guard = SpendGuard(
        [Limit.usd(0.0002, per="day", scope="tenant")],
        alerts=AlertManager([events.append], log=False, span_events=False),
    )
    logger = CostHooksLogger(ledger="memory://", guard=guard, defaults={"tenant_id": "acme"})
    litellm.callbacks = [logger]
    ok = refused = 0
    for _ in range(40):
        call = litellm.completion if path == "litellm.completion" else logger.completion
        try:
            call(
                model="gpt-4o-mini",
                messages=MESSAGES,
                mock_response="It left our depot today.",
                max_tokens=100,
            )
            ok += 1
        except BudgetExceeded:
            refused += 1
    logger.flush()
    print(
        f"{path}: {ok} went through, {refused} refused; alerts {[(e.kind, e.fraction if hasattr(e, 'fraction') else None) for e in events]}"
    )
    uninstall(logger)

guard = SpendGuard([Limit.usd(1, per="day")])
try:
    guard.limits = ()
    print("guard.limits assignable")
except Exception as exc:
    print("guard.limits read-only:", type(exc).__name__)
print(
    "estimate:",
    guard.estimate(SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant="a")),
)
