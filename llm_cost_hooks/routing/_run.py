"""A routed call over plain callables: the tier run loop every routed adapter drives.

:class:`RoutedRun` is one request: the :class:`~llm_cost_hooks.routing._tiers.TierPlan`'s
decision for it, spend-limit downgrades noted on the way, shadow pairing and the answer's
route metadata. :func:`run_tiers` runs a cascade over the tiers (a spend-limit
``downgrade`` moves the call to a cheaper tier), then shadow mode's second call;
:func:`stream_tiers` streams the first tier that starts answering (on an error before
the first chunk, the next one). One sync and one async body each; the adapter supplies
how to call a tier (``perform(tier, attempt)``, ``open_stream(tier, attempt)``) and
how to read its answer. Nothing here imports a framework.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, TypeVar

from .._errors import BudgetExceeded
from ..tracking._calls import BILLED_MARKER_KEY, CACHE_MARKER_KEY
from ._checks import Answer, CascadeOutcome, Check, arun_cascade, run_cascade
from ._strategies import RouteRequest
from ._tiers import CallExtras, StreamPlan, TierPlan, mark_delegated

__all__ = [
    "RoutedRun",
    "arun_tiers",
    "astream_tiers",
    "request_of",
    "run_tiers",
    "stream_tiers",
    "structured_output",
    "tier_answer",
]

R = TypeVar("R")
P = TypeVar("P")
C = TypeVar("C")

#: How an adapter reads a tier's answer: (its text, its :class:`~llm_cost_hooks.TokenUsage`).
Reader = Callable[[Any], tuple[str, Any]]


def request_of(
    texts: Sequence[str], last_user: int | None, metadata: Mapping[str, Any] | None, *, structured: bool
) -> RouteRequest:
    """What a strategy sees of a conversation (``texts``, one per message; ``last_user``
    the index of the last user message): the whole text, the last user message and the
    turn before it (what a short follow-up refers to)."""
    return RouteRequest(
        text="\n".join(texts),
        metadata=dict(metadata or {}),
        structured=structured,
        query=None if last_user is None else texts[last_user],
        context=texts[last_user - 1] if last_user is not None and last_user > 0 else None,
    )


def tier_answer(
    tier: str,
    text: str,
    raw: Any,
    *,
    response_metadata: Mapping[str, Any] | None = None,
    tool_calls: Sequence[Any] = (),
    params: Mapping[str, Any] | None = None,
    structured: tuple[Any, Any] | None = None,
    request: str | None = None,
) -> Answer:
    """The :class:`Answer` the checks read of one tier's reply. ``structured`` is
    ``(parsed, parsing_error)`` when the caller asked for structured output; ``params``
    the call's parameters (a JSON ``response_format`` makes the checks expect JSON)."""
    rm = response_metadata or {}
    fmt = (params or {}).get("response_format")
    expects_json = isinstance(fmt, Mapping) and str(fmt.get("type", "")).startswith("json")
    parsed, error = structured if structured is not None else (None, None)
    if structured is not None and parsed is None and error is None:
        error = "no structured output"
    return Answer(
        text=text,
        tier=tier,
        finish_reason=rm.get("finish_reason") or rm.get("stop_reason"),
        tool_calls=list(tool_calls),
        expects_json=expects_json or structured is not None,
        parsed=parsed,
        parse_error=None if error is None else str(error),
        raw=raw,
        request=request,
    )


def structured_output(payload: Mapping[str, Any], raw: Any = None, *, include_raw: bool = False) -> Any:
    """What ``with_structured_output`` returns of a routed answer (``payload``: its
    ``{"parsed", "parsing_error"}``): the parsed value (a parsing error is raised), or with
    ``include_raw`` the dict of the ``raw`` message, the value and the error."""
    parsed, error = payload.get("parsed"), payload.get("parsing_error")
    if include_raw:
        return {"raw": raw, "parsed": parsed, "parsing_error": error}
    if error is not None:
        raise error if isinstance(error, BaseException) else ValueError(str(error))
    return parsed


def _served_by_cache(result: Any) -> bool:
    """True for an answer one of our caches served: its request was seen (and had its chance
    to be shadowed) before, and judging it again would record the same pair once more."""
    meta = getattr(result, "response_metadata", None)
    return isinstance(meta, Mapping) and bool(meta.get(CACHE_MARKER_KEY))


