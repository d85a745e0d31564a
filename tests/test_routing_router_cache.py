"""A cache of the routed model's own answer is refused: keyed by the request without the
tier chosen, it would serve one tier's stored answer to a request now routed to another."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.globals import set_llm_cache

from llm_cost_hooks import ConfigurationError
from llm_cost_hooks.langchain import FakeChatModelWithUsage, RoutedChatModel, SemanticCache
from llm_cost_hooks.routing import Rule, RuleRouter


def _routed(**options: Any) -> RoutedChatModel:
    tiers = {
        "small": FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["small"] * 3),
        "large": FakeChatModelWithUsage(model_name="gpt-4o", responses=["large"] * 3),
    }
    strategy = RuleRouter([Rule(tier="large", metadata={"plan": "pro"})], default="small")
    return RoutedChatModel(tiers=tiers, strategy=strategy, **options)


@pytest.mark.parametrize(
    ("cache", "shown"),
    [(None, "None"), (True, "True"), (InMemoryCache(), "InMemoryCache(...)")],
    ids=["none", "true", "a-cache"],
)
def test_a_cache_on_the_routed_model_itself_is_refused(cache: Any, shown: str) -> None:
    with pytest.raises(ConfigurationError, match=r"leave cache at its\s+default") as err:
        _routed(cache=cache)
    assert f"cache={shown}" in str(err.value)


def test_the_default_caches_per_tier_so_a_request_routed_elsewhere_gets_that_tiers_answer() -> None:
    set_llm_cache(SemanticCache(path=":memory:", semantic=False))
    try:
        for llm in (_routed(), _routed(cache=False)):
            assert llm.invoke("Where is my order?").content == "small"
            pro = llm.invoke("Where is my order?", config={"metadata": {"plan": "pro"}})
            assert (pro.content, pro.response_metadata["llm_cost_hooks_route"]["tier"]) == ("large", "large")
    finally:
        set_llm_cache(None)


def test_a_cache_of_ones_own_goes_on_each_tier_and_is_keyed_by_that_tier() -> None:
    # What the error tells users to do instead, as docs/routing.md shows it.
    mine = SemanticCache(path=":memory:", semantic=False)
    tiers = {
        "small": FakeChatModelWithUsage(
            model_name="gpt-4o-mini", responses=["small-0", "small-1"], cache=mine
        ),
        "large": FakeChatModelWithUsage(model_name="gpt-4o", responses=["large-0", "large-1"], cache=mine),
    }
    llm = RoutedChatModel(
        tiers=tiers, strategy=RuleRouter([Rule(tier="large", metadata={"plan": "pro"})], default="small")
    )
    pro: Any = {"metadata": {"plan": "pro"}}
    answers = [llm.invoke("Where is my order?", config=c).content for c in (None, pro, None, pro)]
    assert answers == ["small-0", "large-0", "small-0", "large-0"]
    hit = llm.invoke("Where is my order?", config=pro).response_metadata
    assert hit["llm_cost_hooks_cache"]["status"] == "exact" and hit["llm_cost_hooks_route"]["tier"] == "large"


def _set_cache(llm: RoutedChatModel, cache: Any) -> RoutedChatModel:
    llm.cache = cache
    return llm


@pytest.mark.parametrize(
    "make",
    [
        lambda: _routed().model_copy(update={"cache": None}),
        lambda: _routed().model_copy(update={"cache": True}),
        lambda: _routed().model_copy(update={"cache": InMemoryCache()}),
        lambda: _set_cache(_routed(), None),
    ],
    ids=["copy-none", "copy-true", "copy-a-cache", "setattr-none"],
)
def test_a_cache_set_past_the_constructor_is_refused_at_the_call(make: Any) -> None:
    # Before the refusal moved to the call, such a copy served the small tier's stored answer
    # to a request routed to the large tier.
    set_llm_cache(SemanticCache(path=":memory:", semantic=False))
    try:
        llm = make()
        pro: Any = {"metadata": {"plan": "pro"}}
        with pytest.raises(ConfigurationError, match="leave cache at its"):
            llm.invoke("Where is my order?")
        with pytest.raises(ConfigurationError, match="leave cache at its"):
            asyncio.run(llm.ainvoke("Where is my order?", config=pro))
        with pytest.raises(ConfigurationError, match="leave cache at its"):
            llm.batch(["Where is my order?"], config=pro)
    finally:
        set_llm_cache(None)
