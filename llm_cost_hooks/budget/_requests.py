"""Budgets applied to an OpenAI-shaped chat request (``model``, ``messages``, ``tools``,
``max_tokens`` / ``max_completion_tokens``, ``metadata``), framework-free.

What an adapter that sees requests as such dicts (the LiteLLM one) does before and after a
call: fit the request into its context budget and place prompt-cache breakpoints
(:func:`fit_request`), describe its worst case to a spend guard (:func:`spend_request`,
:func:`guarded_call_of`), send the output cap a policy lowered (:func:`apply_output_cap`),
keep each call's hold until its end event (:class:`Holds`) and describe a refusal as an
HTTP error (:func:`refusal_of`). The adapter supplies the model name and provider, already
split (only it knows its framework's provider prefixes).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ConfigDict, Field

from .._errors import BudgetExceeded, CircuitOpenError, ConfigurationError, SpendStoreUnavailable
from .._options import ConfigModel
from .._records import TokenUsage
from ._call import Attribution, GuardedCall, Target
from ._guard import SpendGuard
from ._limits import SpendRequest

__all__ = [
    "Holds",
    "PreparedRequest",
    "PromptCacheOptions",
    "Refusal",
    "Unreserved",
    "apply_output_cap",
    "check_hook_options",
    "coerce_prompt_cache",
    "count_input",
    "fit_request",
    "guarded_call_of",
    "max_output_tokens",
    "refusal_of",
    "settled_by",
    "settled_elsewhere",
    "spend_request",
]

logger = logging.getLogger("llm_cost_hooks")


class PromptCacheOptions(ConfigModel):
    """How the LiteLLM hooks place ``cache_control`` breakpoints
    (:func:`~llm_cost_hooks.prompt_cache.add_cache_breakpoints` options).

    ``CostHooksLogger(prompt_cache=True)`` uses the defaults; models that cache on
    their own (OpenAI, Gemini, DeepSeek) are left untouched whatever the options.

    >>> PromptCacheOptions(ttl="1h").ttl
    '1h'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ttl: Literal["5m", "1h"] | None = None
    max_breakpoints: int | None = Field(default=None, ge=0)
    min_tokens: int | None = Field(default=None, ge=0)
    cache_documents: bool = True


@dataclass
class PreparedRequest:
    """What :func:`fit_request` did to one request: the record tags (tokens trimmed
    per segment, output clamp, breakpoints placed) and the underlying results."""

    tags: dict[str, str] = field(default_factory=dict)
    trim: Any = None  # budget.TrimResult
    breakpoints: Any = None  # prompt_cache.BreakpointReport


def coerce_prompt_cache(value: Any) -> PromptCacheOptions | None:
    """``prompt_cache=`` of the logger: False/None (off), True (defaults), a dict or options."""
    if value is None or value is False:
        return None
    if value is True:
        return PromptCacheOptions()
    if isinstance(value, PromptCacheOptions):
        return value
    if isinstance(value, Mapping):
        return PromptCacheOptions(**value)
    raise ConfigurationError(
        f"prompt_cache must be True/False, a dict of options or PromptCacheOptions; got {type(value).__name__}."
    )


def check_hook_options(*, guard: Any = None, context_budget: Any = None) -> None:
    """Refuse, at construction, a ``guard=`` or ``context_budget=`` the pre-call hooks could
    not use: the mistake would otherwise surface as an ``AttributeError`` in every call."""
    if guard is not None and not callable(getattr(guard, "atry_reserve", None)):
        raise ConfigurationError(
            f"guard must be a SpendGuard (llm_cost_hooks.budget.SpendGuard([Limit...])), got "
            f"{type(guard).__name__}."
        )
    if context_budget is not None and not callable(getattr(context_budget, "apply_request", None)):
        raise ConfigurationError(
            "context_budget must be a ContextBudget (llm_cost_hooks.budget.ContextBudget({route: "
            f"SegmentBudgets(...)}})), got {type(context_budget).__name__}."
        )


