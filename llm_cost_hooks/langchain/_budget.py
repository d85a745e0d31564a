"""LangChain adapters for context budgets, spend guardrails, dedup, retry budgets and breakers.

Why a wrapper chat model (:class:`GuardedChatModel`) rather than a callback handler: a
guard has to act *around* the call - reserve before, settle with the real cost after,
release on error, share one upstream call between duplicates, skip an open circuit and
pass a (shrunk) ``max_tokens`` to the provider. A callback can only veto by raising in
``on_chat_model_start``; it cannot change the request, return a shared answer or see
the call's end when another handler raised first. The wrapper is still a real
``BaseChatModel``: it composes in chains (``prompt | guarded | parser``), keeps
``bind_tools``, and the cost handler records one call per invocation (the deduplicated
ones as ``CacheStatus.DEDUPLICATED``, cost 0, saved = the shared call's price).

How segments are recognised in LangChain messages: like the core convention
(:mod:`llm_cost_hooks.budget`), with the annotations read from
``message.additional_kwargs`` (or ``response_metadata``): e.g.
``SystemMessage(doc_text, additional_kwargs={"segment": "retrieved", "score": 0.82})``.
They are removed before the request is sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.chat_models import LangSmithParams
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    convert_to_messages,
    convert_to_openai_messages,
    message_to_dict,
    messages_from_dict,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from pydantic import ConfigDict, Field

from .._errors import BudgetExceeded
from .._records import TokenUsage
from ..budget import ContextBudget, Downgrade, DowngradeRequired, SpendGuard, SpendRequest, TrimResult
from ..dedup import (
    CircuitBreaker,
    CircuitOpenError,
    RedisSingleFlight,
    RetryBudget,
    SingleFlight,
    idempotency_key,
)
from ._callback import CACHE_MARKER_KEY
from ._usage import usage_of_message

__all__ = ["ContextBudgetRunnable", "GuardedChatModel", "annotate_run", "trim_messages"]

_ANNOTATIONS = ("segment", "score")


# -- helpers ------------------------------------------------------------------------------
def annotate_run(run_manager: Any, tags: Mapping[str, Any], run_id: Any = None) -> int:
    """Put ``tags`` on the cost record (and span) of a run, through every cost handler
    attached to ``run_manager`` (``CostTracker.annotate``). Returns how many took them."""
    if not tags or run_manager is None:
        return 0
    target = str(run_id if run_id is not None else run_manager.run_id)
    done = 0
    seen: set[int] = set()
    for handler in list(getattr(run_manager, "handlers", []) or []) + list(
        getattr(run_manager, "inheritable_handlers", []) or []
    ):
        tracker = getattr(handler, "tracker", None)
        if tracker is None or id(tracker) in seen or not hasattr(tracker, "annotate"):
            continue
        seen.add(id(tracker))
        done += bool(tracker.annotate(target, tags))
    return done


def _openai_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    dicts = convert_to_openai_messages(list(messages))
    if len(dicts) != len(messages):  # conversion is 1:1 today; be safe if it ever is not
        dicts = [convert_to_openai_messages([m])[0] for m in messages]  # type: ignore[index]
    out: list[dict[str, Any]] = []
    for message, d in zip(messages, dicts):
        d = dict(d)  # type: ignore[arg-type]
        for key in _ANNOTATIONS:
            value = message.additional_kwargs.get(key, message.response_metadata.get(key))
            if value is not None:
                d[key] = value
        out.append(d)
    return out


def _strip(message: BaseMessage, content: Any = None) -> BaseMessage:
    update: dict[str, Any] = {}
    if any(k in message.additional_kwargs for k in _ANNOTATIONS):
        update["additional_kwargs"] = {
            k: v for k, v in message.additional_kwargs.items() if k not in _ANNOTATIONS
        }
    if content is not None:
        update["content"] = content
    return message.model_copy(update=update) if update else message


def trim_messages(
    budget: ContextBudget,
    messages: Sequence[BaseMessage],
    *,
    route: str | None = None,
    max_tokens: int | None = None,
    model: str | None = None,
) -> tuple[list[BaseMessage], TrimResult]:
    """Apply a :class:`ContextBudget` to LangChain messages; returns the kept messages
    (cut ones copied with their new content) and the :class:`TrimResult`.

    >>> from langchain_core.messages import HumanMessage, SystemMessage
    >>> from llm_cost_hooks.budget import SegmentBudgets
    >>> msgs, result = trim_messages(ContextBudget(SegmentBudgets(output=100)),
    ...     [SystemMessage("Be brief."), HumanMessage("hi")], max_tokens=900)
    >>> len(msgs), result.max_tokens
    (2, 100)
    """
    result = budget.apply(_openai_dicts(messages), route=route, max_tokens=max_tokens, model=model)
    out = [_strip(messages[i], result.replaced.get(i)) for i in result.kept]
    for position, added in sorted(result.inserted.items()):  # the compact facts message
        out.insert(position, convert_to_messages([added])[0])
    return out, result


def _to_messages(value: LanguageModelInput) -> list[BaseMessage]:
    if isinstance(value, PromptValue):
        return value.to_messages()
    if isinstance(value, str):
        return convert_to_messages([("human", value)])
    return convert_to_messages(value)  # type: ignore[arg-type]


class ContextBudgetRunnable(RunnableSerializable[LanguageModelInput, list[BaseMessage]]):
    """A chain step that fits the messages into a :class:`ContextBudget`.

    ``prompt | step | llm``: the step trims and tags the enclosing run, so the next model
    call's cost record carries ``budget.trimmed.<segment>``. ``step | llm`` (piping
    straight into a chat model) returns ``GuardedChatModel(llm, context_budget=...)``,
    which also clamps ``max_tokens`` to the output budget - a plain step cannot change the
    next model's parameters. The route comes from ``metadata['route']`` or ``route``.

    >>> from llm_cost_hooks.budget import SegmentBudgets
    >>> step = ContextBudgetRunnable(budget=ContextBudget(SegmentBudgets(history=20)))
    >>> [m.content for m in step.invoke([("human", "an old question " * 10), ("ai", "ok"), ("human", "new?")])]
    ['new?']
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    budget: ContextBudget
    route: str | None = None
    model: str | None = None

    def _trim(self, value: LanguageModelInput, run_manager: Any, config: RunnableConfig) -> list[BaseMessage]:
        route = (config.get("metadata") or {}).get("route") or self.route
        messages, result = trim_messages(self.budget, _to_messages(value), route=route, model=self.model)
        tags = result.tags()
        if tags and run_manager is not None:
            annotate_run(run_manager, tags)
            if run_manager.parent_run_id is not None:
                annotate_run(run_manager, tags, run_manager.parent_run_id)
        return messages

    def invoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[BaseMessage]:
        return self._call_with_config(self._trim, input, config, run_type="chain")  # type: ignore[arg-type]

    async def ainvoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[BaseMessage]:
        return self.invoke(input, config, **kwargs)  # CPU only, well under a millisecond

    def __or__(self, other: Any) -> Any:
        if isinstance(other, BaseChatModel):
            return GuardedChatModel(inner=other, context_budget=self.budget, route=self.route)
        return super().__or__(other)


