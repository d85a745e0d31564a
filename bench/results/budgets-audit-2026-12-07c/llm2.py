import litellm

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import AlertManager, ContextBudget, Limit, SegmentBudgets, SpendGuard
from llm_cost_hooks.litellm import CostHooksLogger

events = []
guard = SpendGuard(
    [Limit.usd(0.0002, per="day", scope="tenant")],
    alerts=AlertManager([events.append], log=False, span_events=False),
)
cl = CostHooksLogger(
    ledger="memory://",
    guard=guard,
    context_budget=ContextBudget({"default": SegmentBudgets(system=20, history=200)}),
)
litellm.callbacks = [cl]
msgs = [{"role": "user", "content": "SECRET where is my order?"}]
out = {"ok": 0, "refused": 0}
for _ in range(40):
    try:
        cl.completion(
            model="gpt-4o-mini",
            messages=msgs,
            mock_response="It ships tomorrow.",
            max_tokens=20,
            metadata={"tenant_id": "acme"},
        )
        out["ok"] += 1
    except BudgetExceeded:
        out["refused"] += 1
print("cost_logger.completion:", out, [(e.kind, e.threshold) for e in events])
try:
    cl.completion(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "You are ACME's bot. " * 40}, *msgs],
        mock_response="x",
        max_tokens=20,
        metadata={"tenant_id": "beta"},
    )
    print("sent")
except Exception as e:
    print("system over budget:", type(e).__name__, str(e)[:300])
