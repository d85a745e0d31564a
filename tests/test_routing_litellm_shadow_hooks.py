"""Shadow mode of CostAwareRouting with more than one routing in a process, and after its
hook is removed from ``litellm.callbacks`` as docs/routing.md shows."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from llm_cost_hooks.routing import RuleRouter, ShadowMode

MSG = [{"role": "user", "content": "What is 2 + 2?"}]


def _judge(request: Any, answers: dict[str, str]) -> dict[str, float]:
    return {tier: 1.0 for tier in answers}


def _routing(litellm: Any, store: Path) -> tuple[Any, Any, ShadowMode]:
    from llm_cost_hooks.litellm import CostAwareRouting

    router = litellm.Router(
        model_list=[
            {"model_name": "small", "litellm_params": {"model": "gpt-4o-mini", "mock_response": "4"}},
            {"model_name": "large", "litellm_params": {"model": "gpt-4o", "mock_response": "4"}},
        ]
    )
    shadow = ShadowMode(_judge, share=1.0, budget_usd=5.0, store=store)
    routing = CostAwareRouting(
        router, RuleRouter([], default="small"), tiers=["small", "large"], shadow=shadow
    )
    return router, routing, shadow


def _settle(done: Any) -> None:
    deadline = time.monotonic() + 60
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # room for an extra, wrong shadow call to show up


def test_each_routing_shadows_its_own_requests(litellm_clean: Any, tmp_path: Path) -> None:
    # LiteLLM keeps one callback per class and public attributes: the second routing's
    # hook used to be left out, so it shadowed nothing and the first one shadowed its
    # traffic through the first Router.
    r1, _, s1 = _routing(litellm_clean, tmp_path / "a.db")
    r2, _, s2 = _routing(litellm_clean, tmp_path / "b.db")

    async def go() -> None:
        await r1.acompletion(model="auto", messages=MSG)
        await r2.acompletion(model="auto", messages=MSG)
        deadline = time.monotonic() + 60
        while (s1.stats["written"] < 1 or s2.stats["written"] < 1) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)

    asyncio.run(go())
    assert (s1.stats["written"], s2.stats["written"]) == (1, 1)
    assert (s1.store.count(), s2.store.count()) == (2, 2)


def test_a_removed_hook_stops_shadowing(litellm_clean: Any, tmp_path: Path) -> None:
    router, routing, shadow = _routing(litellm_clean, tmp_path / "a.db")
    router.completion(model="auto", messages=MSG)
    _settle(lambda: shadow.stats["written"] >= 1)
    assert shadow.stats["written"] == 1
    litellm_clean.callbacks.remove(routing.shadow_hook)  # as docs/routing.md ends its example
    router.completion(model="auto", messages=MSG)
    time.sleep(0.5)  # a shadow call, if made, comes after the answer
    assert shadow.stats["shadowed"] == 1 and shadow.stats["written"] == 1


def test_a_shadow_call_litellms_cache_answered_costs_the_budget_nothing(
    litellm_clean: Any, tmp_path: Path
) -> None:
    from litellm.caching.caching import Cache

    litellm_clean.cache = Cache(type="local")
    router, _, shadow = _routing(litellm_clean, tmp_path / "a.db")
    router.cache_responses = True  # Router(cache_responses=True): every call through it is cached
    router.completion(model="auto", messages=MSG)
    _settle(lambda: shadow.stats["shadowed"] >= 1)
    first = shadow.stats["spent_usd"]
    assert first > 0  # the shadow call to "large" was paid
    router.completion(model="auto", messages=MSG)
    _settle(lambda: shadow.stats["shadowed"] >= 2)
    # The repeat's shadow call was answered by LiteLLM's cache: billed nothing.
    assert shadow.stats["shadowed"] == 2
    assert shadow.stats["spent_usd"] == first
