"""A tenant named only in ``configurable`` is not handed to callbacks as metadata, so the
cache cannot partition by it. Inside a chain the cache sees it there, and such calls bypass
the cache (before, they shared the default partition: tenant B was served tenant A's answer).
A tenant in metadata or in ``cache_scope`` is used as before; other ``configurable`` keys
change nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.globals import set_llm_cache
from langchain_core.prompts import ChatPromptTemplate

from llm_cost_hooks.langchain import FakeChatModelWithUsage, SemanticCache, cache_scope


@pytest.fixture
def chain() -> Iterator[Any]:
    cache = SemanticCache(path=":memory:", semantic=False)
    set_llm_cache(cache)
    model = FakeChatModelWithUsage(responses=[f"answer {i}" for i in range(20)])
    try:
        yield ChatPromptTemplate.from_messages([("human", "{q}")]) | model
    finally:
        set_llm_cache(None)


def _status(msg: Any) -> str:
    return str((msg.response_metadata.get("llm_cost_hooks_cache") or {}).get("status", "miss"))


def test_a_tenant_only_in_configurable_bypasses_the_cache(
    chain: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="llm_cost_hooks.cache"):
        a = chain.invoke({"q": "Where is my order?"}, config={"configurable": {"tenant_id": "A"}})
        b = chain.invoke({"q": "Where is my order?"}, config={"configurable": {"tenant_id": "B"}})
        a2 = chain.invoke({"q": "Where is my order?"}, config={"configurable": {"tenant_id": "A"}})
    assert b.content != a.content and _status(b) == "miss"
    assert a2.content not in (a.content, b.content) and _status(a2) == "miss"
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING and "configurable" in r.message]
    assert len(warned) <= 1  # once per process, not per call (an earlier test may have logged it)


@pytest.mark.parametrize(
    "config",
    [
        {"configurable": {"tenant_id": "A"}, "metadata": {"tenant_id": "A"}},
        {"configurable": {"thread_id": "t1"}, "metadata": {"tenant_id": "A"}},
        {"configurable": {"thread_id": "t1"}},
    ],
    ids=["tenant-in-both", "other-configurable", "no-tenant-anywhere"],
)
def test_a_tenant_in_metadata_or_none_at_all_caches_as_before(chain: Any, config: Any) -> None:
    first = chain.invoke({"q": "Where is my order?"}, config=config)
    again = chain.invoke({"q": "Where is my order?"}, config=config)
    assert again.content == first.content and _status(again) == "exact"


def test_cache_scope_names_the_tenant_when_configurable_does_too(chain: Any) -> None:
    config: Any = {"configurable": {"tenant_id": "A"}}
    with cache_scope(tenant="A"):
        first = chain.invoke({"q": "Where is my order?"}, config=config)
        again = chain.invoke({"q": "Where is my order?"}, config=config)
    assert again.content == first.content and _status(again) == "exact"
