"""The LangChain cache under wrapped models: answers never cross tool sets, tool_choice,
structured-output schemas or images, a cached tool call replays as a tool call, and a routed
structured answer is served from its tier's entry without a broken entry of its own."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.globals import set_llm_cache
from langchain_core.messages import AIMessage, HumanMessage
from pydantic import BaseModel, create_model

from llm_cost_hooks.langchain import (
    CostCallbackHandler,
    FakeChatModelWithUsage,
    GuardedChatModel,
    RoutedChatModel,
    SemanticCache,
)


class Weather(BaseModel):
    """Weather in a city."""

    city: str


class Clock(BaseModel):
    """Time in a zone."""

    zone: str


class Person(BaseModel):
    """A person."""

    name: str


def _fake(name: str = "gpt-4o-mini") -> FakeChatModelWithUsage:
    return FakeChatModelWithUsage(model_name=name, responses=[f"answer {i}" for i in range(50)])


@pytest.fixture(params=[True, False], ids=["semantic", "exact-only"])
def cache(request: pytest.FixtureRequest) -> Iterator[SemanticCache]:
    c = SemanticCache(path=":memory:", semantic=request.param)
    set_llm_cache(c)
    yield c
    set_llm_cache(None)


def _wrapped(kind: str) -> tuple[Any, list[FakeChatModelWithUsage]]:
    inner = _fake()
    if kind == "guarded":
        return GuardedChatModel(inner=inner), [inner]
    if kind == "routed":
        large = _fake("gpt-4o")
        return RoutedChatModel(tiers={"small": inner, "large": large}), [inner, large]
    return inner, [inner]


@pytest.mark.parametrize("kind", ["bare", "guarded", "routed"])
def test_answers_never_cross_tools_tool_choice_schemas_or_images(cache: SemanticCache, kind: str) -> None:
    model, fakes = _wrapped(kind)
    q = "What's the weather in Paris?"

    def picture(url: str) -> list[HumanMessage]:
        image = {"type": "image_url", "image_url": {"url": url}}
        return [HumanMessage(content=[{"type": "text", "text": q}, image])]

    variants: dict[str, Callable[[], Any]] = {
        "tools A": lambda: model.bind_tools([Weather]).invoke(q),
        "tools B": lambda: model.bind_tools([Clock]).invoke(q),
        "tools A+B": lambda: model.bind_tools([Weather, Clock]).invoke(q),
        "tool_choice": lambda: model.bind_tools([Weather, Clock], tool_choice="Clock").invoke(q),
        "schema A": lambda: model.with_structured_output(Weather).invoke(q),
        "schema B": lambda: model.with_structured_output(Clock).invoke(q),
        "no tools": lambda: model.invoke(q),
        "image 1": lambda: model.invoke(picture("https://example.com/1.png")),
        "image 2": lambda: model.invoke(picture("https://example.com/2.png")),
    }

    def calls() -> int:
        return sum(f.call_count for f in fakes)

    for name in variants:  # the same text each time: every variant is its own miss...
        before = calls()
        variants[name]()
        assert calls() > before, f"{name} was served another request's answer"
    for name in variants:  # ...and its own hit
        before = calls()
        variants[name]()
        assert calls() == before, f"{name} missed its own entry"


def test_a_cached_tool_call_replays_as_a_tool_call(cache: SemanticCache) -> None:
    from langchain_core.messages import AIMessage

    call = {"name": "Weather", "args": {"city": "Paris"}, "id": "c1", "type": "tool_call"}
    inner = FakeChatModelWithUsage(responses=[AIMessage(content="", tool_calls=[call])])
    model = GuardedChatModel(inner=inner).bind_tools([Weather])
    first, again = model.invoke("Weather in Paris?"), model.invoke("Weather in Paris?")
    assert inner.call_count == 1
    assert again.tool_calls == first.tool_calls == [call] and again.content == ""
    assert again.response_metadata["llm_cost_hooks_cache"]["status"] == "exact"


def test_routed_structured_output_is_served_from_the_cache_without_corrupt_entries(
    cache: SemanticCache, caplog: pytest.LogCaptureFixture
) -> None:
    from langchain_core.messages import AIMessage

    call = {"name": "Person", "args": {"name": "Ann"}, "id": "c1", "type": "tool_call"}
    small = FakeChatModelWithUsage(responses=[AIMessage(content="", tool_calls=[call])] * 3)
    routed = RoutedChatModel(tiers={"small": small, "large": _fake("gpt-4o")})
    handler = CostCallbackHandler(ledger="memory://")
    config: Any = {"callbacks": [handler], "metadata": {"tenant_id": "acme"}}
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.cache"):
        got = [routed.with_structured_output(Person).invoke("Who is Ann?", config=config) for _ in range(3)]
    assert got == [Person(name="Ann")] * 3 and small.call_count == 1
    assert cache.core.stats.corrupt == 0 and "corrupt" not in caplog.text
    records = handler.records()
    assert [r.cache_status.value for r in records] == ["miss", "exact", "exact"]
    assert {(r.model, r.tenant) for r in records} == {("gpt-4o-mini", "acme")}
    assert records[0].input_tokens > 0 and records[1].cost_usd == 0


def test_a_routed_call_is_keyed_by_its_tools_schema_not_their_names(cache: SemanticCache) -> None:
    # the same name, a changed schema (as when a notebook cell is run again)
    v1 = create_model("Forecast", __doc__="A forecast.", city=(str, ...))
    v2 = create_model("Forecast", __doc__="A forecast.", city=(str, ...), days=(int, ...))
    assert repr(v1) == repr(v2)
    small = _fake()
    routed = RoutedChatModel(tiers={"small": small, "large": _fake("gpt-4o")})
    routed.bind_tools([v1]).invoke("Forecast for Paris?")
    routed.bind_tools([v2]).invoke("Forecast for Paris?")
    routed.bind_tools([v2], tool_choice="Forecast").invoke("Forecast for Paris?")
    assert small.call_count == 3
    routed.bind_tools([v2]).invoke("Forecast for Paris?")
    assert small.call_count == 3  # and the same tools hit


def test_tool_calls_that_differ_are_different_answers_on_the_semantic_tier() -> None:
    # A tool-call answer has no text: its calls are what the semantic tier's agreement rule
    # compares, so calls with other arguments never vouch for each other.
    cache = SemanticCache(path=":memory:")
    set_llm_cache(cache)
    try:

        def respond(messages: list[Any]) -> AIMessage:
            args = {"query": messages[-1].content}
            return AIMessage(content="", tool_calls=[{"name": "Weather", "args": args, "id": "c"}])

        inner = FakeChatModelWithUsage(respond=respond)
        model = inner.bind_tools([Weather])
        asked = [
            "What's the weather in Paris?",
            "what is the weather like in paris",
            "Paris weather today?",
            "How is the weather in Paris right now?",
            "Tell me the weather in Paris",
            "weather forecast Paris",
            "How's the weather in Paris?",
            "Is it cold in Paris?",
        ]
        for q in asked:
            assert model.invoke(q).tool_calls[0]["args"] == {"query": q}
        assert inner.call_count == len(asked) and cache.core.stats.semantic_hits == 0
    finally:
        set_llm_cache(None)