def _billed_usd(result: Any) -> float | None:
    """What a call's cost record says it cost when that is not its tokens at list price:
    0 for an answer our cache served, the recorded dollars of a replayed call; else None."""
    if _served_by_cache(result):
        return 0.0
    bill = (getattr(result, "response_metadata", None) or {}).get(BILLED_MARKER_KEY)
    if isinstance(bill, Mapping) and isinstance(bill.get("cost_usd"), (int, float)):
        return float(bill["cost_usd"])
    return None


class RoutedRun:
    """One routed request: its decision (the plan's, raised to the quality floor), the
    downgrades and prompt-cache breakpoints it adds to the route metadata, and its shadow
    pair. ``structured``: tools or structured output were asked for (no shadow call);
    ``read`` reads a tier's answer for shadow mode's judge."""

    def __init__(
        self, plan: TierPlan, request: RouteRequest, *, structured: bool = False, read: Reader | None = None
    ) -> None:
        self.plan = plan
        self.request = request
        self.decision = plan.route(request)
        self.structured = structured
        self.read = read
        self.extras = CallExtras()

    @property
    def checks(self) -> list[Check]:
        return self.plan.checks_for(self.decision)

    def downgrade(self, tier: str, error: BudgetExceeded) -> str:
        """The cheaper tier a spend-limit ``downgrade`` moves the call to (else raises)."""
        return self.plan.downgrade(tier, error, self.extras)

    def route_metadata(self, outcome: CascadeOutcome) -> dict[str, Any]:
        return self.plan.route_metadata(self.decision, outcome, self.extras)

    def stream_plan(self) -> StreamPlan:
        return StreamPlan(self.plan, self.decision, self.extras)

    # -- shadow mode --------------------------------------------------------------------------
    def shadow_tier(self, outcome: CascadeOutcome) -> str | None:
        """The tier shadow mode also asks (plain chat with a reader only), or None."""
        if self.read is None or _served_by_cache(outcome.result):
            return None
        return self.plan.shadow_tier(outcome.tier, structured=self.structured)

    def shadow_failed(self, tier: str, error: BaseException) -> None:
        self.plan.shadow.call_failed(tier, error)

    def shadowed(self, outcome: CascadeOutcome, other: str, out: Any) -> None:
        """Judge and record the pair (never raises: the user's answer is made). The chosen
        tier's cost is its accepted answer's call; the exploration budget is charged what the
        shadow call was billed (nothing for a cache hit)."""
        assert self.read is not None
        try:
            (chosen_text, chosen_usage), (other_text, other_usage) = self.read(outcome.result), self.read(out)
        except Exception as exc:
            self.shadow_failed(other, exc)
            return
        answers = {outcome.tier: chosen_text, other: other_text}
        usages = {outcome.tier: chosen_usage, other: other_usage}
        query = self.request.query or self.request.text
        billed = _billed_usd(out)
        self.plan.shadow_record(query, self.request.context, answers, usages, other, billed=billed)


def _downgrading(run: RoutedRun, perform: Callable[[str, int], R]) -> Callable[[str, int], R]:
    """``perform`` that moves to a cheaper tier on a spend-limit ``downgrade`` (sync)."""

    def call(tier: str, attempt: int) -> R:
        while True:
            try:
                return perform(tier, attempt)
            except BudgetExceeded as exc:
                tier = run.downgrade(tier, exc)

    return call


def _adowngrading(
    run: RoutedRun, perform: Callable[[str, int], Awaitable[R]]
) -> Callable[[str, int], Awaitable[R]]:
    """Async :func:`_downgrading`."""

    async def call(tier: str, attempt: int) -> R:
        while True:
            try:
                return await perform(tier, attempt)
            except BudgetExceeded as exc:
                tier = run.downgrade(tier, exc)

    return call


