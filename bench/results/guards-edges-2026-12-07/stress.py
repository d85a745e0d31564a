"""N asyncio tasks reserve and settle on one Redis limit ($0.01 a day, $0.00045 a call).

REDIS_URL=redis://... python stress.py 1000
"""

import asyncio
import os
import sys

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard, SpendRequest

N = int(sys.argv[1])
g = SpendGuard(
    [Limit.usd(0.01, per="day", scope="tenant", name="daily")],
    store=os.environ["REDIS_URL"],
    alerts=AlertManager(log=False, span_events=False),
)
req = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant=f"s-{os.getpid()}")


async def one() -> int:
    try:
        r = await g.areserve(req)
    except BudgetExceeded:
        return 0
    await asyncio.sleep(0.001)
    await r.asettle(0.00045)
    return 1


async def main() -> int:
    return sum(await asyncio.gather(*[one() for _ in range(N)]))


n = asyncio.run(main())
print(N, "tasks:", n, "calls, spent", g.usage("daily", req.tenant))
