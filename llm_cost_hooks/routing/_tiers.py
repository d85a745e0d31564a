"""Tier plans: everything a routed model decides without calling a model.

:class:`TierPlan` holds the tiers cheapest first with their prices, the strategy, the
quality floor, the answer checks and the shadow mode, and answers the questions a
framework adapter asks around each call: which tier first (:meth:`TierPlan.route`), which
checks, where a spend-limit downgrade goes (:meth:`TierPlan.downgrade`), what the answer's
route metadata says (:meth:`TierPlan.route_metadata`), which tier shadow mode also asks
and how that pair is recorded. :class:`StreamPlan` is the order a streaming call tries
tiers in. The adapters (``langchain.RoutedChatModel``) only call models and move
messages.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import BudgetExceeded, ConfigurationError, DowngradeRequired, UnknownModelError
from ._checks import BUILTIN_CHECKS, CascadeOutcome, Check
from ._strategies import Cascade, QualityFloor, RouteDecision, RouteRequest, RoutingStrategy

if TYPE_CHECKING:
    from ..budget import Downgrade

__all__ = [
    "CallExtras",
    "StreamPlan",
    "TierPlan",
    "check_call_options",
    "check_tiers",
    "keyed_binding",
    "mark_delegated",
    "tier_bound",
    "tier_downgrade",
    "tier_params",
    "tier_price",
]

logger = logging.getLogger("llm_cost_hooks.routing")

T = TypeVar("T")

#: Options ``prompt_cache`` accepts as a dict.
PROMPT_CACHE_OPTIONS = frozenset({"ttl", "max_breakpoints", "min_tokens", "cache_documents", "price_book"})


def mark_delegated(error: BaseException) -> BaseException:
    """Mark an error as raised on behalf of a tier's own (already recorded) run, so the
    router's run writes no second, failed cost record for it."""
    try:
        error.llm_cost_hooks_delegated = True  # type: ignore[attr-defined]
    except Exception:  # an exception type with __slots__: nothing to mark
        pass
    return error


def tier_downgrade(decision: Downgrade, cheaper: Mapping[str, Any]) -> None:
    """A tier's answer to a spend limit's ``downgrade`` policy. With ``cheaper`` tiers, the
    breach is raised marked as delegated: the router moves the call and the refused tier
    writes no record. On the cheapest tier nothing can take over: ``None``, so the tier
    refuses the call itself and its own run records the refusal (failed, $0)."""
    if cheaper:
        raise mark_delegated(DowngradeRequired(decision))


def tier_run(tier: str, attempt: int) -> dict[str, Any]:
    """The run of a tier call (a child run of the router's): route = tier, the attempt
    number, and a ``retry:attempt:N`` tag on escalations."""
    run: dict[str, Any] = {
        "metadata": {"route": tier, "llm_cost_hooks_attempt": attempt},
        "run_name": f"route:{tier}",
    }
    if attempt > 1:
        run["tags"] = [f"retry:attempt:{attempt}"]
    return run


def shadow_run(tier: str) -> dict[str, Any]:
    """The run of a shadow call: its own route ``shadow:<tier>``, so its spend shows apart."""
    return {"metadata": {"route": f"shadow:{tier}"}, "run_name": f"shadow:{tier}"}


def tier_price(
    tier: str,
    model_name: str,
    provider: str | None,
    *,
    given: Any = None,
    replay_price: Callable[[], Any] | None = None,
    price_book: Any = None,
) -> Any:
    """The :class:`~llm_cost_hooks.pricing.ModelPrice` of one tier: ``given`` (a price or
    ``{"input_per_million": ..., "output_per_million": ...}``), else the replayed model's
    own blended price, else the price book's."""
    from ..pricing import PriceBook

    if given is not None:
        if hasattr(given, "input_per_token"):
            return given
        if not isinstance(given, Mapping):
            raise ConfigurationError(
                f"prices[{tier!r}] must be a mapping like {{'input_per_million': 0.2, 'output_per_million': 0.6}}."
            )
        return PriceBook(overrides={model_name: {**dict(given), "replace": True}}).lookup(model_name)
    if replay_price is not None:
        return replay_price()
    book = price_book or PriceBook.default()
    try:
        return book.lookup(model_name, provider)
    except UnknownModelError:
        raise ConfigurationError(
            f"tier {tier!r} (model {model_name!r}) has no price in the price book; give one with "
            f"prices={{{tier!r}: {{'input_per_million': ..., 'output_per_million': ...}}}} "
            "or add the model to the price overrides."
        ) from None


