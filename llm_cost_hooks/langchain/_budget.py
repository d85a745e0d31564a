"""GuardedChatModel: context budgets, spend guardrails, dedup, retry budgets and breakers
around any LangChain chat model. A wrapper, not a callback (docs/budgets.md says why); the
guarded-call loop is the budget core's (``budget._call``), this module translates messages,
usage and the output cap.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    convert_to_openai_messages,
    message_to_dict,
    messages_from_dict,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import ConfigDict, Field

from .._records import TokenUsage
from ..budget import ContextBudget, Downgrade, SpendGuard
from ..budget._call import (
    Attempt,
    Attribution,
    GuardedCall,
    Target,
    aguarded_call,
    aguarded_stream,
    ashared_call,
    guarded_call,
    guarded_stream,
    pick_downgrade,
    rewrap,
    shared_call,
)
from ..dedup import CircuitBreaker, RedisSingleFlight, RetryBudget, SingleFlight
from ..tracking._usage import model_name_of, usage_of_message
from ._callback import CACHE_MARKER_KEY
from ._context import StreamRunChatModel, annotate_run, trim_messages

__all__ = ["GuardedChatModel", "TierGuardedChatModel"]

_Call = GuardedCall[BaseChatModel]
_Attempt = Attempt[BaseChatModel]


# -- the guarded model --------------------------------------------------------------------
def _model_of(model: BaseChatModel) -> Target[BaseChatModel]:
    return Target(model, *model_name_of(model))


def _add_chunk(aggregate: AIMessageChunk | None, chunk: ChatGenerationChunk) -> AIMessageChunk | None:
    message = chunk.message
    if not isinstance(message, AIMessageChunk):
        return aggregate
    return message if aggregate is None else aggregate + message


def _dump(message: AIMessage) -> str:
    return json.dumps(message_to_dict(message))


def _load(blob: str) -> AIMessage:
    # messages_from_dict builds messages from plain fields; nothing is unpickled.
    message = messages_from_dict([json.loads(blob)])[0]
    if not isinstance(message, AIMessage):
        raise TypeError("the shared result is not an AI message")
    return message


def _message(result: ChatResult) -> AIMessage:
    message = result.generations[0].message
    assert isinstance(message, AIMessage)
    return message


def _result(message: AIMessage, shared: bool) -> ChatResult:
    if shared:
        # Same answer, marked as deduplicated: the cost handler records cost 0, saved = its price.
        message = message.model_copy(deep=True)
        message.response_metadata = {
            **message.response_metadata,
            CACHE_MARKER_KEY: {"status": "deduplicated"},
        }
    return ChatResult(generations=[ChatGeneration(message=message)])


class GuardedChatModel(StreamRunChatModel):
    """Wraps a chat model with context budgets, spend guardrails, dedup, a retry budget
    and a circuit breaker; every part is optional (the call's steps: docs/budgets.md).

    >>> from llm_cost_hooks.budget import Limit
    >>> from llm_cost_hooks.langchain import FakeChatModelWithUsage
    >>> guarded = GuardedChatModel(inner=FakeChatModelWithUsage(responses=["Paris."]),
    ...                            guard=SpendGuard([Limit.usd_per_request(0.01)]))
    >>> guarded.invoke("Capital of France?").content
    'Paris.'
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: BaseChatModel
    guard: SpendGuard | None = None
    context_budget: ContextBudget | None = None
    dedup: SingleFlight | RedisSingleFlight | None = None
    derive_dedup_key: bool = True
    retry: RetryBudget | None = None
    breaker: CircuitBreaker | None = None
    downgrades: dict[str, BaseChatModel] = Field(default_factory=dict)
    route: str | None = None

    # -- identity; tools and structured output: the inner model's own, sent through the guard
    @property
    def _llm_type(self) -> str:
        return f"guarded-{self.inner._llm_type}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"inner": self.inner._identifying_params}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return self.inner._get_ls_params(stop=stop, **kwargs)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        return rewrap(self.inner.bind_tools(tools, **kwargs), self.inner, self)

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Runnable[LanguageModelInput, Any]:
        return rewrap(self.inner.with_structured_output(schema, **kwargs), self.inner, self)

    # -- preparation (no I/O) -----------------------------------------------------------------
    def _prepare(
        self,
        messages: list[BaseMessage],
        run_manager: Any,
        kwargs: dict[str, Any],
        stop: list[str] | None,
        stream: bool = False,
    ) -> tuple[_Call, list[BaseMessage], str | None]:
        """The guarded call, the (trimmed) messages to send and the dedup key."""
        metadata: Mapping[str, Any] = getattr(run_manager, "metadata", None) or {}
        target = _model_of(self.inner)
        max_tokens = kwargs.pop("max_tokens", None) or getattr(self.inner, "max_tokens", None)
        trimmed = None
        if self.context_budget is not None:
            route = metadata.get("route") or self.route
            messages, trimmed = trim_messages(
                self.context_budget, messages, route=route, max_tokens=max_tokens, model=target.model
            )
        dicts = trimmed.messages if trimmed is not None else convert_to_openai_messages(messages)
        call: _Call = GuardedCall.for_messages(
            target,
            dicts,
            trimmed=trimmed,
            tools=kwargs.get("tools") or kwargs.get("response_format"),  # schemas are prompt too
            counter=self.context_budget.counter if self.context_budget is not None else None,
            guard=self.guard,
            breaker=self.breaker,
            retry=self.retry,
            task_id=str(metadata.get("task_id") or getattr(run_manager, "run_id", "") or id(messages)),
            max_tokens=max_tokens,
            # The guard's scope, the retry budget's tenant (a call naming none: its record's).
            scope=Attribution.of(metadata, self.route, run=run_manager),
            downgrade=self._pick_downgrade,
            stream=stream,
        )
        key = None
        if self.dedup is not None and not stream:
            params = {k: v for k, v in kwargs.items() if k != "callbacks"}
            key = call.dedup_key(metadata, dicts, stop, params, derive=self.derive_dedup_key)
        return call, messages, key

    def _pick_downgrade(self, d: Downgrade) -> Target[BaseChatModel] | None:
        """The model a downgrade switches to (``None``: none configured, refuse)."""
        model = pick_downgrade(d, self.downgrades)
        return _model_of(model) if model is not None else None

    @staticmethod
    def _usage(message: AIMessage | None, attempt: _Attempt, call: _Call) -> TokenUsage:
        usage = usage_of_message(message) if message is not None else None
        return call.usage_or_counted(usage, message.text if message is not None else "", attempt)

    @staticmethod
    def _kwargs(attempt: _Attempt, kwargs: dict[str, Any]) -> dict[str, Any]:
        # The reserved output cap (a shrink_output policy may have lowered it) goes out.
        return {**kwargs, "max_tokens": attempt.cap} if attempt.cap is not None else kwargs

    def _flight_codec(self) -> dict[str, Any]:
        # A Redis flight hands the answer to other processes: as JSON, never pickled.
        return {"dumps": _dump, "loads": _load} if isinstance(self.dedup, RedisSingleFlight) else {}

    # -- calls ------------------------------------------------------------------------------
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        call, messages, key = self._prepare(messages, run_manager, kwargs, stop)

        def upstream() -> AIMessage:
            return guarded_call(
                call,
                lambda a: _message(
                    a.target.handle._generate(
                        messages, stop=stop, run_manager=run_manager, **self._kwargs(a, kwargs)
                    )
                ),
                lambda m, a: self._usage(m, a, call),
            )

        try:
            message, shared = shared_call(call, self.dedup, key, upstream, **self._flight_codec())
        finally:
            annotate_run(run_manager, call.tags)
        return _result(message, shared)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        call, messages, key = self._prepare(messages, run_manager, kwargs, stop)

        async def once(a: _Attempt) -> AIMessage:
            handle = a.target.handle
            return _message(
                await handle._agenerate(
                    messages, stop=stop, run_manager=run_manager, **self._kwargs(a, kwargs)
                )
            )

        def upstream() -> Awaitable[AIMessage]:
            return aguarded_call(call, once, lambda m, a: self._usage(m, a, call))

        try:
            message, shared = await ashared_call(call, self.dedup, key, upstream, **self._flight_codec())
        finally:
            annotate_run(run_manager, call.tags)
        return _result(message, shared)

    # -- streaming ------------------------------------------------------------------------
    # stream() / astream(): reserve before the first chunk, settle on the chunks' usage (or what
    # streamed before a failure or early stop; docs/budgets.md). Never deduplicated: own tokens.
    def _should_stream(self, *, async_api: bool, run_manager: Any = None, **kwargs: Any) -> bool:
        # Only an explicit stream()/astream() streams: invoke() keeps dedup and retries.
        if not kwargs.get("stream"):
            return False
        inner_sync = type(self.inner)._stream is not BaseChatModel._stream
        inner_async = type(self.inner)._astream is not BaseChatModel._astream
        return (inner_sync or inner_async) if async_api else inner_sync

    def _stream_start(
        self, messages: list[BaseMessage], run_manager: Any, kwargs: dict[str, Any], stop: list[str] | None
    ) -> tuple[Any, _Call, list[BaseMessage]]:
        run = self._run_of(run_manager, kwargs)  # metadata, run id, handlers
        call, messages, _ = self._prepare(messages, run, kwargs, stop, stream=True)
        return run, call, messages

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        run, call, messages = self._stream_start(messages, run_manager, kwargs, stop)
        try:
            yield from guarded_stream(
                call,
                lambda a: a.target.handle._stream(
                    messages, stop=stop, run_manager=run_manager, **self._kwargs(a, kwargs)
                ),
                _add_chunk,
                lambda m, a: self._usage(m, a, call),
            )
        finally:
            annotate_run(run, call.tags)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        run, call, messages = self._stream_start(messages, run_manager, kwargs, stop)
        chunks = aguarded_stream(
            call,
            lambda a: a.target.handle._astream(
                messages, stop=stop, run_manager=run_manager, **self._kwargs(a, kwargs)
            ),
            _add_chunk,
            lambda m, a: self._usage(m, a, call),
        )
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()  # a consumer that stopped early: settle the part it got now
            annotate_run(run, call.tags)


class TierGuardedChatModel(GuardedChatModel):
    """A routed tier's guard: the router moves a downgrade to a cheaper tier (``downgrades``)."""

    def _pick_downgrade(self, d: Downgrade) -> Target[BaseChatModel] | None:
        from ..routing._tiers import tier_downgrade  # loaded with the router already

        tier_downgrade(d, self.downgrades)  # raises, handing the call down, unless none is cheaper
        return None
