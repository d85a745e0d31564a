"""Spend guardrails around LiteLLM calls: reserve before, settle after, release on error.

Two ways in:

* SDK: :func:`guarded_completion` / :func:`aguarded_completion` wrap
  ``litellm.completion`` / ``acompletion``. A LiteLLM callback cannot veto an SDK call
  (LiteLLM swallows exceptions raised in logging hooks), so the guard sits around it.
* Proxy: :class:`~llm_cost_hooks.litellm.CostHooksLogger` with ``guard=`` reserves in
  ``async_pre_call_hook`` (an exception there rejects the request with its message) and
  settles or releases from the success / failure events.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Generator, Iterable, Iterator, Mapping
from typing import Any, cast

import litellm

from .._errors import BudgetExceeded, SpendStoreUnavailable
from .._records import TokenUsage
from ..budget import SpendGuard, SpendRequest
from ..budget._call import (
    Attempt,
    Attribution,
    GuardedCall,
    aguarded_call,
    aguarded_stream,
    guarded_call,
    guarded_stream,
)
from ..budget._requests import (
    apply_output_cap,
    guarded_call_of,
    refusal_of,
    settled_by,
    settled_elsewhere,
    spend_request,
    warn_pre_call_skipped,
)
from ._prepare import split_model
from ._state import _MODEL_CALL_TYPES, _metadata_of
from ._usage import usage_from_litellm

__all__ = ["aguarded_completion", "guarded_completion", "proxy_refusal", "spend_request_for"]


def spend_request_for(
    model: str,
    messages: Any,
    kwargs: Mapping[str, Any],
    metadata: Mapping[str, Any] | None = None,
    *,
    input_tokens: int | None = None,
    recorders: Iterable[Any] = (),
) -> SpendRequest:
    """The :class:`~llm_cost_hooks.budget.SpendRequest` of a LiteLLM call: the prompt's
    counted tokens (``input_tokens`` when already counted), its ``max_tokens`` and the
    attribution in ``metadata`` (naming no tenant: the tenant the ``recorders``, cost
    loggers, record it under, else ``LLM_COST_HOOKS_DEFAULT_TENANT``)."""
    name, provider = split_model(model, kwargs.get("custom_llm_provider"))
    return spend_request(
        name, provider, messages, kwargs, metadata, input_tokens=input_tokens, recorders=recorders
    )


def _capped(kwargs: dict[str, Any], attempt: Attempt[str]) -> dict[str, Any]:
    if attempt.reservation is not None:
        apply_output_cap(kwargs, attempt.reservation)
    return kwargs


def _usage(response: Any, attempt: Attempt[str]) -> TokenUsage | None:
    # None (e.g. a stream's wrapper): the worst case stays charged, nothing is lost.
    return usage_from_litellm(getattr(response, "usage", None))


_END = object()


def _add_chunk(aggregate: list[Any] | None, chunk: Any) -> list[Any]:
    """``[usage reported so far, streamed text pieces]``: the last chunk carries the usage
    when ``stream_options={"include_usage": True}``; otherwise the text is counted."""
    if aggregate is None:
        aggregate = [None, []]
    usage = usage_from_litellm(getattr(chunk, "usage", None))
    if usage is not None:
        aggregate[0] = usage
    choices = getattr(chunk, "choices", None) or []
    piece = getattr(getattr(choices[0], "delta", None), "content", None) if choices else None
    if piece:
        aggregate[1].append(piece)
    return aggregate


def _stream_usage(call: GuardedCall[str]) -> Any:
    def usage(aggregate: list[Any] | None, attempt: Attempt[str]) -> TokenUsage | None:
        if aggregate is None:
            return None
        return call.usage_or_counted(aggregate[0], "".join(aggregate[1]), attempt)

    return usage


def _primed(first: Any, rest: Generator[Any, None, None]) -> Iterator[Any]:
    # Closing this (or stopping early) closes the guarded stream: it settles what was streamed.
    try:
        if first is not _END:
            yield first
            yield from rest
    finally:
        rest.close()


async def _aprimed(first: Any, rest: Any) -> AsyncIterator[Any]:
    try:
        if first is not _END:
            yield first
            async for chunk in rest:
                yield chunk
    finally:
        await rest.aclose()


class _RecordedCall(GuardedCall[str]):
    """A guarded call whose refusals are recorded: a refusal happens before LiteLLM sees the
    call, so no logger of ours hears of it from LiteLLM."""

    __slots__ = ("kwargs",)
    kwargs: dict[str, Any]

    def begin(self) -> Attempt[str]:
        try:
            return super().begin()
        except (BudgetExceeded, SpendStoreUnavailable) as exc:
            _record_refusal(self.kwargs, exc)
            raise

    async def abegin(self) -> Attempt[str]:
        try:
            return await super().abegin()
        except (BudgetExceeded, SpendStoreUnavailable) as exc:
            _record_refusal(self.kwargs, exc)
            raise


def _call(guard: SpendGuard, kwargs: dict[str, Any]) -> Any:
    name, provider = split_model(kwargs["model"], kwargs.get("custom_llm_provider"))
    call = cast(
        _RecordedCall, guarded_call_of(guard, kwargs, name, provider, _RecordedCall, _loggers(kwargs))
    )
    call.kwargs = kwargs
    return call


def _loggers(kwargs: Mapping[str, Any]) -> list[Any]:
    """The :class:`CostHooksLogger` s that record a call (in ``litellm.callbacks`` or the
    call's ``callbacks=``), in that order."""
    from ._logger import CostHooksLogger

    listed = litellm.callbacks if isinstance(litellm.callbacks, list) else []
    per_call = kwargs.get("callbacks")
    loggers: list[CostHooksLogger] = []
    for cb in [*listed, *(per_call if isinstance(per_call, list) else [])]:
        if isinstance(cb, CostHooksLogger) and not any(cb is seen for seen in loggers):
            loggers.append(cb)
    return loggers


def _record_refusal(kwargs: Mapping[str, Any], error: BaseException) -> None:
    """A $0 failed record of a refused call in each :class:`CostHooksLogger` that would
    have recorded it (in ``litellm.callbacks`` or the call's ``callbacks=``), as the logger
    records the refusals of its own guard. None: only the raised error (and the guard's
    alerts) says it."""
    loggers = _loggers(kwargs)
    if not loggers:
        return
    metadata = kwargs.get("metadata")
    # Its own id: a retry refused after a failed attempt is another call than that attempt.
    call_id = str(kwargs.get("litellm_call_id") or uuid.uuid4())
    for cost_logger in loggers:
        cost_logger._record_refusal(
            call_id, error, str(kwargs["model"]), metadata if isinstance(metadata, Mapping) else {}
        )


def guarded_completion(guard: SpendGuard, **kwargs: Any) -> Any:
    """``litellm.completion(**kwargs)`` under ``guard``: raises
    :class:`~llm_cost_hooks.BudgetExceeded` before any provider call when a limit would be
    broken; otherwise settles the real cost (or releases the hold if the call fails). With
    ``stream=True`` it returns an iterator of the chunks, settled on what was streamed when
    it ends, fails or is closed (``close()`` it when you stop reading early).

    >>> from llm_cost_hooks.budget import Limit, SpendGuard, AlertManager
    >>> guard = SpendGuard([Limit.usd(1.0, per="day")], alerts=AlertManager(log=False))
    >>> r = guarded_completion(guard, model="gpt-4o-mini", max_tokens=50, mock_response="hi",
    ...     messages=[{"role": "user", "content": "hello"}], metadata={"tenant_id": "acme"})
    >>> r.choices[0].message.content
    'hi'
    """
    call = _call(guard, kwargs)

    def send(a: Attempt[str]) -> Any:
        with settled_by(guard):  # a logger with this guard does not charge it again
            return litellm.completion(**_capped(kwargs, a))

    if kwargs.get("stream"):
        # Settled on what the stream delivered (its usage chunk, else the counted text) when
        # it ends, fails or is closed early; reserved and sent now, so a refusal raises here.
        call.stream = True
        chunks = guarded_stream(call, send, _add_chunk, _stream_usage(call))
        return _primed(next(chunks, _END), chunks)
    return guarded_call(call, send, _usage)


async def aguarded_completion(guard: SpendGuard, **kwargs: Any) -> Any:
    """Async :func:`guarded_completion` over ``litellm.acompletion``; a stream is an async
    iterator (``aclose()`` it when you stop early: what was streamed is settled at once).

    >>> import asyncio
    >>> from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard
    >>> guard = SpendGuard([Limit.usd(1.0, per="day")], alerts=AlertManager(log=False))
    >>> r = asyncio.run(aguarded_completion(guard, model="gpt-4o-mini", max_tokens=50, mock_response="hi",
    ...     messages=[{"role": "user", "content": "hello"}], metadata={"tenant_id": "acme"}))
    >>> r.choices[0].message.content, guard.spent(guard.limits[0], "acme")
    ('hi', 1.35e-05)
    """
    call = _call(guard, kwargs)
    if kwargs.get("stream"):
        call.stream = True

        async def perform(a: Attempt[str]) -> AsyncIterator[Any]:
            with settled_by(guard):  # a logger with this guard does not reserve it again
                stream = await litellm.acompletion(**_capped(kwargs, a))
            async for chunk in stream:
                yield chunk

        chunks = aguarded_stream(call, perform, _add_chunk, _stream_usage(call))
        return _aprimed(await anext(chunks, _END), chunks)

    async def send(a: Attempt[str]) -> Any:
        with settled_by(guard):
            return await litellm.acompletion(**_capped(kwargs, a))

    return await aguarded_call(call, send, _usage)


def proxy_refusal(error: BaseException, *, now: float | None = None) -> Exception | None:
    """The LiteLLM proxy error for one of our refusals, answered the way LiteLLM answers
    its own: a ``ProxyException`` with the OpenAI error body (``message``, ``type``,
    ``param``, ``code``) and the HTTP status in ``code``. ``None`` for anything else.

    * a spend or token limit (:class:`~llm_cost_hooks.BudgetExceeded`): LiteLLM's budget
      status (``litellm.budget_exceeded_status_code``, 422 unless configured), type
      ``budget_exceeded``, ``Retry-After`` = seconds until the period resets;
    * a context budget that cannot be met (a segment over budget with ``oversize="raise"``):
      400, type ``invalid_request_error``, ``param`` ``messages`` (waiting does not help);
    * an open circuit (:class:`~llm_cost_hooks.dedup.CircuitOpenError`): 429, type
      ``rate_limit_error``, ``Retry-After`` = seconds until a probe is allowed;
    * an unreachable spend store with ``fail_mode="closed"``: 503, ``Retry-After: 1``.

    Every refusal carries ``x-should-retry: false``: the OpenAI client would otherwise
    repeat it at once; ``Retry-After`` says when trying again can help.

    >>> from llm_cost_hooks import BudgetExceeded
    >>> proxy_refusal(BudgetExceeded("daily", limit=1.0, spent=1.0, requested=0.1)).type
    'budget_exceeded'
    """
    from litellm.proxy._types import ProxyException

    status = int(getattr(litellm, "budget_exceeded_status_code", 429))
    refusal = refusal_of(error, budget_status=status, now=now)
    if refusal is None:
        return None
    return ProxyException(**dataclasses.asdict(refusal))  # the same field names


def charge_after(cl: Any, kwargs: Any, *, at_end: bool = False) -> None:
    """From ``log_pre_api_call``, on the caller's thread before a request is sent: a sync
    call (``litellm.completion``, the sync ``Router``, ``text_completion``, ``embedding``)
    that holds nothing on the logger's guard is charged its recorded cost when it ends
    (nothing if it fails, its delivered part if a stream is let go). LiteLLM catches what
    this hook raises, so the call itself cannot be refused; the limit refuses the calls
    that reserve (``cost_logger.completion``, ``acompletion``) once the spend is counted.
    ``at_end``: from a sync success event, for a call that had no pre-call event (LiteLLM
    sends none for some mocked calls); a cache hit is charged nothing."""
    guard = cl.guard
    call_id = kwargs.get("litellm_call_id") if guard is not None and isinstance(kwargs, Mapping) else None
    params = kwargs.get("litellm_params") if call_id else None
    if not call_id or (isinstance(params, Mapping) and params.get("acompletion")):
        return  # no guard, or an async call: its pre-call hook reserved
    call_id = str(call_id)
    run_id = cl._open.get(call_id)  # opened by _on_pre for model calls only
    if at_end:
        kind = kwargs.get("call_type")
        if run_id is not None or call_id in cl._done or kwargs.get("cache_hit"):
            return  # decided at its pre-call event; or a duplicate event, or a cache hit
        if str(getattr(kind, "value", kind)) not in _MODEL_CALL_TYPES:
            return
    elif run_id is None:
        return
    if call_id in cl._prepared or call_id in cl.holds or settled_elsewhere(guard):
        return  # cost_logger.completion or guarded_completion holds it already
    cl.holds.charge_after(call_id, guard, Attribution.of(_metadata_of(kwargs), recorders=[cl]))
    tags = {"budget.charged": "after_call"}
    if run_id is not None:
        cl.tracker.annotate(run_id, tags)
    else:  # the run opens with the success event
        cl._pending_tags[call_id] = {**cl._pending_tags.get(call_id, {}), **tags}


def warn_if_unprepared(cl: Any, kwargs: Any) -> None:
    """At a sync call's end (LiteLLM sends sync events for sync calls only): a call that did
    not come through ``cost_logger.completion`` skipped the pre-call work; what it did not
    get is said once."""
    call_id = kwargs.get("litellm_call_id") if isinstance(kwargs, Mapping) else None
    if cl._unprepared_warned or not cl._has_pre_call_work or not call_id or kwargs.get("cache_hit"):
        return
    if str(call_id) not in cl._prepared:
        cl._unprepared_warned = True
        warn_pre_call_skipped(
            guard=cl.guard, context_budget=cl.context_budget, prompt_cache=cl.prompt_cache, dedup=cl.dedup
        )