# -- the guarded model --------------------------------------------------------------------
_STREAM_KEY = "_llm_cost_hooks_stream_run"


class _StreamRun:
    """What ``_stream`` needs of the run when LangChain's ``stream()`` does not pass it a
    run manager: the run's metadata, its id and the handlers (for record tags)."""

    __slots__ = ("handlers", "inheritable_handlers", "metadata", "parent_run_id", "run_id")

    def __init__(self, run_id: Any, metadata: Mapping[str, Any], handlers: list[Any]) -> None:
        self.run_id = run_id
        self.metadata = metadata
        self.handlers = handlers
        self.inheritable_handlers: list[Any] = []
        self.parent_run_id = None

    def __repr__(self) -> str:  # it travels in the call's kwargs (and so its invocation params)
        return f"<stream run {self.run_id}>"


def _stream_run(model: BaseChatModel, config: RunnableConfig | None) -> tuple[RunnableConfig, _StreamRun]:
    import uuid

    from langchain_core.runnables.config import ensure_config

    config = dict(ensure_config(config))  # type: ignore[assignment]
    run_id = config.get("run_id") or uuid.uuid4()
    config["run_id"] = run_id  # the run LangChain starts gets this id: the tags find its record
    callbacks = config.get("callbacks")
    handlers = (
        list(callbacks)
        if isinstance(callbacks, list)
        else [
            *(getattr(callbacks, "handlers", None) or []),
            *(getattr(callbacks, "inheritable_handlers", None) or []),
        ]
    )
    if isinstance(model.callbacks, list):
        handlers += model.callbacks
    metadata = {**(model.metadata or {}), **(config.get("metadata") or {})}
    return config, _StreamRun(run_id, metadata, handlers)  # type: ignore[return-value]