def check_tiers(owner: str, tiers: Mapping[str, Any], kind: type, kind_name: str) -> None:
    """Typed errors for a router without tiers or with a tier that is not a ``kind``."""
    if not tiers:
        raise ConfigurationError(f"{owner} needs at least one tier: tiers={{'small': model, ...}}.")
    for name, model in tiers.items():
        if not isinstance(model, kind):
            raise ConfigurationError(f"tier {name!r} must be {kind_name}, got {type(model).__name__}.")


def tier_params(
    kwargs: Mapping[str, Any], defaults: Mapping[str, Any], *bound: str
) -> tuple[dict[str, Any], list[Any]]:
    """The parameters of one tier call: the router's ``defaults`` that are set, under the
    call's ``kwargs``; the ``bound`` keys (tools, structured output) are taken out and
    returned apart, in order (``None`` when absent)."""
    params = {k: v for k, v in defaults.items() if v is not None}
    params.update(kwargs)
    return params, [params.pop(key, None) for key in bound]


class _Keyed(tuple[Any, ...]):
    """A router's bound tools or schema with its kwargs, whose repr (what LangChain's cache
    keys the call by) is their formatted schemas: a class's repr is only its name, so a
    changed schema under the same name would otherwise be served the old answer."""

    key: str

    def __repr__(self) -> str:
        return repr(self.key)


def keyed_binding(items: Any, kwargs: dict[str, Any], fmt: Callable[[Any], Any]) -> tuple[Any, ...]:
    """``(items, kwargs)`` keyed by ``fmt`` of each item (a list of tools, or one schema)."""
    formatted = []
    for item in items if isinstance(items, list) else [items]:
        try:
            formatted.append(fmt(item))
        except Exception:  # a tool only its tier can format: its repr
            formatted.append(repr(item))
    bound = _Keyed((items, kwargs))
    bound.key = json.dumps([formatted, kwargs], sort_keys=True, default=repr)
    return bound


def tier_bound(tier: str, what: str, bind: Callable[[], T]) -> T:
    """``bind()``: the tier's ``bind_tools`` / ``with_structured_output``. A tier whose model
    does not implement it raises a :class:`ConfigurationError` naming the tier, so the cascade
    moves on to the next tier, and when none can, the caller learns why."""
    try:
        return bind()
    except NotImplementedError as exc:
        raise ConfigurationError(
            f"tier {tier!r} cannot take {what}: its model does not implement them, so a call with "
            f"{what} moves on to the next tier; give the router a tier whose model supports {what}."
        ) from exc


def check_call_options(prompt_cache: Any, context_budget: Any, guard: Any, cache: Any = False) -> None:
    """Typed errors for a routed model's ``prompt_cache``, ``context_budget``, ``guard`` and
    ``cache``."""
    if cache is not False:
        # A cache of the routed model's own answer is keyed by the request, not by the tier
        # chosen: it would serve one tier's answer to a request now routed to another (and
        # skip the cascade's checks). Each tier's call is cached under its own model instead.
        given = repr(cache) if cache is None or isinstance(cache, bool) else f"{type(cache).__name__}(...)"
        raise ConfigurationError(
            f"RoutedChatModel(cache={given}) would cache the routed answer without the tier that gave it; leave cache at its "
            "default (False). Under set_llm_cache(...), or with cache= on each tier's model, every "
            "tier's call is cached under that tier's model and tenant."
        )
    if isinstance(prompt_cache, Mapping):
        unknown = set(prompt_cache) - PROMPT_CACHE_OPTIONS
        if unknown:
            raise ConfigurationError(
                f"prompt_cache options {sorted(unknown)} are unknown; use {sorted(PROMPT_CACHE_OPTIONS)}."
            )
    if context_budget is None and guard is None:
        return
    from ..budget import ContextBudget, SpendGuard

    if context_budget is not None and not isinstance(context_budget, ContextBudget):
        raise ConfigurationError(
            f"context_budget must be a llm_cost_hooks.budget.ContextBudget, got {type(context_budget).__name__}."
        )
    if guard is not None and not isinstance(guard, SpendGuard):
        raise ConfigurationError(
            f"guard must be a llm_cost_hooks.budget.SpendGuard, got {type(guard).__name__}."
        )


