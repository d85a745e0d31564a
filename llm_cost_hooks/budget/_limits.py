"""Spend and token limits, the request they are checked against, and breach decisions."""

from __future__ import annotations

import calendar
import math
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .._errors import BudgetExceeded, ConfigurationError, DowngradeRequired
from .._options import ConfigModel

__all__ = [
    "Downgrade",
    "DowngradeRequired",
    "Limit",
    "SpendRequest",
    "period_bounds",
]

Metric = Literal["input_tokens", "output_tokens", "tokens", "usd"]
Period = Literal["request", "hour", "day", "month"]
Scope = Literal["request", "tenant", "feature", "route", "user", "global"]
OnBreach = Literal["raise", "downgrade", "shrink_output"]

#: Dollars are kept as integer nano-dollars in stores, so sums never drift.
NANO = 1_000_000_000


class Limit(BaseModel):
    """One limit and what happens when a request would break it.

    Per-request limits (``period="request"``): ``input_tokens``, ``output_tokens`` (the
    output cap) and ``usd`` (worst-case dollars of the request). Period limits
    (``hour`` / ``day`` / ``month``, UTC calendar) of ``usd`` or ``tokens`` per ``tenant``,
    ``feature``, ``route``, ``user`` or ``global``; they are reserved atomically in the
    :class:`SpendStore`. ``route`` limits a limit to one route.

    ``on_breach``: ``raise`` (:class:`~llm_cost_hooks.BudgetExceeded`), ``downgrade``
    (to ``downgrade_to``, or the router's next cheaper tier) or ``shrink_output`` (lower
    the output cap to what still fits, at least ``min_output_tokens``).

    >>> Limit.usd(10, per="day", scope="tenant").name
    'usd_per_day_per_tenant'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    metric: Metric
    amount: float
    period: Period = "request"
    scope: Scope = "request"
    route: str | None = None
    on_breach: OnBreach = "raise"
    downgrade_to: str | None = None
    min_output_tokens: int = Field(16, ge=1)
    alert_at: tuple[float, ...] = (0.5, 0.8, 1.0)

    if not TYPE_CHECKING:  # type checkers keep the fields' own signature

        def __init__(self, **data: Any) -> None:
            # The package's own error type, naming what to fix, rather than pydantic's.
            try:
                super().__init__(**data)
            except ValidationError as exc:
                problems = "; ".join(
                    ": ".join(
                        filter(None, (".".join(map(str, e["loc"])), e["msg"].removeprefix("Value error, ")))
                    )
                    for e in exc.errors()
                )
                raise ConfigurationError(f"invalid Limit: {problems}") from None

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: float) -> float:
        # NaN and infinity cannot be enforced (nor kept as integer nano-dollars); 0 or less
        # would refuse every call while looking like a limit.
        if not (math.isfinite(value) and value > 0):
            raise ValueError(
                f"the amount must be a positive, finite number (dollars or tokens), got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _check(self) -> Limit:
        if (self.period == "request") != (self.scope == "request"):
            raise ConfigurationError(
                f"limit {self.name or self.metric!r}: per-request limits use scope='request' and "
                "period limits (hour/day/month) a scope of tenant, feature, route, user or global."
            )
        if self.period != "request" and self.metric not in ("usd", "tokens"):
            raise ConfigurationError(
                f"limit {self.name or self.metric!r}: a {self.period} limit counts 'usd' or 'tokens', "
                f"not {self.metric!r}."
            )
        if self.period == "request" and self.metric == "tokens":
            raise ConfigurationError("per-request token limits are 'input_tokens' or 'output_tokens'.")
        if self.on_breach == "shrink_output" and self.metric == "input_tokens":
            raise ConfigurationError(
                "shrink_output cannot fix an input_tokens limit; use 'raise' or trim the context."
            )
        if any(not 0 < t <= 10 for t in self.alert_at):
            raise ConfigurationError(f"alert_at fractions must be in (0, 10], got {self.alert_at}.")
        if not self.name:
            base = f"{self.metric}_per_{self.period}"
            if self.scope != "request":
                base += f"_per_{self.scope}"
            if self.route:
                base += f"@{self.route}"
            object.__setattr__(self, "name", base)
        return self

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def input_tokens(cls, amount: int, **kw: object) -> Limit:
        """At most ``amount`` prompt tokens per request."""
        return cls(metric="input_tokens", amount=amount, **kw)  # type: ignore[arg-type]

    @classmethod
    def output_tokens(cls, amount: int, **kw: object) -> Limit:
        """An output cap of at most ``amount`` tokens per request."""
        return cls(metric="output_tokens", amount=amount, **kw)  # type: ignore[arg-type]

    @classmethod
    def usd_per_request(cls, amount: float, **kw: object) -> Limit:
        """At most ``amount`` dollars per request (worst case, before the call)."""
        return cls(metric="usd", amount=amount, **kw)  # type: ignore[arg-type]

    @classmethod
    def usd(cls, amount: float, *, per: Period = "day", scope: Scope = "tenant", **kw: object) -> Limit:
        """At most ``amount`` dollars per ``scope`` value per ``per``."""
        return cls(metric="usd", amount=amount, period=per, scope=scope, **kw)  # type: ignore[arg-type]

    @classmethod
    def tokens(cls, amount: int, *, per: Period = "day", scope: Scope = "tenant", **kw: object) -> Limit:
        """At most ``amount`` tokens (input + output) per ``scope`` value per ``per``."""
        return cls(metric="tokens", amount=amount, period=per, scope=scope, **kw)  # type: ignore[arg-type]

    # -- helpers ------------------------------------------------------------------------
    @property
    def unit(self) -> str:
        return "USD" if self.metric == "usd" else "tokens"

    @property
    def scale(self) -> int:
        """Store units per unit (nano-dollars for USD)."""
        return NANO if self.metric == "usd" else 1

    def applies_to(self, route: str | None) -> bool:
        return self.route is None or self.route == route


class SpendRequest(ConfigModel):
    """A model call about to be made, as the guard sees it.

    >>> SpendRequest(model="gpt-4o-mini", input_tokens=1200, max_output_tokens=300, tenant="acme").tenant
    'acme'
    """

    model_config = ConfigDict(frozen=True)

    model: str
    input_tokens: int = Field(ge=0)
    max_output_tokens: int | None = Field(None, ge=1)
    provider: str | None = None
    tenant: str | None = None
    feature: str | None = None
    route: str | None = None
    user: str | None = None

    def scope_value(self, scope: Scope) -> str:
        if scope == "global":
            return "*"
        value = getattr(self, scope, None)
        return "_unattributed" if value is None else str(value)


#: The store-key form of a request naming no value for a limit's scope.
UNATTRIBUTED_KEY = "_unattributed"


def scope_key_part(value: str | None) -> str:
    """The form of a scope value inside a store key: percent-encoded, so no two values
    share a key (``"a:b"``, ``"*"``, ``"{t}"`` are plain text there) and no tenant named
    ``"_unattributed"`` spends the pool of requests that name none. Plain ids (letters,
    digits, ``-``, ``.``) keep their form, so their counters carry over.

    >>> scope_key_part("acme"), scope_key_part(None), scope_key_part("_unattributed")
    ('acme', '_unattributed', '%5Funattributed')
    """
    if value is None:
        return UNATTRIBUTED_KEY
    out = urllib.parse.quote(value, safe="", errors="surrogatepass")
    return "%5F" + out[1:] if out.startswith("_") else out


def scope_value_of_key(part: str) -> str:
    """The scope value a :func:`scope_key_part` stands for (alerts show it)."""
    return part if part == UNATTRIBUTED_KEY else urllib.parse.unquote(part, errors="surrogatepass")


def request_scope_key(request: SpendRequest, scope: Scope) -> str:
    """The key part of ``request``'s value for ``scope`` (``*`` for the global scope)."""
    if scope == "global":
        return "*"
    value = getattr(request, scope, None)
    return scope_key_part(None if value is None else str(value))


