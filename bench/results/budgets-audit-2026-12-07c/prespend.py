import sys

from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard, SpendRequest

guard = SpendGuard(
    [Limit.usd(float(sys.argv[2]), per="day", scope="tenant")],
    store="redis://127.0.0.1:6391",
    alerts=AlertManager(log=False, span_events=False),
)
guard.reserve(
    SpendRequest(model="gpt-4o-mini", input_tokens=10, max_output_tokens=10, tenant=sys.argv[1])
).settle(float(sys.argv[3]))
