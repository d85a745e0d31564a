"""GuardedChatModel.stream / astream: reserve before the first chunk, settle on the usage
aggregated from the chunks, and give the hold back on an error or a cancel mid-stream."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import PrivateAttr

from llm_cost_hooks import BudgetExceeded, TokenUsage
from llm_cost_hooks.budget import AlertManager, ContextBudget, Limit, SegmentBudgets, SpendGuard
from llm_cost_hooks.dedup import CircuitBreaker
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.langchain._budget import GuardedChatModel
from llm_cost_hooks.tokens import default_counter

ANSWER = "The parcel left the warehouse on Monday and should arrive by Thursday at the latest."


def guard(amount: float = 1.0) -> SpendGuard:
    return SpendGuard(
        [Limit.usd(amount, per="day", scope="tenant", name="daily")], alerts=AlertManager(log=False)
    )


class BrokenStream(FakeChatModelWithUsage):
    """Streams ``fail_after`` word chunks of its answer, then the connection drops."""

    fail_after: int = 3
    _seen_max_tokens: list[Any] = PrivateAttr(default_factory=list)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        self._seen_max_tokens.append(kwargs.get("max_tokens"))
        for i, chunk in enumerate(super()._stream(messages, stop, run_manager, **kwargs)):
            if i == self.fail_after:
                raise ConnectionError("stream reset by peer")
            yield chunk


class SlowStream(FakeChatModelWithUsage):
    """An async stream that waits between chunks (so a consumer can cancel mid-way)."""

    _started: Any = PrivateAttr(default_factory=threading.Event)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in super()._stream(messages, stop, None, **kwargs):
            self._started.set()
            yield chunk
            await asyncio.sleep(0.05)


def cost_of(model: str, usage: TokenUsage) -> float:
    from llm_cost_hooks.pricing import PriceBook

    return PriceBook.default().cost(usage, model).total


def test_stream_settles_the_usage_aggregated_from_the_chunks() -> None:
    g = guard()
    handler = CostCallbackHandler(ledger="memory://")
    model = GuardedChatModel(inner=FakeChatModelWithUsage(responses=[ANSWER], max_tokens=400), guard=g)
    chunks = list(
        model.stream(
            "Where is my parcel?", config={"callbacks": [handler], "metadata": {"tenant_id": "acme"}}
        )
    )
    assert len(chunks) > 5 and "".join(c.text for c in chunks) == ANSWER
    (record,) = handler.records()
    assert record.output_tokens == default_counter().count_text(ANSWER, "gpt-4o-mini").tokens
    assert g.spent("daily", "acme") == pytest.approx(record.cost_usd, abs=1e-12)
    assert g.usage("daily", "acme")[1] == 0  # nothing left on hold
    assert float(record.tags["budget.reserved_usd"]) > record.cost_usd


async def test_astream_settles_and_trims_to_the_context_budget() -> None:
    g = guard()
    handler = CostCallbackHandler(ledger="memory://")
    inner = BrokenStream(
        responses=[ANSWER], max_tokens=400, fail_after=10_000
    )  # never fails; records max_tokens
    budget = ContextBudget(SegmentBudgets(history=40, output=120))
    model = GuardedChatModel(inner=inner, guard=g, context_budget=budget)
    history: list[tuple[str, str]] = []
    for i in range(8):
        history += [
            ("human", f"Old question {i} about the delivery of my parcel?"),
            ("ai", f"Old answer {i}."),
        ]
    history.append(("human", "Where is it now?"))
    text = ""
    async for chunk in model.astream(
        history, config={"callbacks": [handler], "metadata": {"tenant_id": "acme"}}
    ):
        text += chunk.text
    assert text == ANSWER
    assert inner._seen_max_tokens == [120]  # the output budget reached the provider call
    (record,) = handler.records()
    assert int(record.tags["budget.trimmed.history"]) > 0
    assert (
        record.input_tokens
        < default_counter()
        .count_messages(
            [{"role": "user" if r == "human" else "assistant", "content": c} for r, c in history],
            "gpt-4o-mini",
        )
        .tokens
    )
    assert g.spent("daily", "acme") == pytest.approx(record.cost_usd, abs=1e-12)
    assert g.usage("daily", "acme")[1] == 0


def test_error_mid_stream_keeps_only_what_was_streamed() -> None:
    g = guard()
    breaker = CircuitBreaker(failure_threshold=1)
    model = GuardedChatModel(
        inner=BrokenStream(responses=[ANSWER], max_tokens=400, fail_after=3), guard=g, breaker=breaker
    )
    got: list[str] = []
    with pytest.raises(ConnectionError):
        for chunk in model.stream("Where is my parcel?", config={"metadata": {"tenant_id": "acme"}}):
            got.append(chunk.text)
    assert len(got) == 3
    spent, reserved = g.usage("daily", "acme")
    assert reserved == 0
    prompt = (
        default_counter()
        .count_messages([{"role": "user", "content": "Where is my parcel?"}], "gpt-4o-mini")
        .tokens
    )
    streamed = default_counter().count_text("".join(got), "gpt-4o-mini").tokens
    assert spent == pytest.approx(
        cost_of("gpt-4o-mini", TokenUsage(input_tokens=prompt, output_tokens=streamed))
    )
    assert breaker.state("gpt-4o-mini").value == "open"


def test_error_before_the_first_chunk_releases_the_hold_entirely() -> None:
    g = guard()
    model = GuardedChatModel(inner=BrokenStream(responses=[ANSWER], max_tokens=400, fail_after=0), guard=g)
    with pytest.raises(ConnectionError):
        list(model.stream("hi", config={"metadata": {"tenant_id": "acme"}}))
    assert g.usage("daily", "acme") == (0, 0)


def test_consumer_stopping_early_settles_the_partial_stream() -> None:
    g = guard()
    model = GuardedChatModel(inner=FakeChatModelWithUsage(responses=[ANSWER], max_tokens=400), guard=g)
    stream = model.stream("Where is my parcel?", config={"metadata": {"tenant_id": "acme"}})
    first = next(stream)
    assert g.usage("daily", "acme")[1] > 0  # held while streaming
    stream.close()
    spent, reserved = g.usage("daily", "acme")
    assert reserved == 0 and spent > 0
    prompt = (
        default_counter()
        .count_messages([{"role": "user", "content": "Where is my parcel?"}], "gpt-4o-mini")
        .tokens
    )
    partial = TokenUsage(
        input_tokens=prompt, output_tokens=default_counter().count_text(first.text, "gpt-4o-mini").tokens
    )
    assert spent == pytest.approx(cost_of("gpt-4o-mini", partial))


async def test_cancelling_the_task_mid_astream_gives_the_hold_back() -> None:
    g = guard()
    model = GuardedChatModel(inner=SlowStream(responses=[ANSWER], max_tokens=400), guard=g)

    async def consume() -> None:
        async for _ in model.astream("Where is my parcel?", config={"metadata": {"tenant_id": "acme"}}):
            pass

    task = asyncio.create_task(consume())
    for _ in range(200):
        if model.inner._started.is_set():
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.07)  # a chunk or two in
    assert g.usage("daily", "acme")[1] > 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    spent, reserved = g.usage("daily", "acme")
    assert reserved == 0
    worst = 400 * 0.6e-6
    assert 0 < spent < worst


def test_stream_refused_before_the_provider_is_called() -> None:
    inner = BrokenStream(responses=[ANSWER], max_tokens=4000, fail_after=10_000)
    model = GuardedChatModel(inner=inner, guard=guard(0.0001))
    with pytest.raises(BudgetExceeded):
        next(model.stream("hi", config={"metadata": {"tenant_id": "acme"}}))
    assert inner._seen_max_tokens == [] and inner.call_count == 0


def test_invoke_with_a_streaming_handler_still_takes_the_non_stream_path() -> None:
    # invoke() keeps dedup and retries even when a streaming callback is attached.
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.tracers.schemas import Run  # noqa: F401 - langchain-core present

    class Tokens(BaseCallbackHandler):
        pass

    model = GuardedChatModel(inner=FakeChatModelWithUsage(responses=[ANSWER]))
    assert model._should_stream(async_api=False) is False
    assert model._should_stream(async_api=False, stream=True) is True
    assert model.invoke("hi", config={"callbacks": [Tokens()]}).content == ANSWER
    assert isinstance(AIMessageChunk(content="x") + AIMessageChunk(content="y"), AIMessageChunk)
