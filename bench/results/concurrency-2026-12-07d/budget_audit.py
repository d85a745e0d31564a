"""Budgets under concurrency: 200 concurrent guarded calls against a per-tenant dollar
limit. Overspend stays within what the docs promise (none when the real cost is within the
reservation), every refusal leaves a record, and the guard's spend equals the records' sum.
python budget_audit.py [redis://127.0.0.1:PORT]"""

from __future__ import annotations

import asyncio
import math
import sys
from collections import Counter

from llm_cost_hooks import BudgetExceeded, Limit, SpendGuard, SpendRequest
from llm_cost_hooks.budget import AlertManager
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, GuardedChatModel

CALLS, TENANTS = 200, 4
ANSWER = "Your refund of 42 euros was issued today."


async def run(store: str | None, max_tokens: int | None, label: str) -> bool:
    probe = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[ANSWER])
    handler = CostCallbackHandler(ledger="memory://")
    await probe.ainvoke("Where is my refund? (request 0)", config={"callbacks": [handler]})
    cost = handler.records()[0].cost_usd  # what one call really costs
    out_tokens = handler.records()[0].output_tokens
    limit = Limit.usd(cost * 20.5, per="day", scope="tenant")  # room for 20 of the 50 calls per tenant
    guard = SpendGuard([limit], store=store, alerts=AlertManager(log=False), key_prefix=f"audit{max_tokens}")
    inner = FakeChatModelWithUsage(
        model_name="gpt-4o-mini", responses=[ANSWER], max_tokens=max_tokens or out_tokens
    )
    model = GuardedChatModel(inner=inner, guard=guard)
    reserve_each = guard.estimate(
        SpendRequest(
            model="gpt-4o-mini",
            input_tokens=handler.records()[0].input_tokens,
            max_output_tokens=inner.max_tokens,
        )
    )[2]
    handler = CostCallbackHandler(ledger="memory://")

    async def one(i: int) -> str:
        tenant = f"tenant{i % TENANTS}"
        try:
            await model.ainvoke(
                f"Where is my refund? (request {i % 10})",
                config={"callbacks": [handler], "metadata": {"tenant_id": tenant, "task_id": f"task-{i}"}},
            )
            return "ok"
        except BudgetExceeded:
            return "refused"

    outcome = Counter(await asyncio.gather(*(one(i) for i in range(CALLS))))
    handler.flush()
    records = handler.records()
    ok_records = [r for r in records if r.success]
    refusals = [r for r in records if not r.success and r.error_type == "BudgetExceeded"]
    good = True
    for t in range(TENANTS):
        tenant = f"tenant{t}"
        spent, reserved = guard.usage(limit, tenant)
        rec_sum = sum(r.cost_usd for r in records if r.tenant == tenant)
        over = spent - limit.amount
        # Over the limit only by what settled above its reservation (the docs' bound): the
        # calls admitted times what each cost beyond its hold.
        bound = limit.amount + sum(r.tenant == tenant for r in records if r.success) * max(
            cost - reserve_each, 0
        )
        good = good and math.isclose(spent, rec_sum, rel_tol=0, abs_tol=1e-9) and spent <= bound + 1e-9
        print(
            f"  {label} {tenant}: spent={spent:.9f} limit={limit.amount:.9f} over_limit={over:+.9f} "
            f"reserved_left={reserved:.9f} records_usd={rec_sum:.9f} "
            f"calls_ok={sum(r.tenant == tenant for r in ok_records)} "
            f"refused={sum(r.tenant == tenant for r in refusals)}"
        )
    good = good and outcome["refused"] == len(refusals) and outcome["ok"] == len(ok_records)
    good = good and all(r.cost_usd == 0 and r.input_tokens == 0 for r in refusals)
    print(
        f"{label:40s} cost/call={cost:.9f} out_cap={inner.max_tokens} calls={CALLS} ok={outcome['ok']} "
        f"refused={outcome['refused']} records={len(records)} refusal_records={len(refusals)} "
        f"reserve/call={reserve_each:.9f} overspend_events={dict(guard.overspend)} {'OK' if good else 'DEFECT'}"
    )
    return good


async def main() -> int:
    redis = sys.argv[1] if len(sys.argv) > 1 else None
    results = []
    for store, name in ((None, "in-process"), (redis, "redis")):
        if name == "redis" and not redis:
            continue
        results += [
            await run(store, None, f"{name}, cap = real output"),
            await run(store, 64, f"{name}, cap 64 tokens"),
            # the model ignores the cap (answers 10 tokens): each call settles above its hold
            await run(store, 4, f"{name}, cap 4 < real output"),
        ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
