# ruff: noqa: E402
"""The warning of f9 on the paths that do run the pre-call work: none for cost_logger.completion
(plain and stream=True) and litellm.acompletion (plain and streamed); one for a plain sync stream."""

import asyncio
import logging

logging.basicConfig(level=logging.WARNING, format="LOG %(name)s %(message)s")
# isort: off
from llm_cost_hooks.budget import Limit, SpendGuard
from llm_cost_hooks.litellm import CostHooksLogger

import litellm

# isort: on

g = SpendGuard([Limit.usd(1.0, per="day", scope="tenant")])
cl = CostHooksLogger(ledger="memory://", defaults={"tenant_id": "acme"}, guard=g)
litellm.callbacks = [cl]
kw = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "q"}], mock_response="answer " * 20)
for ch in cl.completion(**kw, stream=True):
    pass
cl.completion(**kw)


async def main():
    r = await litellm.acompletion(**kw, stream=True)
    async for ch in r:
        pass
    await litellm.acompletion(**kw)
    await cl.aflush()


asyncio.run(main())
cl.flush()
print(
    "records",
    len(cl.records()),
    "guard",
    g.spent(g.limits[0], "acme"),
    "sum",
    sum(r.cost_usd for r in cl.records()),
)
print("--- now a plain sync stream")
for ch in litellm.completion(**kw, stream=True):
    pass
cl.flush()