@dataclass(frozen=True)
class Downgrade:
    """A limit asks for a cheaper model instead of refusing.

    ``to_model`` is the limit's ``downgrade_to`` (``None``: the router's next cheaper
    tier). ``error`` is the :class:`BudgetExceeded` that would otherwise be raised.

    ``SpendGuard.try_reserve`` returns it; ``SpendGuard.reserve`` raises it inside
    :class:`~llm_cost_hooks.DowngradeRequired`:

    >>> from llm_cost_hooks import AlertManager, DowngradeRequired, SpendGuard, SpendRequest
    >>> cap = Limit.usd_per_request(0.001, on_breach="downgrade", downgrade_to="gpt-4o-mini")
    >>> guard = SpendGuard([cap], alerts=AlertManager(log=False))
    >>> request = SpendRequest(model="gpt-4o", input_tokens=1000, max_output_tokens=500)
    >>> downgrade = guard.try_reserve(request)
    >>> downgrade.from_model, downgrade.to_model, downgrade.limit_name
    ('gpt-4o', 'gpt-4o-mini', 'usd_per_request')
    >>> try:
    ...     guard.reserve(request)
    ... except DowngradeRequired as exc:
    ...     print(exc.downgrade.to_model)
    gpt-4o-mini
    """

    limit_name: str
    to_model: str | None
    from_model: str
    error: BudgetExceeded


def period_bounds(period: Period, at: float) -> tuple[str, datetime]:
    """``(period id, reset time)`` of the UTC calendar period containing ``at``."""
    now = datetime.fromtimestamp(at, timezone.utc)
    if period == "hour":
        start = now.replace(minute=0, second=0, microsecond=0)
        return start.strftime("%Y%m%dT%H"), start + timedelta(hours=1)
    if period == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.strftime("%Y%m%d"), start + timedelta(days=1)
    if period == "month":
        days = calendar.monthrange(now.year, now.month)[1]
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return start.strftime("%Y%m"), start + timedelta(days=days)
    raise ConfigurationError(f"period {period!r} has no bounds")