def fit_request(
    kwargs: dict[str, Any],
    name: str,
    provider: str | None,
    *,
    metadata: Mapping[str, Any] | None = None,
    context_budget: Any = None,
    prompt_cache: PromptCacheOptions | None = None,
    price_book: Any = None,
) -> PreparedRequest:
    """Fit ``kwargs`` (changed in place) into the route's
    :class:`~llm_cost_hooks.budget.ContextBudget`, then place prompt-cache breakpoints on
    the trimmed request; ``name`` / ``provider`` is the model it goes to."""
    out = PreparedRequest()
    messages = kwargs.get("messages")
    if not isinstance(messages, list) or not messages:
        return out
    route = (metadata or {}).get("route")
    route = None if route is None else str(route)
    covers = getattr(context_budget, "covers", None)
    if context_budget is not None and (covers is None or covers(route)):
        key = "max_completion_tokens" if kwargs.get("max_completion_tokens") is not None else "max_tokens"
        requested = kwargs.get(key)
        try:
            result = context_budget.apply(
                messages,
                route=route,
                max_tokens=int(requested) if requested is not None else None,
                model=name or None,
            )
        except BudgetExceeded:
            raise
        except ConfigurationError as exc:
            # An unknown route / malformed message is the caller's to fix, but never a
            # reason to break the call: send it untrimmed and say why.
            logger.warning("llm-cost-hooks: request not fitted to its context budget: %s", exc)
        else:
            kwargs["messages"] = messages = result.messages
            if result.max_tokens is not None:
                kwargs[key] = result.max_tokens
            out.trim = result
            out.tags.update(result.tags())
    if prompt_cache is not None and name:
        _place_breakpoints(kwargs, messages, name, provider, prompt_cache, price_book, out)
    return out


def _place_breakpoints(
    kwargs: dict[str, Any],
    messages: list[Any],
    name: str,
    provider: str | None,
    options: PromptCacheOptions,
    price_book: Any,
    out: PreparedRequest,
) -> None:
    # A failure here is logged and the request goes out unmarked.
    try:
        from ..prompt_cache import add_cache_breakpoints

        tools = kwargs.get("tools")
        new_messages, new_tools, report = add_cache_breakpoints(
            messages,
            tools if isinstance(tools, list) else None,
            name,
            provider=provider,
            ttl=options.ttl,
            max_breakpoints=options.max_breakpoints,
            min_tokens=options.min_tokens,
            cache_documents=options.cache_documents,
            price_book=price_book,
        )
    except Exception as exc:
        logger.warning(
            "llm-cost-hooks: prompt-cache breakpoints not placed (%s: %s)", type(exc).__name__, exc
        )
        return
    out.breakpoints = report
    if report.breakpoints:
        kwargs["messages"] = new_messages
        if new_tools is not None and isinstance(tools, list):
            kwargs["tools"] = new_tools
        out.tags["prompt_cache.breakpoints"] = ",".join(b.segment for b in report.breakpoints)
        out.tags["prompt_cache.cacheable_tokens"] = str(report.cacheable_tokens)


# -- spend guard -----------------------------------------------------------------------------
def count_input(messages: Any, model: str) -> int:
    """The prompt tokens of ``messages`` by the default counter (0 when they cannot be counted)."""
    from ..tokens import default_counter

    try:
        return int(default_counter().count_messages(list(messages or []), model).tokens)
    except Exception:
        return 0


def max_output_tokens(kwargs: Mapping[str, Any]) -> int | None:
    """The request's output cap (``max_tokens`` or ``max_completion_tokens``)."""
    max_out = kwargs.get("max_tokens") or kwargs.get("max_completion_tokens")
    return int(max_out) if max_out else None


def spend_request(
    name: str,
    provider: str | None,
    messages: Any,
    kwargs: Mapping[str, Any],
    metadata: Mapping[str, Any] | None = None,
    *,
    input_tokens: int | None = None,
    recorders: Iterable[Any] = (),
) -> SpendRequest:
    """The :class:`~llm_cost_hooks.budget.SpendRequest` of a request: the prompt's counted
    tokens (``input_tokens`` when already counted), its output cap and the attribution in
    ``metadata`` (naming no tenant: the tenant ``recorders`` record it under)."""
    return SpendRequest(
        model=name,
        provider=provider,
        input_tokens=count_input(messages, name) if input_tokens is None else int(input_tokens),
        max_output_tokens=max_output_tokens(kwargs),
        **Attribution.of(metadata or {}, recorders=recorders)._asdict(),
    )


def guarded_call_of(
    guard: SpendGuard,
    kwargs: Mapping[str, Any],
    name: str,
    provider: str | None,
    cls: type[GuardedCall[str]] = GuardedCall,
    recorders: Iterable[Any] = (),
) -> GuardedCall[str]:
    """The guarded call of a request (a ``cls``); a model without a price is let through
    unguarded (warned): the framework may still know it. ``recorders``: the loggers
    recording it (a request naming no tenant is charged to the tenant they record)."""
    return cls(
        Target(kwargs["model"], name, provider),
        guard=guard,
        input_tokens=count_input(kwargs.get("messages"), name),
        max_tokens=max_output_tokens(kwargs),
        scope=Attribution.of(kwargs.get("metadata") or {}, recorders=recorders),
        unpriced="allow",
    )


