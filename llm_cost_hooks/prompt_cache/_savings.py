"""What provider prefix caching saved, what its writes cost, and which breakpoints lose money.

Per call (the tracker records these on every :class:`~llm_cost_hooks.CostRecord` that
reports cached tokens)::

    saved_usd          = cost(usage with the cache reads billed as input) - cost(usage)
                       = cache_read_tokens  x (input rate - cache-read rate)   (flat rates)
    write_premium_usd  = cost(usage) - cost(usage with the cache writes billed as input)
                       = cache_write_tokens x (cache-write rate - input rate)  (flat rates)

Both are computed by the price book itself, so long-context tiers, batch and off-peak
rates apply exactly as on the bill. Per breakpoint (prompt version x model) over a ledger::

    net_usd = read savings - write premiums

A breakpoint with ``net_usd < 0`` is written more often than it is read: each write
costs ``write - input`` per token more than plain input and each read saves
``input - read``, so it pays off only above ``(write - input) / (input - read)`` read
tokens per written token (0.28 on Anthropic's 1.25x / 0.1x rates).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from .._records import CacheStatus, CostRecord
from ..tracking._builder import CACHE_WRITE_PREMIUM_TAG
from ..tracking._pricing import prefix_cache_savings

__all__ = [
    "CACHE_WRITE_PREMIUM_TAG",
    "BreakpointEconomics",
    "breakpoint_economics",
    "prefix_cache_savings",
]

# Set by the batch queue (llm_cost_hooks.batch) on the answers it records.
_BATCH_SAVED_TAG = "batch.saved_usd"


class BreakpointEconomics(BaseModel):
    """Cache reads against cache writes of one prompt version on one model; a row of
    :func:`breakpoint_economics`.

    >>> from llm_cost_hooks import CostRecord
    >>> write = CostRecord(model="claude-sonnet-4-5", prompt_version="v1", input_tokens=3000,
    ...                    cache_write_tokens=3000)
    >>> read = CostRecord(model="claude-sonnet-4-5", prompt_version="v1", input_tokens=3000,
    ...                   cache_read_tokens=3000)
    >>> [row] = breakpoint_economics([write] + [read] * 4)
    >>> row.calls_writing, row.calls_reading, row.reads_per_write, row.loses_money
    (1, 4, 4.0, False)
    >>> round(row.read_savings_usd, 4), round(row.write_premium_usd, 5), round(row.net_usd, 5)
    (0.0324, 0.00225, 0.03015)
    """

    prompt_version: str | None
    model: str
    calls: int
    calls_writing: int
    calls_reading: int
    cache_write_tokens: int
    cache_read_tokens: int
    read_savings_usd: float
    write_premium_usd: float
    net_usd: float
    reads_per_write: float
    breakeven_reads_per_write: float | None
    loses_money: bool


def breakpoint_economics(
    records: Iterable[CostRecord], *, price_book: Any = None
) -> list[BreakpointEconomics]:
    """Per (prompt version, model): read savings, write premiums and whether the
    breakpoints there lose money. Worst first.

    >>> from llm_cost_hooks import CostRecord
    >>> rows = breakpoint_economics([CostRecord(model="claude-sonnet-4-5", prompt_version="v1",
    ...     input_tokens=3000, cache_write_tokens=3000)] * 5)
    >>> rows[0].loses_money, round(rows[0].net_usd, 6)  # 5 writes x 3000 x $0.75/M, no reads
    (True, -0.01125)
    """
    from ._rules import resolve_cache_rule

    groups: dict[tuple[str | None, str], dict[str, Any]] = {}
    for r in records:
        g = groups.setdefault((r.prompt_version, r.model), {
            "calls": 0, "w_calls": 0, "r_calls": 0, "w": 0, "r": 0, "saved": 0.0, "premium": 0.0,
        })  # fmt: skip
        g["calls"] += 1
        g["w"] += r.cache_write_tokens
        g["r"] += r.cache_read_tokens
        g["w_calls"] += 1 if r.cache_write_tokens else 0
        g["r_calls"] += 1 if r.cache_read_tokens else 0
        premium_tag = r.tags.get(CACHE_WRITE_PREMIUM_TAG) if r.tags else None
        accounted = premium_tag is not None or r.cache_status is CacheStatus.PROVIDER_PREFIX
        if accounted:
            # The tracker already priced this call's reads and writes (tier-exact).
            g["premium"] += float(premium_tag or 0.0)
            if r.cache_status is CacheStatus.PROVIDER_PREFIX:
                # A batch answer's saved_usd also holds the batch API's saving (tagged).
                g["saved"] += r.saved_usd - float((r.tags or {}).get(_BATCH_SAVED_TAG) or 0.0)
            if premium_tag is not None or not r.cache_write_tokens:
                continue
            rule = resolve_cache_rule(r.model, r.provider, price_book=price_book)
            g["premium"] += r.cache_write_tokens * (rule.cache_write_rate - rule.input_rate)
            continue
        # Records written before savings accounting: recompute from the price book.
        rule = resolve_cache_rule(r.model, r.provider, price_book=price_book)
        g["saved"] += r.cache_read_tokens * rule.read_discount
        g["premium"] += r.cache_write_tokens * (rule.cache_write_rate - rule.input_rate)
    rows: list[BreakpointEconomics] = []
    for (version, model), g in groups.items():
        if not g["w"] and not g["r"]:
            continue
        rule = resolve_cache_rule(model, price_book=price_book)
        breakeven = rule.write_premium / rule.read_discount if rule.read_discount > 0 else None
        net = g["saved"] - g["premium"]
        rows.append(BreakpointEconomics(
            prompt_version=version, model=model, calls=g["calls"], calls_writing=g["w_calls"],
            calls_reading=g["r_calls"], cache_write_tokens=g["w"], cache_read_tokens=g["r"],
            read_savings_usd=g["saved"], write_premium_usd=g["premium"], net_usd=net,
            reads_per_write=(g["r"] / g["w"]) if g["w"] else float("inf"),
            breakeven_reads_per_write=breakeven, loses_money=net < 0,
        ))  # fmt: skip
    rows.sort(key=lambda row: row.net_usd)
    return rows