@dataclass
class CallExtras:
    """What one routed call adds to its route metadata besides the cascade: spend-limit
    downgrades and, per tier, the prompt-cache breakpoints placed."""

    downgrades: list[dict[str, Any]] = field(default_factory=list)
    prompt_cache: dict[str, Any] = field(default_factory=dict)

    def placed(self, tier: str, report: Any) -> None:
        """Note the prompt-cache breakpoints placed for ``tier`` (a ``BreakpointReport``)."""
        self.prompt_cache[tier] = {
            "breakpoints": len(report.breakpoints),
            "cacheable_tokens": report.cacheable_tokens,
            "mode": str(getattr(report.mode, "value", report.mode)),
        }

    def not_placed(self, tier: str, model: str, error: Exception) -> None:
        """Placing breakpoints for ``tier`` failed: noted and logged, the call goes on."""
        logger.warning(
            "llm-cost-hooks routing: no prompt-cache breakpoints for tier %r (%s): %r", tier, model, error
        )
        self.prompt_cache[tier] = {"breakpoints": 0, "error": type(error).__name__}

    def place(self, tier: str, model: str, place: Callable[[], tuple[T, Any]], unplaced: T) -> T:
        """``place()``'s placed request, its report noted for ``tier``; ``unplaced`` when it
        fails (a failure to place breakpoints never breaks the call)."""
        try:
            placed, report = place()
        except Exception as exc:
            self.not_placed(tier, model, exc)
            return unplaced
        self.placed(tier, report)
        return placed

    def route_fields(self, tier: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.downgrades:
            out["downgrades"] = list(self.downgrades)
        cache = self.prompt_cache.get(tier)
        if cache is not None:
            out["prompt_cache"] = cache
        return out


class TierPlan:
    """The tiers of a routed model and the decisions around each call.

    ``prices`` maps each tier to its price (anything with ``input_per_token`` and
    ``output_per_token``); ``model_names`` to the model it calls (a spend limit's
    ``downgrade_to`` may name either). Tiers are ordered cheapest first (input plus output
    price per token; ties keep the given order).

    >>> from types import SimpleNamespace as P
    >>> plan = TierPlan({"large": P(input_per_token=5e-6, output_per_token=2e-5),
    ...                  "small": P(input_per_token=1e-7, output_per_token=4e-7)})
    >>> plan.order
    ['small', 'large']
    >>> plan.route(RouteRequest("hi")).tier
    'small'
    """

    def __init__(
        self,
        prices: Mapping[str, Any],
        *,
        model_names: Mapping[str, str] | None = None,
        strategy: Any = None,
        quality_floor: Any = None,
        checks: Sequence[Any] = (),
        builtin_checks: bool = True,
        shadow: Any = None,
    ) -> None:
        if not prices:
            raise ConfigurationError("a routed model needs at least one tier: tiers={'small': model, ...}.")
        self.prices = dict(prices)
        self.model_names = {t: (model_names or {}).get(t, t) for t in self.prices}
        position = {n: i for i, n in enumerate(self.prices)}
        self.order = sorted(
            self.prices,
            key=lambda n: (self.prices[n].input_per_token + self.prices[n].output_per_token, position[n]),
        )
        strategy = Cascade() if strategy is None else strategy
        if not isinstance(strategy, RoutingStrategy):
            raise ConfigurationError(
                f"strategy must be a llm_cost_hooks.routing strategy (RuleRouter, TrainedRouter, Cascade, ...), "
                f"got {type(strategy).__name__}."
            )
        strategy.check_tiers(self.order)
        self.strategy: RoutingStrategy = strategy
        self.floor = self._floor(quality_floor)
        self.shadow = self._shadow(shadow)
        for check in checks:
            if not callable(check):
                raise ConfigurationError(f"checks must be callables taking an Answer, got {check!r}.")
        self.checks: list[Check] = list(checks)
        self.builtin_checks = bool(builtin_checks)

    @classmethod
    def priced(
        cls,
        models: Mapping[str, tuple[str, str | None]],
        *,
        prices: Mapping[str, Any] | None = None,
        replay_prices: Mapping[str, Callable[[], Any] | None] | None = None,
        price_book: Any = None,
        **options: Any,
    ) -> TierPlan:
        """A plan over tiers given as ``{tier: (model name, provider)}``, each priced by
        :func:`tier_price` (``prices``: the prices given per tier; ``replay_prices``: a
        replayed model's own blended price). ``options`` are the plan's keywords."""
        unknown = set(prices or {}) - set(models)
        if unknown:
            raise ConfigurationError(
                f"prices given for unknown tiers {sorted(unknown)}; tiers are {list(models)}."
            )
        priced = {
            tier: tier_price(
                tier,
                name,
                provider,
                given=(prices or {}).get(tier),
                replay_price=(replay_prices or {}).get(tier),
                price_book=price_book,
            )
            for tier, (name, provider) in models.items()
        }
        return cls(priced, model_names={tier: name for tier, (name, _) in models.items()}, **options)

    def price_overrides(self, tiers: Iterable[str]) -> dict[str, dict[str, float]]:
        """The prices of ``tiers`` as price-book overrides keyed by model name."""
        return {
            self.model_names[tier]: {
                "input_cost_per_token": self.prices[tier].input_per_token,
                "output_cost_per_token": self.prices[tier].output_per_token,
            }
            for tier in tiers
        }

    def _floor(self, quality_floor: Any) -> QualityFloor | None:
        if quality_floor is None:
            return None
        if isinstance(quality_floor, QualityFloor):
            floor = quality_floor
        elif isinstance(quality_floor, Mapping):
            floor = QualityFloor(dict(quality_floor))
        else:
            raise ConfigurationError("quality_floor must be a QualityFloor or a dict {feature: tier}.")
        floor.check_tiers(self.order)
        return floor

    def _shadow(self, shadow: Any) -> Any:
        if shadow is None:
            return None
        from ._shadow import ShadowMode

        if not isinstance(shadow, ShadowMode):
            raise ConfigurationError(
                f"shadow must be a llm_cost_hooks.routing.ShadowMode, got {type(shadow).__name__}."
            )
        if shadow.tier is not None and shadow.tier not in self.prices:
            raise ConfigurationError(f"ShadowMode tier {shadow.tier!r} is not one of the tiers {self.order}.")
        return shadow

    # -- before the call ----------------------------------------------------------------------
    def route(self, request: RouteRequest) -> RouteDecision:
        """The strategy's decision, raised to the request's quality floor."""
        decision = self.strategy.route(request, self.order)
        if decision.tier not in self.prices:
            raise ConfigurationError(
                f"strategy chose unknown tier {decision.tier!r}; tiers are {self.order}."
            )
        if self.floor is not None:
            decision = self.floor.apply(decision, request, self.order)
        return decision

    def checks_for(self, decision: RouteDecision) -> list[Check]:
        """The checks an answer must pass: all of them when the decision can escalate, else
        only the caller's own (the built-in ones exist to trigger escalation)."""
        if not decision.escalation:
            return list(self.checks)
        return [*(BUILTIN_CHECKS if self.builtin_checks else ()), *self.checks]

    def buffers_stream(self, decision: RouteDecision, structured: bool) -> bool:
        """True when a stream must be answered whole first (an answer that may escalate or
        has checks to pass is only shown once accepted)."""
        return bool(decision.escalation or structured or self.checks)

    def stream_plan(self, decision: RouteDecision) -> StreamPlan:
        return StreamPlan(self, decision)

    # -- spend-limit downgrades ---------------------------------------------------------------
    def cheaper(self, tier: str, error: BudgetExceeded) -> str:
        """The tier a spend guard's ``downgrade`` policy moves a call to: the limit's
        ``downgrade_to`` (a tier or its model name) when cheaper, else the next cheaper
        tier. Re-raises the breach when there is none."""
        i = self.order.index(tier)
        target = getattr(getattr(error, "downgrade", None), "to_model", None)
        if target:
            for name in self.order[:i]:
                if target in (name, self.model_names[name]):
                    return name
        if i == 0:
            raise error
        return self.order[i - 1]

    def downgrade(self, tier: str, error: BudgetExceeded, extras: CallExtras) -> str:
        """Next tier after a spend-limit breach: only a ``downgrade`` policy moves the call
        (to a cheaper tier, noted in ``extras``); any other breach is raised."""
        decision = getattr(error, "downgrade", None)
        if decision is None:
            raise error
        cheaper = self.cheaper(tier, error)
        extras.downgrades.append({"from": tier, "to": cheaper, "limit": decision.limit_name})
        return cheaper

    # -- after the call -----------------------------------------------------------------------
    def route_metadata(
        self, decision: RouteDecision, outcome: CascadeOutcome, extras: CallExtras
    ) -> dict[str, Any]:
        """The answer's ``llm_cost_hooks_route`` entry."""
        route: dict[str, Any] = {
            "tier": outcome.tier,
            "reason": outcome.route_reason(decision),
            "attempts": [
                {"tier": a.tier, "ok": a.ok, **({"reason": a.reason} if a.reason else {})}
                for a in outcome.attempts
            ],
            "checks_passed": outcome.checks_passed,
            "delegated": True,
        }
        route.update(extras.route_fields(outcome.tier))
        return route

    def call_cost(self, tier: str, usage: Any) -> float:
        """Dollars of one call of ``tier`` from its :class:`~llm_cost_hooks.TokenUsage`
        (0 without usage)."""
        if usage is None:
            return 0.0
        price = self.prices[tier]
        return float(
            usage.input_tokens * price.input_per_token + usage.output_tokens * price.output_per_token
        )

    # -- shadow mode --------------------------------------------------------------------------
    def shadow_tier(self, chosen: str, *, structured: bool) -> str | None:
        """The tier shadow mode also asks for this request (plain chat only), or None."""
        if self.shadow is None or structured:
            return None
        return self.shadow.pick(chosen, self.order)  # type: ignore[no-any-return]

    def shadow_record(
        self,
        request: str,
        context: str | None,
        answers: Mapping[str, str],
        usages: Mapping[str, Any],
        explored: str,
        *,
        billed: float | None = None,
    ) -> None:
        """Judge and record a shadowed pair (``{tier: answer}``, ``{tier: TokenUsage}``);
        ``billed``: what the shadow call's cost record says it cost, when that is not its
        tokens at list price (a cache hit: 0). Never raises: the user's answer is already made."""
        try:
            costs = {t: self.call_cost(t, usages.get(t)) for t in answers}
            models: dict[str, str | None] = {t: self.model_names[t] for t in answers}
            self.shadow.record(
                request, context, dict(answers), costs, models, explored=explored, spent_usd=billed
            )
        except Exception as exc:
            self.shadow.call_failed(explored, exc)


class StreamPlan:
    """Which tier streams next: the decision's tier, then (on an error before the first
    chunk) the others; a spend-limit downgrade moves to a cheaper tier as the same attempt."""

    def __init__(self, plan: TierPlan, decision: RouteDecision, extras: CallExtras | None = None) -> None:
        self.plan = plan
        self.decision = decision
        self.pending = [decision.tier] + [t for t in plan.order if t != decision.tier]
        self.attempts: list[dict[str, Any]] = []
        self.extras = CallExtras() if extras is None else extras
        self.attempt = 0

    def next(self) -> str | None:
        if not self.pending:
            return None
        self.attempt += 1
        return self.pending.pop(0)

    def started(self, tier: str) -> dict[str, Any]:
        """The route metadata the first chunk of ``tier`` carries."""
        self.attempts.append({"tier": tier, "ok": True})
        failed = [a for a in self.attempts if not a["ok"]]
        reason = self.decision.reason
        if failed:
            reason = f"{reason};fallback after {failed[0]['tier']} errored"
        return {
            "tier": tier,
            "reason": reason,
            "attempts": list(self.attempts),
            "checks_passed": True,
            "delegated": True,
            **self.extras.route_fields(tier),
        }

    def failed(self, tier: str, exc: Exception, started: bool) -> BaseException | None:
        """None to try the next tier, else the error to raise."""
        if started:  # chunks already reached the caller: no other tier can take over
            return mark_delegated(exc)
        if isinstance(exc, BudgetExceeded):
            try:
                cheaper = self.plan.downgrade(tier, exc, self.extras)
            except BudgetExceeded as breach:
                return mark_delegated(breach)
            self.pending = [cheaper] + [t for t in self.pending if t != cheaper]
            self.attempt -= 1  # a downgrade is the same attempt on a cheaper tier
            return None
        if not self.pending:
            return mark_delegated(exc)
        self.attempts.append({"tier": tier, "ok": False, "reason": f"error:{type(exc).__name__}"})
        return None