def run_tiers(
    run: RoutedRun,
    perform: Callable[[str, int], tuple[Any, Answer]],
    ask_shadow: Callable[[str], Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The cascade over the tiers (``perform(tier, attempt)`` returns ``(result, answer)``),
    then the shadow call (``ask_shadow(tier)``) when shadow mode picks one. Returns the
    accepted result and its route metadata; errors are raised marked as delegated."""
    try:
        outcome = run_cascade(run.decision, run.plan.order, _downgrading(run, perform), run.checks)
    except Exception as exc:
        raise mark_delegated(exc) from None
    other = run.shadow_tier(outcome) if ask_shadow is not None else None
    if other is not None and ask_shadow is not None:
        try:
            run.shadowed(outcome, other, ask_shadow(other))
        except Exception as exc:
            run.shadow_failed(other, exc)
    return outcome.result, run.route_metadata(outcome)


async def arun_tiers(
    run: RoutedRun,
    perform: Callable[[str, int], Awaitable[tuple[Any, Answer]]],
    ask_shadow: Callable[[str], Awaitable[Any]] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Async :func:`run_tiers` (checks may be async)."""
    try:
        outcome = await arun_cascade(run.decision, run.plan.order, _adowngrading(run, perform), run.checks)
    except Exception as exc:
        raise mark_delegated(exc) from None
    other = run.shadow_tier(outcome) if ask_shadow is not None else None
    if other is not None and ask_shadow is not None:
        try:
            run.shadowed(outcome, other, await ask_shadow(other))
        except Exception as exc:
            run.shadow_failed(other, exc)
    return outcome.result, run.route_metadata(outcome)


def _streamed_shadow(
    run: RoutedRun, tier: str, kept: list[Any] | None, join: Callable[[list[Any]], Any] | None
) -> tuple[str, CascadeOutcome] | None:
    """The tier shadow mode also asks for a stream that ended (``kept``: its pieces), and
    the streamed answer as an outcome, or None."""
    if not kept:
        return None
    try:
        other = run.plan.shadow_tier(tier, structured=run.structured) if run.read is not None else None
        if other is None:
            return None
        whole = join(kept) if join is not None else functools.reduce(operator.add, kept)  # chunks add up
        outcome = CascadeOutcome(result=whole, answer=None, tier=tier, attempts=[], checks_passed=True)
    except Exception as exc:  # the user's answer is already delivered
        run.shadow_failed(tier, exc)
        return None
    return other, outcome


def stream_tiers(
    run: RoutedRun,
    open_stream: Callable[[str, int], Iterable[P]],
    deliver: Callable[[P, dict[str, Any] | None], C],
    ask_shadow: Callable[[str], Any] | None = None,
    join: Callable[[list[P]], Any] | None = None,
) -> Iterator[C]:
    """The pieces of the first tier that starts answering, each passed through
    ``deliver(piece, route)`` (``route``: the route metadata, on the first piece only).
    With ``ask_shadow``, shadow mode's second call is made after the last piece, on the
    answer ``join(pieces)`` (default: the pieces added up, as LangChain chunks are; a stream
    the caller stops early is not shadowed)."""
    plan = run.stream_plan()
    keep = ask_shadow is not None and run.plan.shadow is not None
    while (tier := plan.next()) is not None:
        pieces = open_stream(tier, plan.attempt)  # an error preparing the call is raised as is
        started = False
        kept: list[P] | None = [] if keep else None
        try:
            for piece in pieces:
                route = None if started else plan.started(tier)
                started = True
                if kept is not None:
                    kept.append(piece)
                yield deliver(piece, route)
        except Exception as exc:
            error = plan.failed(tier, exc, started)
            if error is not None:
                raise error from None
            continue
        shadow = _streamed_shadow(run, tier, kept, join)
        if shadow is not None and ask_shadow is not None:
            other, outcome = shadow
            try:
                run.shadowed(outcome, other, ask_shadow(other))
            except Exception as exc:
                run.shadow_failed(other, exc)
        return


async def astream_tiers(
    run: RoutedRun,
    open_stream: Callable[[str, int], AsyncIterable[P]],
    deliver: Callable[[P, dict[str, Any] | None], Awaitable[C]],
    ask_shadow: Callable[[str], Awaitable[Any]] | None = None,
    join: Callable[[list[P]], Any] | None = None,
) -> AsyncIterator[C]:
    """Async :func:`stream_tiers`."""
    plan = run.stream_plan()
    keep = ask_shadow is not None and run.plan.shadow is not None
    while (tier := plan.next()) is not None:
        pieces = open_stream(tier, plan.attempt)
        started = False
        kept: list[P] | None = [] if keep else None
        try:
            async for piece in pieces:
                route = None if started else plan.started(tier)
                started = True
                if kept is not None:
                    kept.append(piece)
                yield await deliver(piece, route)
        except Exception as exc:
            error = plan.failed(tier, exc, started)
            if error is not None:
                raise error from None
            continue
        shadow = _streamed_shadow(run, tier, kept, join)
        if shadow is not None and ask_shadow is not None:
            other, outcome = shadow
            try:
                run.shadowed(outcome, other, await ask_shadow(other))
            except Exception as exc:
                run.shadow_failed(other, exc)
        return
