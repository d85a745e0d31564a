"""Shadow mode's exploration budget is charged what its calls' cost records say they cost:
a shadow call answered by the cache cost nothing, so it spends none of ``budget_usd``."""

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
from llm_cost_hooks.routing import RuleRouter, ShadowMode, outcomes_from_ledger


@pytest.fixture
def cache() -> Iterator[SemanticCache]:
    c = SemanticCache(path=":memory:", semantic=False)
    set_llm_cache(c)
    yield c
    set_llm_cache(None)


def _judge(request: Any, answers: dict[str, str]) -> dict[str, float]:
    return {tier: 1.0 for tier in answers}


def _routed(shadow: ShadowMode) -> RoutedChatModel:
    tiers = {
        "small": FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[f"small-{i}" for i in range(9)]),
        "large": FakeChatModelWithUsage(model_name="gpt-4o", responses=[f"large-{i}" for i in range(9)]),
    }
    return RoutedChatModel(tiers=tiers, strategy=RuleRouter([], default="small"), shadow=shadow)


def _ask(llm: RoutedChatModel, **params: Any) -> list[Any]:
    handler = CostCallbackHandler(ledger="memory://")
    config: Any = {"metadata": {"tenant_id": "A"}, "callbacks": [handler]}
    llm.invoke("Where is my order?", config=config, **params)
    return list(handler.records())


def test_a_shadow_call_the_cache_answered_spends_nothing(cache: SemanticCache, tmp_path: Path) -> None:
    ledger = str(tmp_path / "ledger.db")
    shadow = ShadowMode(_judge, share=1.0, budget_usd=1.0, store=ledger, seed=0)
    llm = _routed(shadow)
    first = _ask(llm, temperature=0.1)
    assert [(r.route, r.cache_status.value) for r in first] == [("small", "miss"), ("shadow:large", "miss")]
    spent_before = shadow.stats["spent_usd"]
    # Asked again with another temperature: the cheap tier's call is a new one, while the
    # shadow call (made with the tier's own settings) is the one the cache already holds.
    records = _ask(llm, temperature=0.2)
    assert [(r.route, r.cache_status.value) for r in records] == [
        ("small", "miss"),
        ("shadow:large", "exact"),
    ]
    shadow_records = [r for r in records if r.route == "shadow:large"]
    assert [(r.cache_status.value, r.cost_usd) for r in shadow_records] == [("exact", 0.0)]
    assert shadow.stats["spent_usd"] - spent_before == 0.0
    # The outcome keeps what the large tier costs on this request: the router learns prices.
    data = outcomes_from_ledger(ledger)
    large = data.index("large")
    assert data.cost[-1, large] > 0.0


def test_a_shadow_call_that_reached_the_tier_spends_its_record_cost(tmp_path: Path) -> None:
    shadow = ShadowMode(_judge, share=1.0, budget_usd=1.0, store=str(tmp_path / "ledger.db"), seed=0)
    records = _ask(_routed(shadow))
    (explored,) = [r for r in records if r.route == "shadow:large"]
    assert explored.cost_usd > 0.0
    assert shadow.stats["spent_usd"] == pytest.approx(explored.cost_usd)
