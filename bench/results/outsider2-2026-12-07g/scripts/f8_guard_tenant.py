"""The spend guard charges the tenant the record names: calls with no tenant, a NaN tenant
and a named tenant, through GuardedChatModel (handler defaults tenant "acme") and through
LiteLLM with CostHooksLogger(guard=..., defaults=...). Per tenant, the guard's spend must equal
the sum of its records."""

import math
from collections import defaultdict

# isort: off
from llm_cost_hooks.budget import Limit, SpendGuard
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, GuardedChatModel
from llm_cost_hooks.litellm import CostHooksLogger, uninstall

import litellm  # after ours, as docs/litellm.md says: LiteLLM then reads its local price map

# isort: on


def compare(name, guard, records):
    per = defaultdict(float)
    for r in records:
        per[r.tenant] += r.cost_usd
    lim = guard.limits[0]
    for tenant, cost in sorted(per.items(), key=lambda kv: str(kv[0])):
        spent = guard.spent(lim, tenant) if tenant is not None else None
        ok = spent is not None and math.isclose(spent, cost, rel_tol=1e-6, abs_tol=1e-9)
        print(f"{name}: tenant {tenant!r} records ${cost:.8f} guard {spent} {'match' if ok else 'MISMATCH'}")


TENANTS = [None, float("nan"), "b", None]
guard = SpendGuard([Limit.usd(100.0, per="day", scope="tenant")])
h = CostCallbackHandler(ledger="memory://", defaults={"tenant_id": "acme"})
m = GuardedChatModel(
    inner=FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["answer " * 20]), guard=guard
)
for i, t in enumerate(TENANTS):
    meta = {} if t is None else {"tenant_id": t}
    m.invoke(f"question {i}", config={"callbacks": [h], "metadata": meta})
h.flush()
compare("LangChain", guard, h.records())

guard2 = SpendGuard([Limit.usd(100.0, per="day", scope="tenant")])
cl = CostHooksLogger(ledger="memory://", defaults={"tenant_id": "acme"}, guard=guard2)
litellm.callbacks = [cl]
for i, t in enumerate(TENANTS):
    kw = {} if t is None else {"metadata": {"tenant_id": t}}
    cl.completion(  # sync litellm.completion has no pre-call hook: the logger's wrapper reserves
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": f"question {i}"}],
        mock_response="answer " * 20,
        **kw,
    )
cl.flush()
compare("LiteLLM", guard2, cl.records())
uninstall(cl)
