"""A routed model under a global LangChain cache with several tenants: the cache answers
per tier (the tier chosen is part of the key), never across tenants, and a hit's record
carries its route."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.globals import set_llm_cache

from llm_cost_hooks.langchain import (
    CostCallbackHandler,
    FakeChatModelWithUsage,
    RoutedChatModel,
    SemanticCache,
)
from llm_cost_hooks.routing import Cascade, Rule, RuleRouter, ShadowMode, outcomes_from_ledger


@pytest.fixture
def cache() -> Iterator[SemanticCache]:
    c = SemanticCache(path=":memory:", semantic=False)
    set_llm_cache(c)
    yield c
    set_llm_cache(None)


def _tiers() -> dict[str, Any]:
    return {
        "small": FakeChatModelWithUsage(
            model_name="gpt-4o-mini", responses=[f"small-{i}" for i in range(20)]
        ),
        "large": FakeChatModelWithUsage(model_name="gpt-4o", responses=[f"large-{i}" for i in range(20)]),
    }


def _ask(llm: RoutedChatModel, tenant: str, **metadata: str) -> tuple[str, str, list[tuple[Any, ...]]]:
    handler = CostCallbackHandler(ledger="memory://")
    config: Any = {"metadata": {"tenant_id": tenant, **metadata}, "callbacks": [handler]}
    msg = llm.invoke("Where is my order?", config=config)
    records = [(r.route, r.model, r.cache_status.value, r.tenant) for r in handler.records()]
    return str(msg.content), msg.response_metadata["llm_cost_hooks_route"]["tier"], records


def test_a_cached_answer_is_never_served_for_another_tier_or_tenant(cache: SemanticCache) -> None:
    llm = RoutedChatModel(
        tiers=_tiers(), strategy=RuleRouter([Rule(tier="large", metadata={"plan": "pro"})], default="small")
    )
    assert _ask(llm, "A") == ("small-0", "small", [("small", "gpt-4o-mini", "miss", "A")])
    assert _ask(llm, "B") == ("small-1", "small", [("small", "gpt-4o-mini", "miss", "B")])
    assert _ask(llm, "A") == ("small-0", "small", [("small", "gpt-4o-mini", "exact", "A")])
    # The same request routed to the other tier is that tier's call, not the cheap tier's hit.
    assert _ask(llm, "A", plan="pro") == ("large-0", "large", [("large", "gpt-4o", "miss", "A")])
    assert _ask(llm, "A", plan="pro") == ("large-0", "large", [("large", "gpt-4o", "exact", "A")])
    assert _ask(llm, "B", plan="pro") == ("large-1", "large", [("large", "gpt-4o", "miss", "B")])


def test_a_cascade_under_the_cache_replays_its_route_per_tenant(cache: SemanticCache) -> None:
    llm = RoutedChatModel(tiers=_tiers(), strategy=Cascade(), checks=[lambda a: a.tier == "large"])
    first = _ask(llm, "C")
    assert first[:2] == ("large-0", "large") and [r[2] for r in first[2]] == ["miss", "miss"]
    again = _ask(llm, "C")
    assert again == (
        "large-0",
        "large",
        [("small", "gpt-4o-mini", "exact", "C"), ("large", "gpt-4o", "exact", "C")],
    )
    other = _ask(llm, "D")
    assert other[0] == "large-1" and [r[2] for r in other[2]] == ["miss", "miss"]


def test_an_answer_served_by_the_cache_is_not_shadowed_again(cache: SemanticCache, tmp_path: Path) -> None:
    # Shadow mode explores requests it has not labelled: a cached answer's request was seen
    # before, and judging it again would write the same pair once per repeat.
    def judge(request: Any, answers: dict[str, str]) -> dict[str, float]:
        return {tier: 1.0 for tier in answers}

    shadow = ShadowMode(judge, share=1.0, budget_usd=5.0, store=str(tmp_path / "ledger.db"), seed=0)
    llm = RoutedChatModel(tiers=_tiers(), strategy=RuleRouter([], default="small"), shadow=shadow)
    first = _ask(llm, "A")
    assert [r[:3] for r in first[2]] == [("small", "gpt-4o-mini", "miss"), ("shadow:large", "gpt-4o", "miss")]
    for _ in range(2):
        assert _ask(llm, "A")[2] == [("small", "gpt-4o-mini", "exact", "A")]
    assert shadow.stats["written"] == 1 and len(outcomes_from_ledger(str(tmp_path / "ledger.db"))) == 1
    # Another tenant's first ask is a miss, and is explored.
    assert [r[0] for r in _ask(llm, "B")[2]] == ["small", "shadow:large"]