def apply_output_cap(kwargs: dict[str, Any], reservation: Any) -> None:
    """Send the output cap a ``shrink_output`` policy lowered (no-op otherwise)."""
    cap = reservation.max_output_tokens
    current = kwargs.get("max_tokens") or kwargs.get("max_completion_tokens")
    if cap and (current is None or cap < int(current)):
        key = "max_completion_tokens" if "max_completion_tokens" in kwargs else "max_tokens"
        kwargs[key] = int(cap)


class Unreserved:
    """A call that runs with nothing held on ``guard`` (a sync LiteLLM call: no hook can
    stop one before it runs): charged its recorded cost when it ends
    (:meth:`Holds.settle_record`), nothing if it fails. ``scope``: its attribution read
    before it was sent (the record's tenant wins)."""

    __slots__ = ("guard", "scope")

    def __init__(self, guard: SpendGuard, scope: Attribution) -> None:
        self.guard = guard
        self.scope = scope

    def charge(self, record: Any) -> Any:
        """Charge ``record``'s cost and tokens (None, a cache hit or a deduplicated answer:
        nothing was paid, nothing is charged). Returns the settled reservation, or None."""
        from .._records import CacheStatus

        if record is None or record.cache_status is not CacheStatus.MISS:
            return None
        scope = self.scope
        try:
            request = SpendRequest(
                model=record.model,
                provider=record.provider,
                input_tokens=record.input_tokens,
                max_output_tokens=record.output_tokens or None,  # an embedding has none
                tenant=record.tenant if record.tenant is not None else scope.tenant,
                feature=scope.feature,
                route=scope.route,
                user=scope.user,
            )
            return self.guard.charge(
                request, record.cost_usd, input_tokens=record.input_tokens, output_tokens=record.output_tokens
            )
        except Exception:
            # The record is written; the spend store's failure is said, never raised.
            logger.exception("llm-cost-hooks: charging the spend guard a call that ran unreserved failed")
            return None


