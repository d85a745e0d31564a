"""RetryBudget: a model that fails twice then answers; a task out of retry dollars."""

from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard
from llm_cost_hooks.dedup import RetryBudget
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, GuardedChatModel

boom = TimeoutError("provider timeout")
h = CostCallbackHandler(ledger="memory://")
m = GuardedChatModel(inner=FakeChatModelWithUsage(errors=[boom, boom]), retry=RetryBudget(max_attempts=3))
print(m.invoke("hi", config={"callbacks": [h], "metadata": {"tenant_id": "acme", "task_id": "t1"}}).content)
m2 = GuardedChatModel(
    inner=FakeChatModelWithUsage(errors=[boom] * 5), retry=RetryBudget(max_attempts=5, max_retry_usd=0.0)
)
try:
    m2.invoke("hi", config={"callbacks": [h], "metadata": {"tenant_id": "acme", "task_id": "t2"}})
except Exception as e:
    print("t2:", type(e).__name__)
for r in h.ledger.records():
    print(r.success, r.error_type, {k: v for k, v in r.tags.items() if k.startswith("retry")})

g = SpendGuard([Limit.usd(10, per="day", scope="tenant")], alerts=AlertManager(log=False, span_events=False))
m3 = GuardedChatModel(
    inner=FakeChatModelWithUsage(errors=[boom] * 5, max_tokens=20),
    guard=g,
    retry=RetryBudget(max_attempts=5, max_retry_usd=0.0),
)
try:
    m3.invoke("hi", config={"callbacks": [h], "metadata": {"tenant_id": "acme", "task_id": "t3"}})
except Exception as e:
    print("t3 with guard:", type(e).__name__, h.ledger.records()[-1].tags.get("retry.attempts"))
