"""A failed plain sync ``litellm.completion`` with ``CostHooksLogger(guard=...)``: what the
guard counts and what the cost record shows, for an error response and a timeout."""

import litellm

from llm_cost_hooks.budget import Limit, SpendGuard
from llm_cost_hooks.litellm import CostHooksLogger

guard = SpendGuard([Limit.usd(1, per="day", scope="tenant")])
cost_logger = CostHooksLogger(ledger="memory://", guard=guard, defaults={"tenant_id": "acme"})
litellm.callbacks = [cost_logger]
messages = [{"role": "user", "content": "Where is my order? " * 50}]
cases = {
    "error response (mock Exception)": dict(mock_response=Exception("400 bad request")),
    "timeout (mock_timeout)": dict(mock_timeout=True, timeout=0.01),
}
for name, extra in cases.items():
    before = guard.spent("usd_per_day_per_tenant", "acme")
    try:
        litellm.completion(model="gpt-4o-mini", messages=messages, **extra)
    except Exception as exc:
        error = type(exc).__name__
    cost_logger.flush()
    record = cost_logger.records()[-1]
    after = guard.spent("usd_per_day_per_tenant", "acme")
    print(
        f"{name}: raised {error}; record error_type={record.error_type} input_tokens={record.input_tokens} "
        f"cost_usd={record.cost_usd:.8f}; guard charged {after - before:.8f}"
    )