class Holds:
    """The spend-guard holds of calls in flight, by call id: made before a call, settled or
    released by its end event (which may come on another thread). A call with nothing held
    (:class:`Unreserved`) is charged on its record instead."""

    def __init__(self) -> None:
        self._held: dict[str, Any] = {}
        self._settling: set[str] = set()  # taken off _held, being settled on the store
        self._lock = threading.Lock()

    def __contains__(self, call_id: object) -> bool:
        """Held, or being settled (``flush()`` waits for both)."""
        return call_id in self._held or call_id in self._settling

    def __len__(self) -> int:
        return len(self._held)

    def add(self, call_id: str, reservation: Any) -> None:
        with self._lock:
            self._held[call_id] = reservation

    def pop(self, call_id: str) -> Any:
        with self._lock:
            return self._held.pop(call_id, None)

    def charge_after(self, call_id: str, guard: SpendGuard, scope: Attribution) -> None:
        """Charge ``call_id``'s record to ``guard`` when it ends (nothing is held for it)."""
        self.add(call_id, Unreserved(guard, scope))

    def settle_usage(self, call_id: str, cost_usd: float, usage: TokenUsage) -> dict[str, str]:
        """Settle a call's hold from its priced usage and return the budget's tags for its
        record (over-spend included). A failed settlement is logged and the hold left to its
        lease: the record is never lost to it. A call charged after it ran waits for its
        record (:meth:`settle_record`)."""
        with self._lock:
            reservation = self._held.get(call_id)
            if reservation is None or isinstance(reservation, Unreserved):
                return {}
            del self._held[call_id]
        try:
            reservation.settle(cost_usd, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
        except Exception:
            logger.exception("llm-cost-hooks: settling the budget hold of a call failed")
            return {}
        tags: dict[str, str] = reservation.tags()
        return tags

    def settle_record(self, call_id: str, record: Any) -> Any:
        """Settle from a written record (``None``: no record, release the hold); a call
        with nothing held is charged the record's cost. Returns the settled reservation
        (usage billed later is added to it), else None."""
        with self._lock:
            reservation = self._held.pop(call_id, None)
            if reservation is None:
                return None
            self._settling.add(call_id)
        try:
            if isinstance(reservation, Unreserved):
                return reservation.charge(record)
            if record is None:
                reservation.release()
                return None
            reservation.settle(
                record.cost_usd, input_tokens=record.input_tokens, output_tokens=record.output_tokens
            )
            return reservation
        finally:
            with self._lock:
                self._settling.discard(call_id)

    def release(self, call_id: str) -> None:
        """The call failed or was cut with no record to settle on: its hold is freed (a
        call with nothing held is charged nothing)."""
        reservation = self.pop(call_id)
        if reservation is not None and not isinstance(reservation, Unreserved):
            reservation.release()


# -- which guard settles a call itself ------------------------------------------------------
_settling: ContextVar[Any] = ContextVar("llm_cost_hooks_settling_guard", default=None)


@contextlib.contextmanager
def settled_by(guard: SpendGuard) -> Iterator[None]:
    """Around a call a wrapper reserves and settles on ``guard`` itself
    (``guarded_completion``): a logger with the same guard does not charge it again."""
    token = _settling.set(guard)
    try:
        yield
    finally:
        _settling.reset(token)


def settled_elsewhere(guard: Any) -> bool:
    """The call under way (on this thread or task) is settled on ``guard`` by a wrapper."""
    return _settling.get() is guard


# -- refusals as HTTP errors -------------------------------------------------------------------
@dataclass(frozen=True)
class Refusal:
    """One of our refusals as an OpenAI-style HTTP error: status, error body fields, headers
    (the field names are those of the LiteLLM proxy's ``ProxyException``)."""

    message: str
    type: str
    code: int
    headers: dict[str, str]
    param: str | None = None
    openai_code: str | None = None


def refusal_of(error: BaseException, *, budget_status: int, now: float | None = None) -> Refusal | None:
    """How to answer ``error`` over HTTP (``None``: not one of our refusals).

    A spend or token limit: ``budget_status``, type ``budget_exceeded``, ``Retry-After`` =
    seconds until the period resets; a context budget that cannot be met: 400,
    ``invalid_request_error`` on ``messages``; an open circuit: 429 ``rate_limit_error``
    with the seconds until a probe; an unreachable spend store (fail closed): 503 with
    ``Retry-After: 1``; a tenant the caller's key is not bound to: 403 ``permission_error``
    on ``metadata.tenant_id``. Every refusal says ``x-should-retry: false`` (clients would
    otherwise repeat it at once).
    """
    headers = {"x-should-retry": "false"}
    message = str(error)
    if isinstance(error, BudgetExceeded):
        if error.limit_name.startswith("context."):
            return Refusal(
                message, "invalid_request_error", 400, headers, "messages", "context_budget_exceeded"
            )
        if error.resets_at is not None:
            wait = error.resets_at.timestamp() - (time.time() if now is None else now)
            headers["retry-after"] = str(max(int(wait) + 1, 1))
        return Refusal(message, "budget_exceeded", budget_status, headers)
    if isinstance(error, CircuitOpenError):
        headers["retry-after"] = str(max(int(error.retry_in) + 1, 1))
        return Refusal(message, "rate_limit_error", 429, headers)
    if isinstance(error, SpendStoreUnavailable):
        headers["retry-after"] = "1"
        return Refusal(message, "service_unavailable", 503, headers)
    from .._tenancy import TenantRefused

    if isinstance(error, TenantRefused):
        return Refusal(message, "permission_error", 403, headers, "metadata.tenant_id", "tenant_not_allowed")
    return None


def warn_pre_call_skipped(**work: object) -> None:
    """Say (at warning level) what a call that ran without the pre-call work configured in
    ``work`` (the names of the non-None values: ``guard``, ``context_budget``,
    ``prompt_cache``, ``dedup``) did not get: LiteLLM runs no hook that can change or stop
    a sync call before it is sent. The spend guard charges such a call's cost when it ends,
    but cannot refuse it. The caller says it once."""
    names = {
        "guard": "spend guard (charged when the call ends, but never refused before it runs)",
        "context_budget": "context budget (messages not trimmed, max_tokens not clamped)",
        "prompt_cache": "prompt cache (no breakpoints placed)",
        "dedup": "dedup (not shared with identical requests)",
    }
    skipped = "; ".join(names.get(k, k.replace("_", " ")) for k, v in work.items() if v is not None)
    logger.warning(
        "llm-cost-hooks: a sync LiteLLM call (litellm.completion) ran without this logger's "
        "pre-call work: %s. LiteLLM runs no hook that can change or stop a sync call: call "
        "cost_logger.completion(...) (or await litellm.acompletion) instead. The call is "
        "recorded; this is said once per logger.",
        skipped,
    )
