"""Spend guardrails: reserve a call's worst-case cost before it, settle after, release on error."""

from __future__ import annotations

import itertools
import logging
import math
import operator
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

from .._errors import BudgetExceeded, ConfigurationError
from .._records import TokenUsage
from ._alerts import AlertEvent, AlertKind, AlertManager, AnomalyMonitor
from ._limits import (
    NANO,
    Downgrade,
    DowngradeRequired,
    Limit,
    Period,
    SpendRequest,
    period_bounds,
    request_scope_key,
    scope_key_part,
    scope_value_of_key,
)
from ._store import _PID, FailoverSpendStore, InProcessSpendStore, RedisSpendStore, ReserveOutcome

#: Over-reservation and late settlement reasons (tagged ``budget.overspend.reason``).
ABOVE_RESERVATION, LEASE_EXPIRED = "above_reservation", "lease_expired"
#: Shared totals past a limit without one call's excess: journalled spend replayed after
#: an outage, and spend put back (or settled) after a Redis restart.
REPLAYED, OVER_LIMIT = "replayed", "over_limit"

__all__ = ["Reservation", "SpendGuard"]

logger = logging.getLogger("llm_cost_hooks.budget")


class _Scopes:
    """The period-limit part of a plan that only the request's scope values, route and the
    current periods decide: the same for every call of a tenant (feature, user) in a period,
    so it is built once and shared (read-only) by the plans."""

    __slots__ = (
        "keys",
        "limit_units",
        "limits",
        "period_ids",
        "quiet",
        "resets",
        "resets_ts",
        "scope_values",
        "since",
        "until",
        "usd",
    )

    def __init__(self, since: float) -> None:
        self.since, self.until = since, math.inf  # valid while since <= now < until
        self.keys: list[str] = []
        self.limits: list[Limit] = []
        self.limit_units: list[int] = []
        self.usd: list[bool] = []  # per limit: counted in USD (else tokens)
        self.scope_values: list[str] = []
        self.period_ids: list[str] = []
        self.resets: list[Any] = []
        self.resets_ts: list[float] = []
        # Per limit: settled totals below this raise no threshold or over-limit alert.
        self.quiet: list[float] = []


_NO_SCOPES = _Scopes(-math.inf)


class _Plan:
    """A request's reservation: prices, and per applicable period limit its store key, limit
    and amount (store units), TTL, scope value, period and reset."""

    __slots__ = (
        "amounts",
        "cap",
        "input_usd",
        "keys",
        "limit_units",
        "limits",
        "output_rate",
        "period_ids",
        "quiet",
        "request",
        "resets",
        "scope_values",
        "shrunk_by",
        "ttls",
        "usd",
        "worst_usd",
    )

    def __init__(
        self,
        request: SpendRequest,
        input_usd: float,
        output_rate: float,
        worst_usd: float,
        cap: int,
        scopes: _Scopes = _NO_SCOPES,
        amounts: list[int] | None = None,
        ttls: list[int] | None = None,
        shrunk_by: str | None = None,
    ) -> None:
        self.request = request
        self.input_usd = input_usd
        self.output_rate = output_rate
        self.worst_usd = worst_usd
        self.cap = cap
        self.shrunk_by = shrunk_by
        self.keys = scopes.keys
        self.limits = scopes.limits
        self.limit_units = scopes.limit_units
        self.usd = scopes.usd
        self.scope_values = scopes.scope_values
        self.period_ids = scopes.period_ids
        self.resets = scopes.resets
        self.quiet = scopes.quiet
        self.amounts: list[int] = amounts if amounts is not None else []
        self.ttls: list[int] = ttls if ttls is not None else []


