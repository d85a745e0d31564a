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


def test_metadata_scopes_are_shared_but_never_confused() -> None:
    from llm_cost_hooks.cache import CacheScopeError, scope_from_metadata

    a = scope_from_metadata({"tenant_id": "acme", "ls_provider": "openai"})
    assert a is scope_from_metadata({"tenant_id": "acme"})  # one object per distinct scope
    assert a.tenant == "acme"
    # equal as dict keys (True == 1 == 1.0): 1 and 1.0 are tenant "1" (as for the record and
    # the guard), True is no tenant id at all, even once 1 is remembered
    assert [scope_from_metadata({"tenant_id": v}).tenant for v in (1, 1.0)] == ["1", "1"]
    with pytest.raises(CacheScopeError):
        scope_from_metadata({"tenant_id": True})
    assert scope_from_metadata({"tenant_id": ""}).tenant == ""  # the empty tenant is its own
    assert scope_from_metadata({"ls_provider": "openai"}).tenant is None
    for _ in range(2):  # unhashable values are read each time, never remembered wrongly
        assert scope_from_metadata({"evidence_ids": ["d1", "d2"]}).evidence_ids == ("d1", "d2")
        with pytest.raises(CacheScopeError):
            scope_from_metadata({"tenant_id": {"nested": 1}})
        with pytest.raises(CacheScopeError):
            scope_from_metadata({"tenant_id": ("a",)})


def test_warm_request_memo_still_separates_models_params_and_scopes(cache: SemanticCache) -> None:
    from langchain_core.load import dumps
    from langchain_core.messages import HumanMessage

    prompt = dumps([HumanMessage("Same question?")])
    strings = [
        "[('model_name', 'm1'), ('temperature', 0.0)]",
        "[('model_name', 'm2'), ('temperature', 0.0)]",
        "[('model_name', 'm1'), ('temperature', 0.7)]",
        "[('model_name', 'm1'), ('temperature', 0.0), ('tools', [{'name': 'search'}])]",
    ]
    keys = set()
    for _ in range(2):  # the second round is served from the memo
        for s in strings:
            for tenant in ("A", "B", ""):
                with cache_scope(tenant=tenant):
                    keys.add(cache._request(prompt, s)[0].exact_key)
            keys.add(cache._request(prompt, s)[0].exact_key)  # no tenant: the default one
    assert len(keys) == len(strings) * 4


def test_update_does_not_write_into_the_memoised_request(cache: SemanticCache) -> None:
    model = FakeChatModelWithUsage(responses=["first"])
    seen = []

    def update(req: object, *args: object, **kwargs: object) -> None:
        req.verified = "disagree"  # type: ignore[attr-defined]
        seen.append(req)

    cache.core.update = update  # type: ignore[method-assign]
    model.invoke("Q?")
    from langchain_core.load import dumps
    from langchain_core.messages import HumanMessage

    memo_req = cache._request(dumps([HumanMessage("Q?")]), model._get_llm_string())[0]
    assert seen and seen[0] is not memo_req and memo_req.verified is None


def test_shallow_copies_are_independent_of_the_memo() -> None:
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration

    from llm_cost_hooks.cache._canonical import shallow_copies

    gen = ChatGeneration(message=AIMessage("hi", response_metadata={"a": 1}), generation_info={"x": 1})
    (copy,) = shallow_copies([gen])
    assert copy == gen and copy is not gen and copy.model_fields_set == gen.model_fields_set
    copy.message = AIMessage("other")
    assert gen.message.content == "hi"
    assert copy.model_dump()["message"]["content"] == "other"
