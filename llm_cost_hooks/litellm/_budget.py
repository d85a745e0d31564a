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

import logging
from collections.abc import Mapping
from typing import Any

import litellm

from .._errors import UnknownModelError
from ..budget import SpendGuard, SpendRequest
from ._prepare import split_model
from ._usage import usage_from_litellm

__all__ = ["aguarded_completion", "guarded_completion", "proxy_refusal", "spend_request_for"]

logger = logging.getLogger("llm_cost_hooks")


def _count_input(messages: Any, model: str) -> int:
    from ..tokens import default_counter

    try:
        return int(default_counter().count_messages(list(messages or []), model).tokens)
    except Exception:
        return 0


def spend_request_for(
    model: str,
    messages: Any,
    kwargs: Mapping[str, Any],
    metadata: Mapping[str, Any] | None = None,
    *,
    input_tokens: int | None = None,
) -> SpendRequest:
    """The :class:`~llm_cost_hooks.budget.SpendRequest` of a LiteLLM call: the prompt's
    counted tokens (``input_tokens`` when already counted), its ``max_tokens`` and the
    attribution in ``metadata``."""
    name, provider = split_model(model, kwargs.get("custom_llm_provider"))
    md = metadata or {}
    max_out = kwargs.get("max_tokens") or kwargs.get("max_completion_tokens")
    return SpendRequest(
        model=name,
        provider=provider,
        input_tokens=_count_input(messages, name) if input_tokens is None else int(input_tokens),
        max_output_tokens=int(max_out) if max_out else None,
        tenant=_s(md.get("tenant_id") or md.get("tenant")),
        feature=_s(md.get("feature")),
        route=_s(md.get("route")),
        user=_s(md.get("user_id") or md.get("user")),
    )


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def _apply_cap(kwargs: dict[str, Any], reservation: Any) -> None:
    # A shrink_output policy may have lowered the output cap: send the lowered cap.
    cap = reservation.max_output_tokens
    current = kwargs.get("max_tokens") or kwargs.get("max_completion_tokens")
    if cap and (current is None or cap < int(current)):
        key = "max_completion_tokens" if "max_completion_tokens" in kwargs else "max_tokens"
        kwargs[key] = int(cap)


def _settle(guard: SpendGuard, reservation: Any, response: Any, req: SpendRequest) -> None:
    usage = usage_from_litellm(getattr(response, "usage", None))
    if usage is None:  # e.g. a stream: the worst case stays charged, nothing is lost
        reservation.settle(reservation.worst_usd)
        return
    cost = guard.cost_of(usage, req.model, req.provider)
    reservation.settle(cost, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)


def guarded_completion(guard: SpendGuard, **kwargs: Any) -> Any:
    """``litellm.completion(**kwargs)`` under ``guard``: raises
    :class:`~llm_cost_hooks.BudgetExceeded` before any provider call when a limit would be
    broken; otherwise settles the real cost (or releases the hold if the call fails).

    >>> from llm_cost_hooks.budget import Limit, SpendGuard, AlertManager
    >>> guard = SpendGuard([Limit.usd(1.0, per="day")], alerts=AlertManager(log=False))
    >>> r = guarded_completion(guard, model="gpt-4o-mini", max_tokens=50, mock_response="hi",
    ...     messages=[{"role": "user", "content": "hello"}], metadata={"tenant_id": "acme"})
    >>> r.choices[0].message.content
    'hi'
    """
    req = spend_request_for(kwargs["model"], kwargs.get("messages"), kwargs, kwargs.get("metadata"))
    try:
        reservation = guard.reserve(req)
    except UnknownModelError:
        logger.warning("llm-cost-hooks: no price for %r; call not budget-checked", req.model)
        return litellm.completion(**kwargs)
    _apply_cap(kwargs, reservation)
    try:
        response = litellm.completion(**kwargs)
    except BaseException:
        reservation.release()
        raise
    _settle(guard, reservation, response, req)
    return response


async def aguarded_completion(guard: SpendGuard, **kwargs: Any) -> Any:
    """Async :func:`guarded_completion` over ``litellm.acompletion``."""
    req = spend_request_for(kwargs["model"], kwargs.get("messages"), kwargs, kwargs.get("metadata"))
    try:
        reservation = await guard.areserve(req)
    except UnknownModelError:
        logger.warning("llm-cost-hooks: no price for %r; call not budget-checked", req.model)
        return await litellm.acompletion(**kwargs)
    _apply_cap(kwargs, reservation)
    try:
        response = await litellm.acompletion(**kwargs)
    except BaseException:
        reservation.release()
        raise
    _settle(guard, reservation, response, req)
    return response


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
    import time

    from litellm.proxy._types import ProxyException

    from .._errors import BudgetExceeded
    from ..budget import SpendStoreUnavailable
    from ..dedup import CircuitOpenError

    headers = {"x-should-retry": "false"}
    if isinstance(error, BudgetExceeded):
        if error.limit_name.startswith("context."):
            return ProxyException(
                message=str(error),
                type="invalid_request_error",
                param="messages",
                code=400,
                headers=headers,
                openai_code="context_budget_exceeded",
            )
        if error.resets_at is not None:
            wait = error.resets_at.timestamp() - (time.time() if now is None else now)
            headers["retry-after"] = str(max(int(wait) + 1, 1))
        return ProxyException(
            message=str(error),
            type="budget_exceeded",
            param=None,
            code=int(getattr(litellm, "budget_exceeded_status_code", 429)),
            headers=headers,
        )
    if isinstance(error, CircuitOpenError):
        headers["retry-after"] = str(max(int(error.retry_in) + 1, 1))
        return ProxyException(
            message=str(error), type="rate_limit_error", param=None, code=429, headers=headers
        )
    if isinstance(error, SpendStoreUnavailable):
        headers["retry-after"] = "1"
        return ProxyException(
            message=str(error), type="service_unavailable", param=None, code=503, headers=headers
        )
    return None
