"""A stream that fails or that the caller stops part-way was billed for the chunks it
delivered: its cost record counts them (flagged estimated when the provider sent no usage),
not the prompt alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from llm_cost_hooks.langchain import CostCallbackHandler

ANSWER = "The parcel left the warehouse on Monday and should arrive by Thursday at the latest."


class _Words(BaseChatModel):
    """Streams its answer word by word; fails after ``fail_after`` words when set."""

    fail_after: int | None = None

    @property
    def _llm_type(self) -> str:
        return "words"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": "gpt-4o-mini"}

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=ANSWER))])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        for i, word in enumerate(ANSWER.split(" ")):
            if self.fail_after is not None and i == self.fail_after:
                raise ConnectionError("connection reset by peer")
            yield ChatGenerationChunk(
                message=AIMessageChunk(content=word + " ", response_metadata={"model_name": "gpt-4o-mini"})
            )

    async def _astream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._stream(messages, stop, None, **kw):
            await asyncio.sleep(0)
            yield chunk


def _only_record(handler: CostCallbackHandler) -> Any:
    handler.flush()
    (record,) = handler.records()
    return record


def test_a_stream_the_caller_stops_after_two_chunks_counts_what_it_delivered() -> None:
    handler = CostCallbackHandler(ledger="memory://")
    stream = _Words().stream("Where is my parcel?", config={"callbacks": [handler]})
    for i, _ in enumerate(stream):
        if i == 1:
            break
    stream.close()
    record = _only_record(handler)
    assert record.error_type is not None
    assert record.tokens_estimated
    # At least the two words the caller read (LangChain may have read one chunk ahead).
    assert 2 <= record.output_tokens <= 3
    assert record.input_tokens > 0
    assert record.cost_usd > 0


def test_a_stream_that_fails_part_way_counts_what_it_delivered() -> None:
    handler = CostCallbackHandler(ledger="memory://")
    got = []
    with pytest.raises(ConnectionError):
        for chunk in _Words(fail_after=4).stream("Where is my parcel?", config={"callbacks": [handler]}):
            got.append(chunk.content)
    record = _only_record(handler)
    assert len(got) == 4
    assert record.output_tokens >= 4
    assert record.tokens_estimated
    assert record.error_type == "ConnectionError"


def test_an_async_stream_cancelled_part_way_counts_what_it_delivered() -> None:
    handler = CostCallbackHandler(ledger="memory://")

    async def read_three() -> None:
        n = 0
        async for _ in _Words().astream("Where is my parcel?", config={"callbacks": [handler]}):
            n += 1
            if n == 3:
                raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(read_three())
    record = _only_record(handler)
    assert record.output_tokens >= 3
    assert record.tokens_estimated


def test_a_failed_call_that_delivered_nothing_is_still_priced_at_its_prompt() -> None:
    handler = CostCallbackHandler(ledger="memory://")
    with pytest.raises(ConnectionError):
        for _ in _Words(fail_after=0).stream("Where is my parcel?", config={"callbacks": [handler]}):
            pass
    record = _only_record(handler)
    assert record.output_tokens == 0
    assert record.input_tokens > 0
