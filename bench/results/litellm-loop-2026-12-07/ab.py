"""Microseconds per ``litellm.acompletion`` (mock response) with the logger installed, 300
calls after 20 warm-up calls; run once per code tree, interleaved."""

import asyncio
import time

import litellm

from llm_cost_hooks.litellm import CostHooksLogger

logger = CostHooksLogger(ledger="memory://")
litellm.callbacks = [logger]
MSG = [{"role": "user", "content": "What is 2 + 2?"}]


async def run(n: int) -> float:
    for _ in range(20):
        await litellm.acompletion(model="gpt-4o-mini", messages=MSG, mock_response="4")
    await logger.aflush()
    t = time.perf_counter()
    for _ in range(n):
        await litellm.acompletion(model="gpt-4o-mini", messages=MSG, mock_response="4")
    elapsed = time.perf_counter() - t
    await logger.aflush()
    return elapsed / n * 1e6


print(f"{asyncio.run(run(300)):.0f}")