class Reservation:
    """Money held for one call. Settle it with the real cost, or release it on error;
    as a (async) context manager it is released if the block raises before settling.

    ``max_output_tokens`` is the output cap to send (a ``shrink_output`` policy may have
    lowered it); ``worst_usd`` what was held. While it is held, the guard renews its lease
    (every third of ``lease_seconds``), so a long call or stream keeps its hold and a
    crashed process's hold ends within one lease. ``overspend`` lists what settling
    counted beyond the hold, per limit: ``(limit name, excess, reason)``.

    >>> from llm_cost_hooks import TokenUsage
    >>> guard = SpendGuard([Limit.usd(0.01, per="day", scope="tenant")], alerts=AlertManager(log=False))
    >>> req = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant="acme")
    >>> reservation = guard.reserve(req)
    >>> reservation.state, reservation.worst_usd, reservation.max_output_tokens
    ('held', 0.00045, 500)
    >>> reservation.settle(guard.cost_of(TokenUsage(input_tokens=1000, output_tokens=120), "gpt-4o-mini"))
    >>> reservation.state, round(reservation.actual_usd, 6), reservation.overspend
    ('settled', 0.000222, [])
    """

    __slots__ = (
        "__weakref__",  # the guard's lease renewer holds reservations weakly
        "_created",
        "_plan",
        "actual_usd",
        "guard",
        "id",
        "lease_until",
        "max_output_tokens",
        "overspend",
        "request",
        "shrunk_by",
        "state",
        "worst_usd",
    )

    def __init__(self, guard: SpendGuard, plan: _Plan) -> None:
        state = _id_state
        self.id = f"{state[1]}{next(state[2]):x}" if state[0] == _PID[0] else _reservation_id()
        self.guard = guard
        self._plan = plan
        self.request = plan.request
        self.max_output_tokens = plan.cap
        self.worst_usd = plan.worst_usd
        self.shrunk_by = plan.shrunk_by
        self.state: Literal["held", "settled", "released"] = "held"
        self.actual_usd: float | None = None
        self._created = _monotonic()
        self.lease_until = self._created + guard.lease_seconds
        self.overspend: list[tuple[str, float, str]] = []

    @property
    def model(self) -> str:
        return self.request.model

    def tags(self) -> dict[str, str]:
        tags = {"budget.reserved_usd": f"{self.worst_usd:.9f}"}
        if self.shrunk_by:
            tags["budget.output.shrunk_by"] = self.shrunk_by
            tags["budget.output.max_tokens"] = str(self.max_output_tokens)
        if self.overspend:
            tags["budget.overspend.reason"] = ",".join(sorted({r for _, _, r in self.overspend}))
            tags["budget.overspend.limits"] = ",".join(name for name, _, _ in self.overspend)
            usd = [x for name, x, _ in self.overspend if self.guard._limit_unit(name) == "USD"]
            if usd:
                tags["budget.overspend_usd"] = f"{max(usd):.9f}"
        return tags

    def _actual(self, cost_usd: float, input_tokens: int | None, output_tokens: int | None) -> list[int]:
        if cost_usd < 0 or math.isnan(cost_usd):
            raise ConfigurationError(f"settled cost must be a non-negative number, got {cost_usd!r}.")
        tokens = (input_tokens if input_tokens is not None else self.request.input_tokens) + (
            output_tokens if output_tokens is not None else self.max_output_tokens
        )
        units = round(cost_usd * NANO)
        return [units if usd else tokens for usd in self._plan.usd]

    def settle(
        self, cost_usd: float, *, input_tokens: int | None = None, output_tokens: int | None = None
    ) -> None:
        """Replace the hold with the real cost of the call."""
        if self.state != "held":
            return
        actual = self._actual(cost_usd, input_tokens, output_tokens)
        self.state, self.actual_usd = "settled", cost_usd
        guard = self.guard
        guard._held.pop(self.id, None)
        plan = self._plan
        if not plan.keys:
            guard._after_settle(plan, [], cost_usd, sync=True)
            return
        spent = guard.store.settle(self.id, plan.keys, actual, plan.ttls)
        # Within the hold and the lease (the common case): no over-spend to count.
        if _monotonic() > self.lease_until or any(map(operator.gt, actual, plan.amounts)):
            events = guard._overspent(self, actual, spent)
            guard._after_settle(plan, spent, cost_usd, sync=True, extra=events)
        else:
            try:
                quiet = guard._quiet(plan, spent)
            except Exception:
                quiet = False  # _after_settle logs it
            if not quiet:
                guard._after_settle(plan, spent, cost_usd, sync=True)

    async def asettle(
        self, cost_usd: float, *, input_tokens: int | None = None, output_tokens: int | None = None
    ) -> None:
        if self.state != "held":
            return
        actual = self._actual(cost_usd, input_tokens, output_tokens)
        self.state, self.actual_usd = "settled", cost_usd
        self.guard._unhold(self)
        spent = await self.guard._astore_settle(self, actual) if self._plan.keys else []
        events = self.guard._overspent(self, actual, spent) if self._past_hold(actual) else ()
        await self.guard._aafter_settle(self._plan, spent, cost_usd, extra=events)

    def _settle_late(
        self, cost_usd: float, input_tokens: int, output_tokens: int, settled_tokens: int
    ) -> None:
        """Add spend billed after this call was settled (a cancelled stream read to its end
        elsewhere: the provider billed the whole answer). ``settled_tokens``: the tokens it
        was settled on. Counted under an id of its own (a store counts one settlement per
        id once); what the call comes to beyond its hold is over-spend, as at settlement."""
        if self.state != "settled" or self.actual_usd is None:
            return
        plan, guard = self._plan, self.guard
        before = self._actual(self.actual_usd, settled_tokens, 0)
        extra = self._actual(cost_usd, input_tokens, output_tokens)
        self.actual_usd += cost_usd
        if not plan.keys:
            guard._after_settle(plan, [], cost_usd, sync=True)
            return
        spent = guard.store.settle(f"{self.id}:late", plan.keys, extra, plan.ttls)
        events = []
        for i, lim in enumerate(plan.limits):
            # Only the part of the excess this charge adds: the settlement counted its own.
            units = max(before[i] + extra[i] - plan.amounts[i], 0) - max(before[i] - plan.amounts[i], 0)
            if units <= 0:
                continue
            self.overspend.append((lim.name, units / lim.scale, ABOVE_RESERVATION))
            count = guard.overspend.setdefault(lim.name, [0, 0])
            count[0] += 1
            count[1] += units
            total = (spent[i] if i < len(spent) else 0) / lim.scale
            event = guard._overspend_event(plan, i, total, units / lim.scale, ABOVE_RESERVATION)
            events.append((event, f"overspend:{plan.keys[i]}", plan.ttls[i]))
        guard._after_settle(plan, spent, cost_usd, sync=True, extra=events)

    def _past_hold(self, actual: list[int]) -> bool:
        # The common case (within the hold, lease alive) costs one clock read.
        if _monotonic() > self.lease_until:
            return True
        return any(map(operator.gt, actual, self._plan.amounts))

    def release(self) -> None:
        """Free the hold (the call failed and was not billed)."""
        if self.state != "held":
            return
        self.state = "released"
        self.guard._unhold(self)
        if self._plan.keys:
            self.guard._store_release(self)

    async def arelease(self) -> None:
        if self.state != "held":
            return
        self.state = "released"
        self.guard._unhold(self)
        if self._plan.keys:
            await self.guard._astore_release(self)

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.state == "held":
            self.release()

    async def __aenter__(self) -> Reservation:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.state == "held":
            await self.arelease()