@dataclass
class _Ctx:
    messages: list[BaseMessage]
    model: str
    provider: str | None
    counted_input_tokens: int | None
    max_tokens: int | None
    metadata: Mapping[str, Any]
    key: str | None
    task_id: str
    tags: dict[str, str] = field(default_factory=dict)
    count_input: Callable[[], int] | None = None

    @property
    def input_tokens(self) -> int:
        # Counted on first use: without a spend guard only a reply without usage needs it,
        # and counting a long prompt costs more than the rest of the wrapper.
        if self.counted_input_tokens is None:
            self.counted_input_tokens = self.count_input() if self.count_input is not None else 0
        return self.counted_input_tokens


def _model_of(model: BaseChatModel) -> tuple[str, str | None]:
    try:
        params = model._get_ls_params()
    except Exception:
        params = {}
    name = params.get("ls_model_name") or getattr(model, "model_name", None) or getattr(model, "model", None)
    return str(name or type(model).__name__), params.get("ls_provider")


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


class GuardedChatModel(BaseChatModel):
    """Wraps a chat model with context budgets, spend guardrails, dedup, a retry budget
    and a circuit breaker. Every part is optional.

    Per call: trim to ``context_budget`` (route from ``metadata['route']``); check the
    breaker; join an identical in-flight call (``dedup``; key from
    ``metadata['idempotency_key']`` or derived from the exact request when
    ``derive_dedup_key``); reserve the worst case on ``guard`` (a ``downgrade`` policy
    switches to ``downgrades[to_model]``); call ``inner`` with the reserved output cap
    as ``max_tokens``; settle the real cost, or release and retry within ``retry``.
    Trims, reservations, downgrades, retries and breaker state go on the cost record as
    tags (``budget.*``, ``dedup.*``, ``retry.*``, ``breaker.state``).

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

    # -- identity -------------------------------------------------------------------------
    @property
    def _llm_type(self) -> str:
        return f"guarded-{self.inner._llm_type}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"inner": self.inner._identifying_params}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return self.inner._get_ls_params(stop=stop, **kwargs)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        bound = self.inner.bind_tools(tools, **kwargs)
        return self.bind(**getattr(bound, "kwargs", {}))

    # -- preparation (no I/O) -----------------------------------------------------------------
    def _prepare(
        self, messages: list[BaseMessage], run_manager: Any, kwargs: dict[str, Any], stop: list[str] | None
    ) -> _Ctx:
        metadata: Mapping[str, Any] = getattr(run_manager, "metadata", None) or {}
        model, provider = _model_of(self.inner)
        max_tokens = kwargs.pop("max_tokens", None) or getattr(self.inner, "max_tokens", None)
        tags: dict[str, str] = {}
        tools = kwargs.get("tools")
        input_tokens: int | None = None
        if self.context_budget is not None:
            route = metadata.get("route") or self.route
            messages, result = trim_messages(
                self.context_budget, messages, route=route, max_tokens=max_tokens, model=model
            )
            max_tokens = result.max_tokens
            tags.update(result.tags())
            dicts = result.messages
            if not tools:
                input_tokens = result.prompt_tokens  # already counted, same recipe
        else:
            dicts = convert_to_openai_messages(messages)  # type: ignore[assignment]
        count_input = None
        if input_tokens is None:
            from ..tokens import default_counter

            counter = self.context_budget.counter if self.context_budget is not None else default_counter()
            tool_list = tools if isinstance(tools, list) else None

            def count_input() -> int:
                return counter.count_messages(dicts, model, tools=tool_list).tokens

            if self.guard is not None:
                input_tokens = count_input()
        key = None
        if self.dedup is not None:
            request = {
                "model": model,
                "messages": dicts,
                "stop": stop,
                "max_tokens": max_tokens,
                "params": {k: v for k, v in kwargs.items() if k != "callbacks"},
            }
            key = idempotency_key(metadata, request, namespace=f"{model}:", derive=self.derive_dedup_key)
        task_id = str(metadata.get("task_id") or getattr(run_manager, "run_id", "") or id(messages))
        return _Ctx(
            messages, model, provider, input_tokens, max_tokens, metadata, key, task_id, tags, count_input
        )

    def _request(self, ctx: _Ctx, model: str, provider: str | None) -> SpendRequest:
        md = ctx.metadata
        return SpendRequest(
            model=model,
            provider=provider,
            input_tokens=ctx.input_tokens,
            max_output_tokens=ctx.max_tokens,
            tenant=md.get("tenant_id") or md.get("tenant"),
            feature=md.get("feature"),
            route=md.get("route") or self.route,
            user=md.get("user_id") or md.get("user"),
        )

    def _pick_downgrade(self, d: Downgrade, ctx: _Ctx) -> tuple[BaseChatModel, str, str | None]:
        target = d.to_model
        if target is None and len(self.downgrades) == 1:
            target = next(iter(self.downgrades))
        model = self.downgrades.get(target) if target else None
        if model is None or "budget.downgraded_from" in ctx.tags:
            raise DowngradeRequired(d)
        name, provider = _model_of(model)
        ctx.tags["budget.downgraded_from"] = ctx.model
        ctx.tags["budget.downgrade_limit"] = d.limit_name
        return model, name, provider

    def _finish(
        self, ctx: _Ctx, message: AIMessage, model: str, provider: str | None
    ) -> tuple[TokenUsage, float]:
        usage = usage_of_message(message)
        if usage is None:
            from ..tokens import default_counter

            out = default_counter().count_text(message.text, model).tokens if message.text else 0
            usage = TokenUsage(input_tokens=ctx.input_tokens, output_tokens=out)
        cost = 0.0
        if self.guard is not None:
            try:
                cost = self.guard.cost_of(usage, model, provider)
            except Exception:
                cost = -1.0
        return usage, cost

    def _failed_cost(self, model: str, provider: str | None, ctx: _Ctx) -> float:
        # A failed attempt is counted at its prompt's price, like the tracker records it.
        if self.guard is None:
            return 0.0
        try:
            return self.guard.cost_of(TokenUsage(input_tokens=ctx.input_tokens), model, provider)
        except Exception:
            return 0.0

    # -- async ----------------------------------------------------------------------------
    async def _aupstream(
        self, ctx: _Ctx, stop: list[str] | None, run_manager: Any, kwargs: dict[str, Any]
    ) -> AIMessage:
        inner, model, provider = self.inner, ctx.model, ctx.provider
        state = self.retry.state(ctx.task_id) if self.retry is not None else None
        while True:
            if self.breaker is not None:
                try:
                    ctx.tags["breaker.state"] = self.breaker.check(model).value
                except CircuitOpenError:
                    ctx.tags["breaker.state"] = "open"
                    raise
            reservation = None
            if self.guard is not None:
                decision = await self.guard.atry_reserve(self._request(ctx, model, provider))
                if isinstance(decision, Downgrade):
                    inner, model, provider = self._pick_downgrade(decision, ctx)
                    continue
                reservation = decision
            call_kwargs = dict(kwargs)
            cap = reservation.max_output_tokens if reservation is not None else ctx.max_tokens
            if cap is not None:
                call_kwargs["max_tokens"] = cap
            try:
                result = await inner._agenerate(
                    ctx.messages, stop=stop, run_manager=run_manager, **call_kwargs
                )
            except (BudgetExceeded, CircuitOpenError):
                raise
            except Exception:
                if reservation is not None:
                    await reservation.arelease()
                if self.breaker is not None:
                    self.breaker.record_failure(model)
                if state is not None and self.retry is not None:
                    self.retry.record(state, self._failed_cost(model, provider, ctx))
                    ctx.tags.update(state.tags())
                    worst = reservation.worst_usd if reservation is not None else 0.0
                    if self.retry.can_retry(state, worst):
                        await asyncio.sleep(self.retry.delay(state))
                        continue
                raise
            message = result.generations[0].message
            assert isinstance(message, AIMessage)
            usage, cost = self._finish(ctx, message, model, provider)
            if reservation is not None:
                if cost < 0:
                    cost = reservation.worst_usd
                await reservation.asettle(
                    cost, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens
                )
                ctx.tags.update(reservation.tags())
            if self.breaker is not None:
                self.breaker.record_success(model)
                ctx.tags["breaker.state"] = "closed"
            if state is not None and self.retry is not None:
                self.retry.record(state, max(cost, 0.0))
                ctx.tags.update(state.tags())
            return message

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        ctx = self._prepare(messages, run_manager, kwargs, stop)
        try:
            if ctx.key is not None and self.dedup is not None:
                if isinstance(self.dedup, RedisSingleFlight):
                    flight = await self.dedup.ado(
                        ctx.key,
                        lambda: self._aupstream(ctx, stop, run_manager, kwargs),
                        dumps=_dump,
                        loads=_load,
                    )
                else:
                    flight = await self.dedup.ado(
                        ctx.key, lambda: self._aupstream(ctx, stop, run_manager, kwargs)
                    )
                message = self._shared(flight.value, flight.source, ctx)
            else:
                message = await self._aupstream(ctx, stop, run_manager, kwargs)
        finally:
            annotate_run(run_manager, ctx.tags)
        return ChatResult(generations=[ChatGeneration(message=message)])

    # -- sync -----------------------------------------------------------------------------
    def _upstream(
        self, ctx: _Ctx, stop: list[str] | None, run_manager: Any, kwargs: dict[str, Any]
    ) -> AIMessage:
        inner, model, provider = self.inner, ctx.model, ctx.provider
        state = self.retry.state(ctx.task_id) if self.retry is not None else None
        while True:
            if self.breaker is not None:
                try:
                    ctx.tags["breaker.state"] = self.breaker.check(model).value
                except CircuitOpenError:
                    ctx.tags["breaker.state"] = "open"
                    raise
            reservation = None
            if self.guard is not None:
                decision = self.guard.try_reserve(self._request(ctx, model, provider))
                if isinstance(decision, Downgrade):
                    inner, model, provider = self._pick_downgrade(decision, ctx)
                    continue
                reservation = decision
            call_kwargs = dict(kwargs)
            cap = reservation.max_output_tokens if reservation is not None else ctx.max_tokens
            if cap is not None:
                call_kwargs["max_tokens"] = cap
            try:
                result = inner._generate(ctx.messages, stop=stop, run_manager=run_manager, **call_kwargs)
            except (BudgetExceeded, CircuitOpenError):
                raise
            except Exception:
                if reservation is not None:
                    reservation.release()
                if self.breaker is not None:
                    self.breaker.record_failure(model)
                if state is not None and self.retry is not None:
                    self.retry.record(state, self._failed_cost(model, provider, ctx))
                    ctx.tags.update(state.tags())
                    worst = reservation.worst_usd if reservation is not None else 0.0
                    if self.retry.can_retry(state, worst):
                        time.sleep(self.retry.delay(state))
                        continue
                raise
            message = result.generations[0].message
            assert isinstance(message, AIMessage)
            usage, cost = self._finish(ctx, message, model, provider)
            if reservation is not None:
                if cost < 0:
                    cost = reservation.worst_usd
                reservation.settle(cost, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
                ctx.tags.update(reservation.tags())
            if self.breaker is not None:
                self.breaker.record_success(model)
                ctx.tags["breaker.state"] = "closed"
            if state is not None and self.retry is not None:
                self.retry.record(state, max(cost, 0.0))
                ctx.tags.update(state.tags())
            return message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        ctx = self._prepare(messages, run_manager, kwargs, stop)
        try:
            if ctx.key is not None and self.dedup is not None:
                if isinstance(self.dedup, RedisSingleFlight):
                    flight = self.dedup.do(
                        ctx.key,
                        lambda: self._upstream(ctx, stop, run_manager, kwargs),
                        dumps=_dump,
                        loads=_load,
                    )
                else:
                    flight = self.dedup.do(ctx.key, lambda: self._upstream(ctx, stop, run_manager, kwargs))
                message = self._shared(flight.value, flight.source, ctx)
            else:
                message = self._upstream(ctx, stop, run_manager, kwargs)
        finally:
            annotate_run(run_manager, ctx.tags)
        return ChatResult(generations=[ChatGeneration(message=message)])

    # -- streaming ------------------------------------------------------------------------
    # stream() / astream(): trim, breaker, reserve before the first chunk; settle on the
    # usage aggregated from the chunks (usage_metadata, usually on the last one); on an
    # error or a consumer that stops early, settle what was streamed so far (counted) or
    # release the hold if nothing was. A failure before the first chunk is retried within
    # ``retry``. Streams are not deduplicated (each caller wants its own token stream).
    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:  # type: ignore[override]
        config, kwargs[_STREAM_KEY] = _stream_run(self, config)
        yield from super().stream(input, config, stop=stop, **kwargs)

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:  # type: ignore[override]
        config, kwargs[_STREAM_KEY] = _stream_run(self, config)
        async for chunk in super().astream(input, config, stop=stop, **kwargs):
            yield chunk

    def _should_stream(self, *, async_api: bool, run_manager: Any = None, **kwargs: Any) -> bool:
        # Only an explicit stream()/astream() streams: invoke() keeps dedup and retries even
        # when a streaming callback handler is attached.
        if not kwargs.get("stream"):
            return False
        inner_sync = type(self.inner)._stream is not BaseChatModel._stream
        inner_async = type(self.inner)._astream is not BaseChatModel._astream
        return (inner_sync or inner_async) if async_api else inner_sync

    def _breaker_check(self, ctx: _Ctx, model: str) -> None:
        if self.breaker is None:
            return
        try:
            ctx.tags["breaker.state"] = self.breaker.check(model).value
        except CircuitOpenError:
            ctx.tags["breaker.state"] = "open"
            raise

    def _partial_usage(self, ctx: _Ctx, aggregate: AIMessageChunk | None, model: str) -> TokenUsage | None:
        if aggregate is None:
            return None
        usage = usage_of_message(aggregate)  # type: ignore[arg-type]
        if usage is not None:
            return usage
        from ..tokens import default_counter

        text = aggregate.text
        out = default_counter().count_text(text, model).tokens if text else 0
        return TokenUsage(input_tokens=ctx.input_tokens, output_tokens=out)

    def _stream_ended(
        self,
        ctx: _Ctx,
        reservation: Any,
        aggregate: AIMessageChunk | None,
        model: str,
        provider: str | None,
        error: BaseException | None,
    ) -> None:
        """Settle (or release) a stream's reservation and record the outcome on the breaker."""
        if error is None:
            assert aggregate is not None
            usage, cost = self._finish(ctx, aggregate, model, provider)  # type: ignore[arg-type]
            if reservation is not None:
                reservation.settle(
                    reservation.worst_usd if cost < 0 else cost,
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                )
                ctx.tags.update(reservation.tags())
            if self.breaker is not None:
                self.breaker.record_success(model)
                ctx.tags["breaker.state"] = "closed"
            return
        cancelled = isinstance(error, (GeneratorExit, asyncio.CancelledError, KeyboardInterrupt))
        ctx.tags["stream.outcome"] = "cancelled" if cancelled else "error"
        usage = self._partial_usage(ctx, aggregate, model)
        if reservation is not None:
            if usage is None:
                reservation.release()
            else:
                # Tokens already streamed are billed by the provider: keep them, free the rest.
                try:
                    cost = self.guard.cost_of(usage, model, provider) if self.guard is not None else 0.0
                except Exception:
                    cost = reservation.worst_usd
                reservation.settle(cost, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
                ctx.tags["stream.partial_output_tokens"] = str(usage.output_tokens)
            ctx.tags.update(reservation.tags())
        if self.breaker is not None and not cancelled:
            self.breaker.record_failure(model)

    def _stream_hold(
        self, ctx: _Ctx, decision: Any, inner: BaseChatModel, model: str, provider: str | None
    ) -> tuple[BaseChatModel, str, str | None, Any, bool]:
        """``(inner, model, provider, reservation, again)`` after a reserve attempt;
        ``again`` when a downgrade switched the model and the reserve must be redone."""
        if isinstance(decision, Downgrade):
            inner, model, provider = self._pick_downgrade(decision, ctx)
            return inner, model, provider, None, True
        return inner, model, provider, decision, False

    def _stream_start(
        self, messages: list[BaseMessage], run_manager: Any, kwargs: dict[str, Any], stop: list[str] | None
    ) -> tuple[Any, _Ctx, Any]:
        shim = kwargs.pop(_STREAM_KEY, None)
        run = run_manager if run_manager is not None else shim  # metadata, run id, handlers
        ctx = self._prepare(messages, run, kwargs, stop)
        return run, ctx, self.retry.state(ctx.task_id) if self.retry is not None else None

    def _stream_kwargs(self, ctx: _Ctx, reservation: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        call_kwargs = dict(kwargs)
        cap = reservation.max_output_tokens if reservation is not None else ctx.max_tokens
        if cap is not None:
            call_kwargs["max_tokens"] = cap
        return call_kwargs

    def _stream_failed(
        self,
        ctx: _Ctx,
        state: Any,
        reservation: Any,
        aggregate: AIMessageChunk | None,
        model: str,
        provider: str | None,
        error: BaseException,
    ) -> float | None:
        """Settle / release after a failed stream; the delay before a retry, or None to raise."""
        self._stream_ended(ctx, reservation, aggregate, model, provider, error)
        if (
            aggregate is not None
            or state is None
            or self.retry is None
            or not isinstance(error, Exception)
            or isinstance(error, (BudgetExceeded, CircuitOpenError))
        ):
            return None  # chunks already reached the caller: a retry would repeat them
        self.retry.record(state, self._failed_cost(model, provider, ctx))
        ctx.tags.update(state.tags())
        if self.retry.can_retry(state, reservation.worst_usd if reservation is not None else 0.0):
            return self.retry.delay(state)
        return None

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        run, ctx, state = self._stream_start(messages, run_manager, kwargs, stop)
        inner, model, provider = self.inner, ctx.model, ctx.provider
        try:
            while True:
                self._breaker_check(ctx, model)
                decision = self.guard.try_reserve(self._request(ctx, model, provider)) if self.guard else None
                inner, model, provider, reservation, again = self._stream_hold(
                    ctx, decision, inner, model, provider
                )
                if again:
                    continue
                aggregate: AIMessageChunk | None = None
                try:
                    for chunk in inner._stream(
                        ctx.messages,
                        stop=stop,
                        run_manager=run_manager,
                        **self._stream_kwargs(ctx, reservation, kwargs),
                    ):
                        aggregate = _add_chunk(aggregate, chunk)
                        yield chunk
                except BaseException as exc:
                    delay = self._stream_failed(ctx, state, reservation, aggregate, model, provider, exc)
                    if delay is None:
                        raise
                    time.sleep(delay)
                    continue
                self._stream_ended(
                    ctx, reservation, aggregate or AIMessageChunk(content=""), model, provider, None
                )
                return
        finally:
            annotate_run(run, ctx.tags)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        run, ctx, state = self._stream_start(messages, run_manager, kwargs, stop)
        inner, model, provider = self.inner, ctx.model, ctx.provider
        try:
            while True:
                self._breaker_check(ctx, model)
                decision = (
                    await self.guard.atry_reserve(self._request(ctx, model, provider)) if self.guard else None
                )
                inner, model, provider, reservation, again = self._stream_hold(
                    ctx, decision, inner, model, provider
                )
                if again:
                    continue
                aggregate: AIMessageChunk | None = None
                try:
                    async for chunk in inner._astream(
                        ctx.messages,
                        stop=stop,
                        run_manager=run_manager,
                        **self._stream_kwargs(ctx, reservation, kwargs),
                    ):
                        aggregate = _add_chunk(aggregate, chunk)
                        yield chunk
                except BaseException as exc:
                    # Settled / released synchronously: no await while being closed or cancelled.
                    delay = self._stream_failed(ctx, state, reservation, aggregate, model, provider, exc)
                    if delay is None:
                        raise
                    await asyncio.sleep(delay)
                    continue
                self._stream_ended(
                    ctx, reservation, aggregate or AIMessageChunk(content=""), model, provider, None
                )
                return
        finally:
            annotate_run(run, ctx.tags)

    def _shared(self, message: AIMessage, source: str, ctx: _Ctx) -> AIMessage:
        ctx.tags["dedup.source"] = source
        assert ctx.key is not None
        ctx.tags["dedup.key"] = ctx.key[:40]
        if source == "leader":
            return message
        # Same answer, marked so the cost handler records it as deduplicated: cost 0,
        # saved = the price of the shared call's usage.
        copy = message.model_copy(deep=True)
        copy.response_metadata = {**copy.response_metadata, CACHE_MARKER_KEY: {"status": "deduplicated"}}
        return copy
