"""The exact hit's memoised request key and revived answers stay correct."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.globals import set_llm_cache

from llm_cost_hooks.langchain import FakeChatModelWithUsage
from llm_cost_hooks.langchain._cache import SemanticCache, cache_scope


@pytest.fixture
def cache() -> Iterator[SemanticCache]:
    c = SemanticCache(path=":memory:", semantic=False)
    set_llm_cache(c)
    try:
        yield c
    finally:
        set_llm_cache(None)


def test_memoised_key_never_crosses_scopes(cache: SemanticCache) -> None:
    model = FakeChatModelWithUsage(responses=["for A", "for B"])
    with cache_scope(tenant="A"):
        assert model.invoke("Same question?").content == "for A"
        assert model.invoke("Same question?").content == "for A"  # exact hit
    with cache_scope(tenant="B"):
        assert model.invoke("Same question?").content == "for B"  # a miss: its own partition
    assert model.invoke("Same question?", config={"metadata": {"tenant_id": "A"}}).content == "for A"
    assert cache.stats.exact_hits == 2


def test_changed_config_rebuilds_the_memoised_key(cache: SemanticCache) -> None:
    model = FakeChatModelWithUsage(responses=["first", "second"])
    with cache_scope(tenant="t"):
        model.invoke("Q?")
        cache.core.config = cache.core.config.model_copy(update={"default_tenant": "other"})
        assert model.invoke("Q?").content == "first"  # same tenant: still served
        cache.core.config = cache.core.config.model_copy(update={"per_user": True})
    with cache_scope(tenant="t", user="u1"):
        assert model.invoke("Q?").content == "second"  # per-user partition: a miss


def test_each_hit_gets_its_own_objects_with_the_marker(cache: SemanticCache) -> None:
    model = FakeChatModelWithUsage(responses=["Paris."])
    model.invoke("Capital of France?")
    a = model.invoke("Capital of France?")
    b = model.invoke("Capital of France?")
    assert a is not b
    assert a.content == b.content == "Paris."
    assert a.response_metadata["llm_cost_hooks_cache"]["status"] == "exact"
    assert b.response_metadata["llm_cost_hooks_cache"]["status"] == "exact"
    assert "llm_cost_hooks_cache" not in model.invoke("Another one?").response_metadata