class SpendGuard:
    """Enforces spend and token limits before model calls, atomically across callers.

    ``store``: ``None`` (this process), a ``redis://`` URL or any :class:`SpendStore`.
    A shared store is wrapped in :class:`FailoverSpendStore` with ``fail_mode``
    (``"open"``: local fallback and a logged warning while it is down; ``"closed"``:
    :class:`SpendStoreUnavailable`). Reservations carry a lease of ``lease_seconds``
    (renewed while held, so only a crashed caller's hold lapses, within one lease) and
    settling beyond the hold is counted in ``overspend`` (per limit name: events, units),
    tagged on the reservation, logged and alerted (``kind="overspend"``) once per limit,
    scope value and period.

    >>> guard = SpendGuard([Limit.usd(0.01, per="day", scope="tenant")], alerts=AlertManager(log=False))
    >>> req = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant="acme")
    >>> with guard.reserve(req) as r:
    ...     r.settle(guard.cost_of(TokenUsage(input_tokens=1000, output_tokens=120), "gpt-4o-mini"))
    >>> round(guard.spent(guard.limits[0], "acme"), 6)
    0.000222
    """

    def __init__(
        self,
        limits: Sequence[Limit],
        *,
        store: Any = None,
        fail_mode: Literal["open", "closed"] = "open",
        price_book: Any = None,
        alerts: AlertManager | None = None,
        lease_seconds: float = 30.0,
        max_hold_seconds: float = 3600.0,
        default_output_tokens: int = 4096,
        clock: Callable[[], float] = time.time,
        key_prefix: str = "llm_cost_hooks",
    ) -> None:
        if fail_mode not in ("open", "closed"):
            # Checked whatever the store: a typo must not wait for the move to Redis to show.
            raise ConfigurationError(f"fail_mode must be 'open' or 'closed', got {fail_mode!r}.")
        for lim in limits:
            if not isinstance(lim, Limit):
                raise ConfigurationError(f"limits must be Limit objects, got {type(lim).__name__}.")
        names = [lim.name for lim in limits]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"limit names must be unique; got {names}. Give each a name=.")
        self._limits = tuple(limits)
        self._request_limits = [lim for lim in self._limits if lim.period == "request"]
        self._period_limits = [lim for lim in self.limits if lim.period != "request"]
        # What each plan reads of a per-request limit (Limit fields are frozen).
        self._request_checks = [(lim, lim.route, lim.metric, lim.amount) for lim in self._request_limits]
        if store is None:
            self.store: Any = InProcessSpendStore()
        elif isinstance(store, str):
            if not store.startswith(("redis://", "rediss://", "unix://")):
                raise ConfigurationError(f"store URL must be redis://..., got {store!r}.")
            self.store = FailoverSpendStore(RedisSpendStore(store, prefix=key_prefix), fail_mode=fail_mode)
        elif isinstance(store, (RedisSpendStore,)):
            self.store = FailoverSpendStore(store, fail_mode=fail_mode)
        else:
            self.store = store
        self._price_book = price_book
        self._prices: dict[tuple[str, str | None], Any] = {}
        self._flat_rates: dict[tuple[str, str | None], tuple[float, float]] = {}
        # A subclass's estimate() is asked for every plan (no flat-rate shortcut past it).
        self._own_estimate = type(self).estimate is not SpendGuard.estimate
        self._scopes_cache: dict[tuple[str | None, ...], _Scopes] = {}
        # Per period limit, what every plan repeats: key prefix, limit in store units, USD?,
        # and the settled total below which it raises no alert.
        self._period_info = [
            (lim, f"b:{lim.name}:{lim.scope}:", units, lim.metric == "usd", _quiet_below(lim, units))
            for lim in self._period_limits
            for units in (round(lim.amount * lim.scale),)
        ]
        self.alerts = alerts if alerts is not None else AlertManager()
        self.lease_seconds = lease_seconds
        self.max_hold_seconds = max_hold_seconds
        self.overspend: dict[str, list[int]] = {}  # limit name -> [events, units]
        self._held: dict[str, weakref.ref[Reservation]] = {}
        self._renewer: threading.Thread | None = None
        self._renewer_pid = 0
        if isinstance(self.store, FailoverSpendStore) and self.store.on_replay is None:
            self.store.on_replay = self._on_replay
        primary = getattr(self.store, "primary", self.store)
        if isinstance(primary, RedisSpendStore) and primary.on_restore is None:
            primary.on_restore = self._on_restore
        self.default_output_tokens = default_output_tokens
        self.clock = clock
        self._fired: set[str] = set()
        self._periods: dict[str, tuple[float, str, Any, float]] = {}
        self._anomalies = AnomalyMonitor(self.alerts, self.store, clock, self._fire)
        self._lock = threading.Lock()

    @property
    def limits(self) -> tuple[Limit, ...]:
        """The guard's limits, read-only: every plan is built from them, so a change in place
        would be ignored. To change a limit at run time, build a new :class:`SpendGuard` on
        the same ``store``: the spend so far carries over and the new amounts apply."""
        return self._limits

    # -- prices ---------------------------------------------------------------------------
    @property
    def price_book(self) -> Any:
        if self._price_book is None:
            from ..pricing import PriceBook

            self._price_book = PriceBook.default()
        return self._price_book

    def _price(self, model: str, provider: str | None) -> Any:
        key = (model, provider)
        price = self._prices.get(key)
        if price is None:
            price = self._prices[key] = self.price_book.lookup(model, provider)
            if not (price.tiers or price.range_tiers or price.off_peak):
                # Rates that depend on neither the prompt's size nor the hour: read once.
                rates = price.rates_for(0)
                self._flat_rates[key] = (rates.input, max(rates.output, rates.reasoning or 0.0))
        return price

    def estimate(self, request: SpendRequest) -> tuple[float, float, float, int]:
        """``(input USD, output USD per token, worst-case USD, output cap)`` of a request:
        counted input x input price + output cap x output price. A subclass may override it
        (say, to add a margin): every reservation then asks it, including a ``shrink_output``
        policy's smaller retry."""
        price = self._price(request.model, request.provider)
        flat = self._flat_rates.get((request.model, request.provider))
        if flat is not None:
            in_rate, out_rate = flat
        else:
            rates = price.rates_for(request.input_tokens)
            in_rate, out_rate = rates.input, max(rates.output, rates.reasoning or 0.0)
        cap = request.max_output_tokens or price.max_output_tokens or self.default_output_tokens
        input_usd = request.input_tokens * in_rate
        return input_usd, out_rate, input_usd + cap * out_rate, cap

    def cost_of(self, usage: TokenUsage, model: str, provider: str | None = None) -> float:
        """The real cost of a finished call (same price book)."""
        return float(self.price_book.cost(usage, model, provider).total)

    # -- planning (no I/O) ----------------------------------------------------------------
    def _plan(
        self, request: SpendRequest, cap: int | None = None, shrunk_by: str | None = None
    ) -> _Plan | Downgrade:
        if cap is not None:
            request = request.model_copy(update={"max_output_tokens": cap})
        flat = None if self._own_estimate else self._flat_rates.get((request.model, request.provider))
        if flat is not None and request.max_output_tokens:
            # What estimate() gives for a price read before, without its lookups.
            cap = request.max_output_tokens
            input_usd = request.input_tokens * flat[0]
            out_rate = flat[1]
            worst = input_usd + cap * out_rate
        else:
            input_usd, out_rate, worst, cap = self.estimate(request)
        for lim, route, metric, amount in self._request_checks:
            if route is not None and route != request.route:
                continue
            value: float
            if metric == "input_tokens":
                value = request.input_tokens
            elif metric == "output_tokens":
                value = cap
            else:
                value = worst
            if value <= amount:
                continue
            error = BudgetExceeded(lim.name, limit=lim.amount, spent=0.0, requested=value, unit=lim.unit)
            if lim.on_breach == "shrink_output":
                new_cap = (
                    int(lim.amount)
                    if lim.metric == "output_tokens"
                    else (math.floor((lim.amount - input_usd) / out_rate) if out_rate > 0 else cap)
                )
                if new_cap >= lim.min_output_tokens and new_cap < cap:
                    return self._plan(request, new_cap, lim.name)
                raise error
            if lim.on_breach == "downgrade" and lim.downgrade_to != request.model:
                return Downgrade(lim.name, lim.downgrade_to, request.model, error)
            raise error
        if not self._period_info:
            return _Plan(request, input_usd, out_rate, worst, cap, shrunk_by=shrunk_by)
        now = self.clock()
        scopes = self._scopes(request, now)
        tokens = request.input_tokens + cap
        worst_units = math.ceil(worst * NANO)
        return _Plan(
            request,
            input_usd,
            out_rate,
            worst,
            cap,
            scopes,
            [worst_units if usd else tokens for usd in scopes.usd],
            # Keep the counters a day past the reset for reports; then Redis drops them.
            [int(resets_ts - now) + 86_400 for resets_ts in scopes.resets_ts],
            shrunk_by,
        )

    def _scopes(self, request: SpendRequest, now: float) -> _Scopes:
        key = (request.route, request.tenant, request.feature, request.user)
        scopes = self._scopes_cache.get(key)
        if scopes is not None and scopes.since <= now < scopes.until:
            return scopes
        scopes = _Scopes(now)
        for lim, prefix, limit_units, usd, quiet in self._period_info:
            if not lim.applies_to(request.route):
                continue
            scope_value = request.scope_value(lim.scope)
            period_id, resets, resets_ts = self._period(lim.period, now)
            scopes.keys.append(f"{prefix}{request_scope_key(request, lim.scope)}:{period_id}")
            scopes.limits.append(lim)
            scopes.limit_units.append(limit_units)
            scopes.usd.append(usd)
            scopes.quiet.append(quiet)
            scopes.scope_values.append(scope_value)
            scopes.period_ids.append(period_id)
            scopes.resets.append(resets)
            scopes.resets_ts.append(resets_ts)
            scopes.until = min(scopes.until, resets_ts)
        if len(self._scopes_cache) >= 10_000:  # many tenants or users: start over
            self._scopes_cache.clear()
        self._scopes_cache[key] = scopes
        return scopes

    def _period(self, period: Period, now: float) -> tuple[str, Any, float]:
        # Formatting a period id costs more than the rest of a plan: reuse it while
        # ``now`` stays between the time it was computed and its reset.
        cached = self._periods.get(period)
        if cached is not None and cached[0] <= now < cached[3]:
            return cached[1], cached[2], cached[3]
        period_id, resets = period_bounds(period, now)
        resets_ts = resets.timestamp()
        self._periods[period] = (now, period_id, resets, resets_ts)
        return period_id, resets, resets_ts

    def _refused(self, plan: _Plan, outcome: ReserveOutcome, attempt: int) -> _Plan | Downgrade:
        i = outcome.failed
        assert i is not None
        lim = plan.limits[i]
        committed = (outcome.spent + outcome.reserved) / lim.scale
        requested = plan.amounts[i] / lim.scale
        error = BudgetExceeded(
            lim.name,
            limit=lim.amount,
            spent=committed,
            requested=requested,
            unit=lim.unit,
            resets_at=plan.resets[i],
        )
        if lim.on_breach == "shrink_output" and attempt < 3:
            left = plan.limit_units[i] - outcome.spent - outcome.reserved
            if lim.metric == "usd":
                new_cap = (
                    math.floor((left / NANO - plan.input_usd) / plan.output_rate)
                    if plan.output_rate > 0
                    else -1
                )
            else:
                new_cap = left - plan.request.input_tokens
            new_cap = min(new_cap, plan.cap - 1)
            if new_cap >= lim.min_output_tokens:
                new = self._plan(plan.request, new_cap, lim.name)
                return new
        if lim.on_breach == "downgrade" and lim.downgrade_to != plan.request.model:
            return Downgrade(lim.name, lim.downgrade_to, plan.request.model, error)
        raise error

    def _refusal_alert(self, plan: _Plan, outcome: ReserveOutcome) -> AlertEvent:
        # Its own kind: holds are not spend, so a refusal never stands in for a threshold.
        i = outcome.failed
        assert i is not None
        scale = plan.limits[i].scale
        spent = (outcome.spent + outcome.reserved) / scale
        event = _plan_event(plan, i, "refused", spent, requested=plan.amounts[i] / scale)
        self.alerts.metric("llm_cost_hooks.budget.refused", 1.0, event.attributes())
        return event

    def _event(self, plan: _Plan, i: int, threshold: float, spent: float) -> AlertEvent:
        fraction = spent / plan.limits[i].amount
        return _plan_event(plan, i, "threshold", spent, threshold=threshold, fraction=fraction)

    # -- reserve --------------------------------------------------------------------------
    def try_reserve(self, request: SpendRequest) -> Reservation | Downgrade:
        """Hold the worst-case cost of ``request`` on every applicable limit, or return a
        :class:`Downgrade` (a limit's policy), or raise :class:`BudgetExceeded`."""
        plan = self._plan(request)
        for attempt in range(4):
            if isinstance(plan, Downgrade):
                return plan
            reservation = Reservation(self, plan)
            if not plan.keys:
                return reservation
            outcome = self.store.reserve(
                reservation.id, plan.keys, plan.limit_units, plan.amounts, plan.ttls, self.lease_seconds
            )
            if outcome.ok:
                self._held[reservation.id] = weakref.ref(reservation)
                if self._renewer_pid != _PID[0]:
                    self._hold(reservation)
                return reservation
            event = self._refusal_alert(plan, outcome)
            self._fire(event, f"refused:{plan.keys[outcome.failed or 0]}", plan.ttls[0], sync=True)
            plan = self._refused(plan, outcome, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def atry_reserve(self, request: SpendRequest) -> Reservation | Downgrade:
        """Async :meth:`try_reserve`."""
        plan = self._plan(request)
        for attempt in range(4):
            if isinstance(plan, Downgrade):
                return plan
            reservation = Reservation(self, plan)
            if not plan.keys:
                return reservation
            outcome = await self.store.areserve(
                reservation.id, plan.keys, plan.limit_units, plan.amounts, plan.ttls, self.lease_seconds
            )
            if outcome.ok:
                self._hold(reservation)
                return reservation
            event = self._refusal_alert(plan, outcome)
            await self._afire(event, f"refused:{plan.keys[outcome.failed or 0]}", plan.ttls[0])
            plan = self._refused(plan, outcome, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def reserve(self, request: SpendRequest) -> Reservation:
        """Like :meth:`try_reserve` but a downgrade policy raises :class:`DowngradeRequired`."""
        result = self.try_reserve(request)
        if isinstance(result, Downgrade):
            raise DowngradeRequired(result)
        return result

    async def areserve(self, request: SpendRequest) -> Reservation:
        result = await self.atry_reserve(request)
        if isinstance(result, Downgrade):
            raise DowngradeRequired(result)
        return result

    def charge(
        self,
        request: SpendRequest,
        cost_usd: float,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
    ) -> Reservation:
        """Count the spend of a call that ran without a reservation (a sync LiteLLM call:
        no hook can stop one before it runs). ``cost_usd`` and the tokens (default: the
        request's ``input_tokens`` and ``max_output_tokens``) are added to every period
        limit that applies to ``request``, and alerts fire as after a settlement: the
        thresholds it crosses, and ``overspend`` (reason ``over_limit``) for a total past
        a limit. Nothing is refused (the call already ran) and per-request limits do not
        apply. Returns the settled reservation.

        >>> guard = SpendGuard([Limit.usd(0.01, per="day", scope="tenant")], alerts=AlertManager(log=False))
        >>> req = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=120, tenant="acme")
        >>> guard.charge(req, 0.000222).state, round(guard.spent(guard.limits[0], "acme"), 6)
        ('settled', 0.000222)
        """
        if not isinstance(cost_usd, (int, float)) or cost_usd < 0 or math.isnan(cost_usd):
            raise ConfigurationError(f"charged cost must be a non-negative number, got {cost_usd!r}.")
        in_tok = request.input_tokens if input_tokens is None else int(input_tokens)
        out_tok = (request.max_output_tokens or 0) if output_tokens is None else int(output_tokens)
        now = self.clock()
        scopes = self._scopes(request, now) if self._period_info else _NO_SCOPES
        units = round(cost_usd * NANO)
        # Held exactly what is settled: no per-call excess, only totals past a limit alert.
        amounts = [units if usd else in_tok + out_tok for usd in scopes.usd]
        ttls = [int(resets_ts - now) + 86_400 for resets_ts in scopes.resets_ts]
        plan = _Plan(request, 0.0, 0.0, float(cost_usd), out_tok, scopes, amounts, ttls)
        reservation = Reservation(self, plan)
        reservation.settle(float(cost_usd), input_tokens=in_tok, output_tokens=out_tok)
        return reservation

    # -- store calls used by Reservation ---------------------------------------------------
    async def _astore_settle(self, r: Reservation, actual: list[int]) -> list[int]:
        spent: list[int] = await self.store.asettle(r.id, r._plan.keys, actual, r._plan.ttls)
        return spent

    def _store_release(self, r: Reservation) -> None:
        self.store.release(r.id, r._plan.keys)

    async def _astore_release(self, r: Reservation) -> None:
        await self.store.arelease(r.id, r._plan.keys)

    # -- leases ---------------------------------------------------------------------------
    def _hold(self, r: Reservation) -> None:
        # A plain weak reference: a reservation dropped without settling is not renewed.
        self._held[r.id] = weakref.ref(r)
        if self._renewer_pid != _PID[0]:  # first hold, or in a forked child
            with self._lock:
                if self._renewer_pid != _PID[0]:
                    self._renewer = threading.Thread(
                        target=_renew_loop,
                        args=(weakref.ref(self),),
                        name="llm-cost-hooks-lease-renewer",
                        daemon=True,
                    )
                    self._renewer.start()
                    self._renewer_pid = _PID[0]

    def _unhold(self, r: Reservation) -> None:
        self._held.pop(r.id, None)

    def renew_leases(self) -> int:
        """Extend the lease of every held reservation (the renewer thread calls this every
        third of ``lease_seconds``); holds older than ``max_hold_seconds`` are left to lapse."""
        now = time.monotonic()
        live = []
        for rid, ref in list(self._held.items()):
            r = ref()
            if r is None or r.state != "held" or r._created + self.max_hold_seconds <= now:
                self._held.pop(rid, None)
            else:
                live.append(r)
        if not live:
            return 0
        renew = getattr(self.store, "renew", None)
        if renew is None:
            return 0
        try:
            renew([(r.id, r._plan.keys) for r in live], self.lease_seconds)
        except Exception:
            logger.warning("llm-cost-hooks: could not renew %d budget lease(s)", len(live), exc_info=True)
            return 0
        until = now + self.lease_seconds
        for r in live:
            r.lease_until = until
        return len(live)

    # -- over-spend -----------------------------------------------------------------------
    def _limit_unit(self, name: str) -> str:
        return next((lim.unit for lim in self.limits if lim.name == name), "USD")

    def _overspent(
        self, r: Reservation, actual: list[int], spent: list[int]
    ) -> list[tuple[AlertEvent, str, int]]:
        plan = r._plan
        if not plan.keys:
            return []
        late = time.monotonic() > r.lease_until
        events = []
        for i, lim in enumerate(plan.limits):
            excess = actual[i] - plan.amounts[i]
            if excess <= 0 and not late:
                continue
            reason = LEASE_EXPIRED if late else ABOVE_RESERVATION
            units = max(excess, 0) if not late else actual[i]
            r.overspend.append((lim.name, units / lim.scale, reason))
            count = self.overspend.setdefault(lim.name, [0, 0])
            count[0] += 1
            count[1] += units
            total = (spent[i] if i < len(spent) else 0) / lim.scale
            events.append(
                (
                    self._overspend_event(plan, i, total, units / lim.scale, reason),
                    f"overspend:{plan.keys[i]}",
                    plan.ttls[i],
                )
            )
        return events

    def _overspend_event(self, plan: _Plan, i: int, spent: float, excess: float, reason: str) -> AlertEvent:
        fraction = spent / plan.limits[i].amount
        return _plan_event(plan, i, "overspend", spent, fraction=fraction, reason=reason, excess=excess)

    def _on_replay(self, keys: Sequence[str], spent: Sequence[int] | None) -> None:
        """Alerts for spend replayed from the outage journal: thresholds it crossed, and an
        ``overspend`` event (reason ``replayed``) when the shared total went past a limit."""
        self._check_totals(keys, spent, REPLAYED)

    def _on_restore(self, keys: Sequence[str], totals: Sequence[int]) -> None:
        """Alerts for the totals spend put back after a Redis restart left (reason
        ``over_limit`` past a limit)."""
        self._check_totals(keys, totals, OVER_LIMIT)

    def _check_totals(self, keys: Sequence[str], spent: Sequence[int] | None, reason: str) -> None:
        # Shared totals that changed outside a settlement of this guard's: the same
        # threshold and limit checks as after a settlement, one key at a time.
        if not spent:
            return
        for key, units in zip(keys, spent):
            found = self._limit_of_key(key)
            if found is None:
                continue
            lim, value, period_id = found
            resets = period_bounds(lim.period, self.clock())[1]
            scopes = _Scopes(-math.inf)
            scopes.keys, scopes.limits, scopes.limit_units = [key], [lim], [round(lim.amount * lim.scale)]
            scopes.usd, scopes.scope_values = [lim.metric == "usd"], [value]
            scopes.period_ids, scopes.resets = [period_id], [resets]
            ttl = int(resets.timestamp() - self.clock()) + 86_400
            no_request = SpendRequest(model="-", input_tokens=0, max_output_tokens=None)
            plan = _Plan(no_request, 0.0, 0.0, 0.0, 0, scopes, [0], [ttl])
            for event, flag, ttl in [
                *self._threshold_events(plan, [units]),
                *self._over_limit(plan, [units], reason),
            ]:
                self._fire(event, flag, ttl)

    def _over_limit(
        self, plan: _Plan, spent: Sequence[int], reason: str = OVER_LIMIT
    ) -> list[tuple[AlertEvent, str, int]]:
        """``overspend`` (``reason``, ``over_limit`` by default) for a shared total past its
        limit that no call's excess explains, e.g. after a Redis restart put back spend
        made before it; once per key, apart from the per-call excess alerts (an earlier
        call settled above its hold does not say the limit was passed)."""
        out = []
        for i, units in enumerate(spent):
            if i < len(plan.limit_units) and units > plan.limit_units[i]:
                lim = plan.limits[i]
                excess = (units - plan.limit_units[i]) / lim.scale
                event = self._overspend_event(plan, i, units / lim.scale, excess, reason)
                out.append((event, f"over_limit:{plan.keys[i]}", plan.ttls[i]))
        return out

    def _limit_of_key(self, key: str) -> tuple[Limit, str, str] | None:
        for lim in self._period_limits:
            head = f"b:{lim.name}:{lim.scope}:"
            if key.startswith(head):
                part, _, period_id = key[len(head) :].rpartition(":")
                return lim, "*" if lim.scope == "global" else scope_value_of_key(part), period_id
        return None

    # -- alerts ---------------------------------------------------------------------------
    def _threshold_events(self, plan: _Plan, spent: list[int]) -> list[tuple[AlertEvent, str, int]]:
        out = []
        fired = self._fired
        for i, units in enumerate(spent):
            lim = plan.limits[i]
            value = units / lim.scale
            fraction = value / lim.amount
            if self.alerts.metric_hooks:
                self.alerts.metric(
                    "llm_cost_hooks.budget.utilization",
                    fraction,
                    {"budget.limit": lim.name, "budget.scope_value": plan.scope_values[i]},
                )
            for t in lim.alert_at:
                if fraction >= t:
                    flag = f"{plan.keys[i]}:{t:g}"
                    if flag not in fired:  # alerted before: no event to build
                        out.append((self._event(plan, i, t, value), flag, plan.ttls[i]))
        return out

    def _fire(self, event: AlertEvent, flag: str, ttl: int, *, sync: bool = True) -> None:
        if flag in self._fired:
            return
        try:
            first = self.store.once("alert:" + flag, ttl)
        except Exception:
            # Whether another process alerted is unknown: a duplicate alert beats none.
            logger.exception("llm-cost-hooks: alert bookkeeping failed; alerting without deduplication")
            first = True
        if not first and self._claim_waiting(flag):
            return  # another worker of this machine is sending it: asked again next time
        self._remember(flag)
        if first:
            self.alerts.emit(event, self._on_delivered(flag))

    async def _afire(self, event: AlertEvent, flag: str, ttl: int) -> None:
        if flag in self._fired:
            return
        try:
            first = await self.store.aonce("alert:" + flag, ttl)
        except Exception:
            # Whether another process alerted is unknown: a duplicate alert beats none.
            logger.exception("llm-cost-hooks: alert bookkeeping failed; alerting without deduplication")
            first = True
        if not first and self._claim_waiting(flag):
            return  # another worker of this machine is sending it: asked again next time
        self._remember(flag)
        if first:
            self.alerts.emit(event, self._on_delivered(flag))

    def _claim_waiting(self, flag: str) -> bool:
        check = getattr(self.store, "claim_waiting", None)
        return bool(check("alert:" + flag)) if check is not None else False

    def _on_delivered(self, flag: str) -> Callable[[], None] | None:
        # Once the sinks are done with it, the alert's machine claim (taken while the shared
        # store was away) is marked sent; until then another worker may take it over.
        mark = getattr(self.store, "alert_sent", None)
        if mark is None:
            return None
        return lambda: mark("alert:" + flag)

    def _remember(self, flag: str) -> None:
        if len(self._fired) > 100_000:
            self._fired.clear()
        self._fired.add(flag)

    def _after_settle(
        self,
        plan: _Plan,
        spent: list[int],
        cost_usd: float,
        *,
        sync: bool = True,
        extra: Sequence[tuple[AlertEvent, str, int]] = (),
    ) -> None:
        try:
            if not extra and self._quiet(plan, spent):
                return
            for event, flag, ttl in [
                *extra,
                *self._threshold_events(plan, spent),
                *self._over_limit(plan, spent),
            ]:
                self._fire(event, flag, ttl)
            if self.alerts.anomaly is not None:
                found = self._anomalies.record(
                    request_scope_key(plan.request, self.alerts.anomaly.scope), round(cost_usd * NANO)
                )
                if found is not None:
                    self._fire(*found)
        except Exception:
            logger.exception("llm-cost-hooks: budget alerting failed")

    async def _aafter_settle(
        self,
        plan: _Plan,
        spent: list[int],
        cost_usd: float,
        extra: Sequence[tuple[AlertEvent, str, int]] = (),
    ) -> None:
        try:
            if not extra and self._quiet(plan, spent):
                return
            for event, flag, ttl in [
                *extra,
                *self._threshold_events(plan, spent),
                *self._over_limit(plan, spent),
            ]:
                await self._afire(event, flag, ttl)
            if self.alerts.anomaly is not None:
                found = await self._anomalies.arecord(
                    request_scope_key(plan.request, self.alerts.anomaly.scope), round(cost_usd * NANO)
                )
                if found is not None:
                    await self._afire(*found)
        except Exception:
            logger.exception("llm-cost-hooks: budget alerting failed")

    def _quiet(self, plan: _Plan, spent: Sequence[int]) -> bool:
        """Whether settling to ``spent`` has nothing to tell: no metric hook, no anomaly
        rule, every total below the limit's lowest alert threshold and its amount."""
        alerts = self.alerts
        return (
            not alerts.metric_hooks
            and alerts.anomaly is None
            and len(spent) <= len(plan.quiet)
            and all(map(operator.lt, spent, plan.quiet))
        )

    def check_anomalies(self) -> int:
        """Run the anomaly checks left for later (spend between two checks); the alert
        manager's timer calls this. Returns the number of scope values checked."""
        return self._anomalies.check_pending()

    # -- inspection -----------------------------------------------------------------------
    def _key(self, limit: Limit | str, scope_value: str | None, at: float | None) -> tuple[Limit, str]:
        lim = limit if isinstance(limit, Limit) else next((x for x in self.limits if x.name == limit), None)
        if lim is None or lim.period == "request":
            raise ConfigurationError(f"{limit!r} is not a period limit of this guard.")
        period_id, _ = period_bounds(lim.period, self.clock() if at is None else at)
        value = "*" if lim.scope == "global" else scope_key_part(scope_value)
        return lim, f"b:{lim.name}:{lim.scope}:{value}:{period_id}"

    def usage(
        self, limit: Limit | str, scope_value: str | None = None, *, at: float | None = None
    ) -> tuple[float, float]:
        """``(spent, reserved)`` of a period limit for one scope value (``None``: the
        requests charged to none; the adapters charge a call naming no tenant to the
        default tenant its record names, when one is set), in its unit."""
        lim, key = self._key(limit, scope_value, at)
        spent, reserved = self.store.usage(key)
        return spent / lim.scale, reserved / lim.scale

    def spent(self, limit: Limit | str, scope_value: str | None = None, *, at: float | None = None) -> float:
        return self.usage(limit, scope_value, at=at)[0]


_monotonic = time.monotonic


def _quiet_below(lim: Limit, limit_units: int) -> float:
    """The settled total (store units) below which ``lim`` raises no alert: under its
    lowest ``alert_at`` fraction, by a margin far wider than float rounding (near the line
    the exact check of ``_threshold_events`` decides), and not past the limit."""
    lowest = min(lim.alert_at, default=math.inf)
    return min(lowest * lim.amount * lim.scale * (1 - 1e-9), float(limit_units))


def _plan_event(plan: _Plan, i: int, kind: AlertKind, spent: float, **extra: Any) -> AlertEvent:
    """An alert about the plan's ``i``-th period limit."""
    lim = plan.limits[i]
    return AlertEvent(
        kind=kind,
        limit_name=lim.name,
        scope=lim.scope,
        scope_value=plan.scope_values[i],
        period=lim.period,
        period_id=plan.period_ids[i],
        spent=spent,
        unit=lim.unit,
        limit=lim.amount,
        resets_at=plan.resets[i],
        **extra,
    )


# Reservation ids: a random per-process prefix and a counter (unique across processes
# sharing a Redis store, cheaper than 16 random bytes per call); a new prefix after fork.
# One tuple, read once per id, so a thread never pairs one prefix with another's counter.
_id_state: tuple[int, str, Iterator[int]] = (0, "", itertools.count())


def _reservation_id() -> str:
    global _id_state
    state = _id_state
    if state[0] != _PID[0]:
        state = _id_state = (_PID[0], os.urandom(12).hex() + "-", itertools.count())
    return f"{state[1]}{next(state[2]):x}"


def _renew_loop(guard_ref: weakref.ref[SpendGuard]) -> None:
    # Holds a weak reference: the thread ends when its guard is gone.
    while True:
        guard = guard_ref()
        if guard is None:
            return
        interval = max(guard.lease_seconds / 3, 0.05)
        try:
            guard.renew_leases()
        except Exception:
            logger.exception("llm-cost-hooks: budget lease renewal failed")
        del guard
        time.sleep(interval)
