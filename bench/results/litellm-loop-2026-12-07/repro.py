"""Records per run of two LiteLLM async calls in one ``asyncio.run`` that ends right after
them, counted over N runs: ``python repro.py MODE N``.

MODE: ``sdk`` (two awaited acompletion), ``router`` (two awaited Router.acompletion),
``stream`` (two streamed calls read to the end), ``gather`` (two gathered calls),
``slow`` (``sdk`` with a slower callback listed before ours, which holds the first event up
until the loop's end cancels it: the loss every time)."""

import asyncio
import collections
import sys

import litellm
from litellm.integrations.custom_logger import CustomLogger

from llm_cost_hooks.litellm import CostHooksLogger, uninstall

MSG = [{"role": "user", "content": "What is 2 + 2?"}]
MODE, RUNS = sys.argv[1], int(sys.argv[2])
ROUTER = litellm.Router(
    model_list=[
        {"model_name": "small", "litellm_params": {"model": "gpt-4o-mini", "mock_response": "4"}},
        {"model_name": "large", "litellm_params": {"model": "gpt-4o", "mock_response": "4"}},
    ],
    num_retries=0,
)


class Slow(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
        await asyncio.sleep(1.0)


async def stream(model: str) -> None:
    s = await litellm.acompletion(model=model, messages=MSG, mock_response="four is it", stream=True)
    async for _ in s:
        pass


async def calls() -> None:
    if MODE in ("sdk", "slow"):
        await litellm.acompletion(model="gpt-4o-mini", messages=MSG, mock_response="4")
        await litellm.acompletion(model="gpt-4o", messages=MSG, mock_response="4")
    elif MODE == "router":
        await ROUTER.acompletion(model="small", messages=MSG)
        await ROUTER.acompletion(model="large", messages=MSG)
    elif MODE == "stream":
        await stream("gpt-4o-mini")
        await stream("gpt-4o")
    elif MODE == "gather":
        await asyncio.gather(
            litellm.acompletion(model="gpt-4o-mini", messages=MSG, mock_response="4"),
            litellm.acompletion(model="gpt-4o", messages=MSG, mock_response="4"),
        )


counts: collections.Counter[int] = collections.Counter()
lost_tags: collections.Counter[str] = collections.Counter()
for _ in range(RUNS):
    logger = CostHooksLogger(ledger="memory://")
    litellm.callbacks = [Slow(), logger] if MODE == "slow" else [logger]
    asyncio.run(calls())
    logger.flush(2)
    records = logger.records()
    counts[len(records)] += 1
    lost_tags.update(r.tags.get("litellm.event_lost", "-") for r in records)
    uninstall(logger)
print(MODE, "records per run:", dict(counts), "event_lost tags:", dict(lost_tags))
