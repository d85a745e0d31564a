"""Pricing a call's usage: per-model prices resolved once, flat rates cached.

A price book resolves a model name once per tracker (name resolution is the slow part;
apps use few models). A price without long-context tiers, tier tables or an off-peak
schedule has the same rates for every request: those rates are kept beside it, and a
call is priced with five multiplications.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, NamedTuple

from .._errors import UnknownModelError
from .._records import CostBreakdown, Counts, TokenUsage, counts_of, service_tier_of

__all__ = ["Pricer", "RowRates", "billed_breakdown", "flat_parts", "flat_savings", "prefix_cache_savings"]

logger = logging.getLogger("llm_cost_hooks")

_NO_COST = CostBreakdown()


class _Priced(NamedTuple):
    price: Any  # a ModelPrice (or a duck-typed price of a custom price book)
    estimated: bool
    flat: Any  # its TokenRates when they never vary, else None


#: A flat-rate model's numbers for a ledger row: the five rates (input, cache read, cache
#: write, output, reasoning), what a cache-read token saves (input - cache read) and what a
#: cache-write token costs above input (cache write - input), and ``price_estimated``.
RowRates = tuple[float, float, float, float, float, float, float, bool]


def _flat_rates(price: Any) -> Any:
    from ..pricing import ModelPrice

    if type(price) is ModelPrice and not price.tiers and not price.range_tiers and price.off_peak is None:
        return price.rates_for(0)
    return None


def _row_rates(rates: Any, estimated: bool) -> RowRates | None:
    """The :data:`RowRates` of flat float rates (None for other rates: they are priced by
    :func:`flat_parts`, whose products these give exactly for floats)."""
    if rates is None or any(type(r) is not float for r in rates):
        return None
    return (
        rates.input,
        rates.cache_read,
        rates.cache_write,
        rates.output,
        rates.reasoning,
        rates.input - rates.cache_read,
        rates.cache_write - rates.input,
        estimated,
    )


def prefix_cache_savings(
    price: Any, usage: TokenUsage, *, batch: bool = False, at: datetime | None = None
) -> tuple[float, float]:
    """``(saved_usd, write_premium_usd)`` of one call's cache reads and writes.

    ``price`` is a :class:`~llm_cost_hooks.pricing.ModelPrice`.

    >>> from llm_cost_hooks.pricing import PriceBook
    >>> price = PriceBook.default().lookup("claude-sonnet-4-5")
    >>> saved, premium = prefix_cache_savings(price, TokenUsage(
    ...     input_tokens=5000, output_tokens=100, cache_read_tokens=4000, cache_write_tokens=0))
    >>> round(saved, 6)  # 4000 x ($3 - $0.30) / 1M
    0.0108
    """
    if not usage.cache_read_tokens and not usage.cache_write_tokens:
        return 0.0, 0.0
    if not batch and not _priced_apart(usage):
        # Realtime cost is linear in the rates of the request's prompt size, and moving
        # tokens between cache and plain input keeps that size: one rate lookup suffices.
        return flat_savings(price.rates_for(usage.input_tokens, at=at), counts_of(usage))
    actual = price.cost(usage, batch=batch, at=at).total
    saved = premium = 0.0
    if usage.cache_read_tokens:
        no_reads = usage.model_copy(update={"cache_read_tokens": 0})
        saved = price.cost(no_reads, batch=batch, at=at).total - actual
    if usage.cache_write_tokens:
        no_writes = usage.model_copy(update={"cache_write_tokens": 0, "cache_write_1h_tokens": 0})
        premium = actual - price.cost(no_writes, batch=batch, at=at).total
    # Float noise must not turn "no discount" into a tiny negative saving.
    return max(saved, 0.0), premium if abs(premium) > 1e-15 else 0.0


def _priced_apart(usage: TokenUsage) -> bool:
    """Whether a usage has tokens some models price at rates of their own (1-hour cache
    writes, audio, generated images) or a note on how it was billed (a service tier, writes of unknown
    lifetime, repaired counts): flat rates do not price it."""
    u = usage.__dict__
    return bool(
        u.get("cache_write_1h_tokens")
        or u.get("audio_input_tokens")
        or u.get("audio_output_tokens")
        or u.get("image_output_tokens")
        or usage.__pydantic_private__ is not None
    )


def flat_savings(rates: Any, counts: Counts) -> tuple[float, float]:
    """``(saved_usd, write_premium_usd)`` of a call's cache reads and writes at ``rates``."""
    saved = counts[2] * (rates.input - rates.cache_read)
    premium = counts[3] * (rates.cache_write - rates.input)
    # Comparisons, not max() and abs(): builtin calls cost ten times more here.
    return saved if saved > 0.0 else 0.0, premium if premium > 1e-15 or premium < -1e-15 else 0.0


