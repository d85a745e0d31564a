"""Two LiteLLM calls awaited one after the other in one ``asyncio.run`` (a routed script:
``CostAwareRouting`` sends them to two tiers) leave two cost records: the first call's
success event must not be lost when the loop ends right after the second (LiteLLM's worker
may have started it, and the loop's end cancels it)."""

from __future__ import annotations

import asyncio
from typing import Any

from llm_cost_hooks.routing import Rule, RuleRouter

MSG = [{"role": "user", "content": "What is 2 + 2?"}]


def test_both_calls_of_one_event_loop_are_recorded(litellm_clean: Any) -> None:
    from llm_cost_hooks.litellm import CostAwareRouting, CostHooksLogger

    logger = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [logger]
    router = litellm_clean.Router(
        model_list=[
            {"model_name": "small", "litellm_params": {"model": "gpt-4o-mini", "mock_response": "4"}},
            {"model_name": "large", "litellm_params": {"model": "gpt-4o", "mock_response": "4"}},
        ],
        num_retries=0,
    )
    CostAwareRouting(
        router, RuleRouter([Rule(tier="small", feature=["faq"])], default="large"), tiers=["small", "large"]
    )

    async def calls() -> None:
        await router.acompletion(model="auto", messages=MSG, metadata={"feature": "faq"})
        await router.acompletion(model="auto", messages=MSG, metadata={"feature": "other"})

    asyncio.run(calls())
    logger.flush()
    assert sorted(r.model for r in logger.records()) == ["gpt-4o", "gpt-4o-mini"]


def test_both_sdk_calls_of_one_event_loop_are_recorded(litellm_clean: Any) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    logger = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [logger]

    async def calls() -> None:
        await litellm_clean.acompletion(model="gpt-4o-mini", messages=MSG, mock_response="4")
        await litellm_clean.acompletion(model="gpt-4o", messages=MSG, mock_response="4")

    asyncio.run(calls())
    logger.flush()
    assert sorted(r.model for r in logger.records()) == ["gpt-4o", "gpt-4o-mini"]


def test_awaiting_aflush_before_the_loop_ends_keeps_both_records(litellm_clean: Any) -> None:
    """What docs/litellm.md tells async code to do: ``await cost_logger.aflush()`` before the
    loop ends lets LiteLLM's worker deliver every queued or started event."""
    from llm_cost_hooks.litellm import CostHooksLogger

    logger = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [logger]

    async def calls() -> None:
        await litellm_clean.acompletion(model="gpt-4o-mini", messages=MSG, mock_response="4")
        await litellm_clean.acompletion(model="gpt-4o", messages=MSG, mock_response="4")
        assert await logger.aflush()

    for _ in range(3):
        asyncio.run(calls())
    logger.flush()
    assert sorted(r.model for r in logger.records()) == ["gpt-4o"] * 3 + ["gpt-4o-mini"] * 3