def flat_parts(counts: Counts, rates: Any) -> tuple[float, float, float, float, float]:
    """The five dollar parts (input, cache read, cache write, output, reasoning) of a call's
    counts at flat rates: the products ModelPrice.cost computes, without its rate lookup."""
    inp, out, read, write, reasoning = counts
    return (
        float((inp - read - write) * rates.input),
        float(read * rates.cache_read),
        float(write * rates.cache_write),
        float((out - reasoning) * rates.output),
        float(reasoning * rates.reasoning),
    )


def billed_breakdown(total: float, usage: TokenUsage) -> CostBreakdown:
    """A known dollar total split between input and output in proportion to tokens
    (the split is unknown; the total is exact)."""
    tokens = usage.input_tokens + usage.output_tokens
    share_in = usage.input_tokens / tokens if tokens else 0.0
    return CostBreakdown(input=total * share_in, output=total - total * share_in)


class Pricer:
    """Prices usages for one tracker. Unknown models cost 0 and are flagged (and logged
    once) unless ``strict``."""

    def __init__(self, price_book: Any, strict: bool) -> None:
        self._book = price_book
        self.strict = strict
        self._priced: dict[tuple[str, str | None], _Priced] = {}
        #: (model, provider) -> RowRates of the flat-rate models priced so far: the row
        #: builder reads it directly (no call per row).
        self.row_rates: dict[tuple[str, str | None], RowRates] = {}
        self._warned: set[Any] = set()
        self._returned: dict[tuple[str, str, str | None], str] = {}

    @property
    def book(self) -> Any:
        if self._book is None:
            from ..pricing import PriceBook

            self._book = PriceBook.default()
        return self._book

    def flat(self, model: str, provider: str | None) -> tuple[Any, bool] | None:
        """``(rates, price_estimated)`` of a model priced before whose rates never vary
        (else None: price it with :meth:`price`)."""
        priced = self._priced.get((model, provider))
        if priced is None or priced.flat is None:
            return None
        return priced.flat, priced.estimated

    def billed_model(self, requested: str, returned: str, provider: str | None) -> str:
        """The name a call is billed as: the model the provider says answered (the dated
        snapshot behind an alias such as ``gpt-4o``) when the price book prices it; else the
        requested name. A requested name you gave a price override keeps it."""
        key = (requested, returned, provider)
        name = self._returned.get(key)
        if name is None:
            name = requested
            book = self.book
            overrides = getattr(book, "_overrides", None)
            mine = {e.name.lower() for e in getattr(overrides, "entries", ())}
            if requested.lower() not in mine:
                try:
                    if not book.resolve(returned, provider).estimated:
                        name = returned
                except Exception:  # unknown to the price book (or a custom book's error)
                    pass
            if len(self._returned) > 1024:  # bounded: names come from responses
                self._returned.clear()
            self._returned[key] = name
        return name

    def known(self, model: str, provider: str | None) -> Any:
        """The model's resolved price if it was priced before (else None)."""
        priced = self._priced.get((model, provider))
        return None if priced is None else priced.price

    def price(
        self,
        usage: TokenUsage,
        model: str,
        provider: str | None,
        *,
        batch: bool = False,
        at: datetime | None = None,
    ) -> tuple[CostBreakdown, bool]:
        """``(breakdown, price_estimated)`` of ``usage`` on ``model``."""
        key = (model, provider)
        try:
            priced = self._priced.get(key)
            if priced is None:
                resolved = self.book.resolve(model, provider)
                priced = self._priced[key] = _Priced(
                    resolved.price, resolved.estimated, _flat_rates(resolved.price)
                )
                row_rates = _row_rates(priced.flat, priced.estimated)
                if row_rates is not None:
                    self.row_rates[key] = row_rates
            rates = priced.flat
            if rates is None or batch or _priced_apart(usage):
                price, estimated = priced.price, priced.estimated
                notes = usage.__pydantic_private__
                if notes:
                    tier = notes.get("service_tier")
                    if tier and not batch:
                        price, estimated = self._tiered(price, estimated, model, tier)
                    if notes.get("write_ttls_unknown"):
                        estimated = True
                        self._warn_once(
                            ("ttl", model),
                            "llm-cost-hooks: a streamed %r call mixed 1-hour and 5-minute cache "
                            "markers and its usage does not split the cache writes by lifetime; "
                            "they are recorded at the 5-minute rate (the least they cost), "
                            "flagged price_estimated.",
                            model,
                        )
                if usage.image_output_tokens and getattr(price, "image_output_per_token", None) is None:
                    estimated = True
                    self._warn_once(
                        ("image", model),
                        "llm-cost-hooks: %r reported image output tokens and the price map has no "
                        "image output rate for it; they are recorded at the text output rate, "
                        "flagged price_estimated.",
                        model,
                    )
                # ``at``: the billing moment, for providers with off-peak prices.
                return price.cost(usage, batch=batch, at=at), estimated
            return CostBreakdown._of(*flat_parts(counts_of(usage), rates)), priced.estimated
        except UnknownModelError as exc:
            if self.strict:
                raise
            if model not in self._warned:
                self._warned.add(model)
                logger.warning("llm-cost-hooks: %s Recording it at $0, flagged price_estimated.", exc)
            return _NO_COST, True
        except Exception as exc:
            if self.strict:
                raise
            if ("pricing", model, type(exc)) not in self._warned:
                # Once per model and kind of failure: a broken price book fails every call.
                self._warned.add(("pricing", model, type(exc)))
                logger.exception(
                    "llm-cost-hooks: pricing %r failed; recorded at $0, flagged "
                    "price_estimated (logged once per model)",
                    model,
                )
            return _NO_COST, True

    def _tiered(self, price: Any, estimated: bool, model: str, tier: str) -> tuple[Any, bool]:
        """A model's price on the service tier that served a call; the standard price,
        flagged estimated and warned about once per model and tier, when the price map
        has no rates for that tier."""
        for_tier = getattr(price, "for_tier", None)  # a custom price book's price may lack it
        tiered, priced = for_tier(tier) if for_tier is not None else (price, False)
        if not priced:
            self._warn_once(
                ("tier", model, tier),
                "llm-cost-hooks: the price map has no %r service-tier rates for %r (or your price "
                "override of it gives none); its calls on that tier are recorded at the standard "
                "rates, flagged price_estimated.",
                tier,
                model,
            )
        return tiered, estimated or not priced

    def _warn_once(self, key: Any, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message, *args)

    def prefix_savings(
        self, usage: TokenUsage, model: str, provider: str | None, *, batch: bool, at: datetime | None
    ) -> tuple[float, float] | None:
        """What provider prefix caching saved on this call, and what its writes cost above
        input: ``(saved_usd, write_premium_usd)``; None for a model without a price."""
        priced = self._priced.get((model, provider))
        if priced is None:
            return None
        if priced.flat is not None and not batch and not _priced_apart(usage):
            return flat_savings(priced.flat, counts_of(usage))
        price = priced.price
        tier = service_tier_of(usage)
        if tier and not batch and getattr(price, "for_tier", None) is not None:
            price = price.for_tier(tier)[0]
        return prefix_cache_savings(price, usage, batch=batch, at=at)
