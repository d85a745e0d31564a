"""From a model call's raw numbers to its priced, attributed :class:`CostRecord`.

The tracker captures a :class:`RawCall` when a call ends; a :class:`RecordBuilder`
prices it and builds the record, on the caller's thread or (deferred) on the ledger's
writer. It reads only the call and the price book: never the tracker.
"""

from __future__ import annotations

import json
import logging
from datetime import timezone
from typing import Any

from .._records import (
    CacheStatus,
    CostBreakdown,
    CostRecord,
    Counts,
    TokenUsage,
    counts_of,
    service_tier_of,
    storable_text,
    usage_invalid,
    utc_isoformat,
    utc_isoformat_ns,
)
from ._pricing import Pricer, _priced_apart, billed_breakdown
from ._runs import Attribution, RunInfo, TaskState

__all__ = ["CACHE_WRITE_PREMIUM_TAG", "RawCall", "RecordBuilder"]

logger = logging.getLogger("llm_cost_hooks")

#: Record tag holding the extra dollars a call paid for cache writes (above plain input).
CACHE_WRITE_PREMIUM_TAG = "prompt_cache.write_premium_usd"
# Token counts this many times the model's context window (or output limit) are flagged
# ``usage_implausible``; without a known window, counts above _IMPLAUSIBLE_TOKENS are.
_IMPLAUSIBLE_FACTOR = 10
_IMPLAUSIBLE_TOKENS = 20_000_000
# Below this many tokens a call is never implausible (skips the check on the hot path).
_PLAUSIBLE_TOKENS = 100_000
_NO_USAGE = TokenUsage()
_NO_COST = CostBreakdown()
_UTC = timezone.utc
# Members read once: an attribute of an Enum class goes through its metaclass's
# __getattr__ (about 900 instructions a read).
_MISS = CacheStatus.MISS
_PROVIDER_PREFIX = CacheStatus.PROVIDER_PREFIX
# Attributions whose tags' JSON is kept; cleared when full.
_TAGS_JSON_MAX = 1024


class RawCall:
    """A model call as it ended: its run and the numbers the provider reported.

    ``usage`` is a :class:`TokenUsage`, or plain ``Counts`` the provider reported in good
    order (the row path reads them without building the usage object)."""

    __slots__ = (
        "batch",
        "billed_usd",
        "cache_status",
        "end_ns",
        "error_type",
        "model",
        "run",
        "saved_usd",
        "tokens_estimated",
        "usage",
    )

    def __init__(
        self,
        run: RunInfo,
        usage: TokenUsage | Counts,
        model: str,
        end_ns: int,
        cache_status: CacheStatus = CacheStatus.MISS,
        saved_usd: float | None = None,
        batch: bool = False,
        billed_usd: float | None = None,
        tokens_estimated: bool = False,
        error_type: str | None = None,
    ) -> None:
        self.run = run
        self.usage = usage
        self.model = model
        self.end_ns = end_ns
        self.cache_status = cache_status
        self.saved_usd = saved_usd
        self.batch = batch
        self.billed_usd = billed_usd
        self.tokens_estimated = tokens_estimated
        self.error_type = error_type  # set for a failed call


def _usage_of(call: RawCall) -> TokenUsage:
    """The call's usage as a :class:`TokenUsage` (made once from plain counts)."""
    usage = call.usage
    if isinstance(usage, tuple):
        usage = call.usage = TokenUsage._counted(usage)
    return usage


class RecordBuilder:
    """Prices raw calls and builds their records."""

    def __init__(self, pricer: Pricer, default_tenant: str | None) -> None:
        self.pricer = pricer
        self._row_rates = pricer.row_rates
        self.default_tenant = default_tenant
        self._warned: set[Any] = set()
        # The JSON of each attribution's tags (id -> attribution, its tags, their JSON):
        # calls repeat the same few attributions (memoised and shared), and dumping the
        # tags costs more than the rest of a row. The attribution is kept in the value so
        # its id is not reused while the entry lives.
        self._tags_json: dict[int, tuple[Attribution, dict[str, str], str]] = {}

    def build(self, call: RawCall) -> CostRecord:
        _usage_of(call)
        usage, breakdown, cache_status, saved_usd, price_estimated, premium = self._price(call)
        return self._record(call, usage, breakdown, cache_status, saved_usd, price_estimated, premium)

    def row(self, call: RawCall, task: TaskState | None) -> tuple[Any, ...]:
        """The call's ledger row (``RECORD_COLUMNS`` order, what ``record_to_row`` makes of
        :meth:`build`'s record), built without the record: when nothing else reads the
        record, the writer skips making one. Counts the call in ``task``."""
        return self._row(call, task, False)[0]

    def row_and_record(self, call: RawCall, task: TaskState | None) -> tuple[tuple[Any, ...], CostRecord]:
        """The call's ledger row and the record :meth:`build` makes (equal to it), priced
        once: for a store that writes rows while observers read the record. Counts the
        call in ``task``."""
        row, record = self._row(call, task, True)
        assert record is not None
        return row, record

    def _row(
        self, call: RawCall, task: TaskState | None, with_record: bool
    ) -> tuple[tuple[Any, ...], CostRecord | None]:
        run, usage, model, error_type = call.run, call.usage, call.model, call.error_type
        provider = run.provider
        flat = (
            self._row_rates.get((model, provider))
            if error_type is None
            and call.billed_usd is None
            and call.cache_status is _MISS
            and not call.batch
            # 1-hour cache writes and audio have rates of their own: priced by _price below.
            and (isinstance(usage, tuple) or not _priced_apart(usage))
            else None
        )
        breakdown: CostBreakdown | None = None
        if flat is not None:
            # The common call (a model with flat float rates, priced before): what _price
            # does for it (flat_parts' and flat_savings' products, the same floats), inline.
            r_in, r_read, r_write, r_out, r_reason, read_saves, write_costs, price_estimated = flat
            counts = usage if isinstance(usage, tuple) else counts_of(usage)
            inp, out, read, write, reasoning = counts
            parts = (
                (inp - read - write) * r_in,
                read * r_read,
                write * r_write,
                (out - reasoning) * r_out,
                reasoning * r_reason,
            )
            cache_status, saved_usd, premium = _MISS, call.saved_usd or 0.0, None
            if read:
                cache_saved = read * read_saves
                if cache_saved > 0.0:
                    cache_status = _PROVIDER_PREFIX
                    saved_usd += cache_saved
            if write:
                premium = write * write_costs
                premium = premium if premium > 1e-15 or premium < -1e-15 else 0.0
            currency = "USD"
        else:
            usage, breakdown, cache_status, saved_usd, price_estimated, premium = self._price(call)
            counts = counts_of(usage)
            b = breakdown.__dict__
            parts = (b["input"], b["cache_read"], b["cache_write"], b["output"], b["reasoning"])
            currency = b["currency"]
        a = run.attribution
        tags = a.tags
        if counts[0] + counts[1] > _PLAUSIBLE_TOKENS or (
            not isinstance(usage, tuple) and usage.__pydantic_private__ is not None
        ):
            tags = dict(tags)
            self._flag_usage(
                tags, _usage_of(call) if isinstance(usage, tuple) else usage, model, run.provider
            )
        if premium is not None and counts[3]:
            tags = {**tags, CACHE_WRITE_PREMIUM_TAG: f"{premium:.10g}"}
        ts = run._start_time
        if ts is None:
            stamp = utc_isoformat_ns(run.wall_ns)
        else:
            stamp = utc_isoformat(ts if ts.tzinfo is _UTC else ts.astimezone(_UTC))
        # The sum in CostBreakdown.total's order (the same float).
        cost = parts[0] + parts[1] + parts[2] + parts[3] + parts[4]
        saved = float(saved_usd)
        success = error_type is None
        if task is not None:
            task.add_call(cost, saved, success, counts[0], counts[1])
        provider = provider if provider is None or provider.isascii() else storable_text(provider)
        model = model if model.isascii() and len(model) <= 512 else storable_text(model)
        tenant = a.tenant or self.default_tenant
        latency_ms = (call.end_ns - run.start_ns) / 1e6
        error_text = None if error_type is None else storable_text(error_type)
        row = (
            run.run_id,
            run.task_id,
            run.parent_id,
            stamp,
            tenant,
            a.user,
            a.feature,
            a.route,
            a.prompt_version,
            provider,
            model,
            *counts,
            cost,
            *parts,
            currency,
            saved,
            # _value_: the member's value without the enum's property machinery
            cache_status._value_ if type(cache_status) is CacheStatus else str(cache_status),
            latency_ms,
            1 if success else 0,
            error_text,
            run.attempt,
            self._tags_text(a, tags) if tags else None,
            1 if call.tokens_estimated else 0,
            1 if price_estimated else 0,
        )
        if not with_record:
            return row, None
        if breakdown is None:
            breakdown = CostBreakdown._of(*parts)
        # build()'s record from the pieces priced above (one pricing for row and record).
        record = self._record(
            call,
            _usage_of(call) if isinstance(usage, tuple) else usage,
            breakdown,
            cache_status,
            saved,
            price_estimated,
            premium,
        )
        return row, record

    def _tags_text(self, a: Attribution, tags: dict[str, str]) -> str:
        """A row's tags as JSON: the attribution's, dumped once while they are unchanged,
        or the call's own (tags added to the attribution's) dumped each time."""
        known = self._tags_json.get(id(a))
        if known is not None and known[0] is a and known[1] == tags:
            return known[2]
        text = json.dumps(tags, sort_keys=True)
        if tags is a.tags:
            if len(self._tags_json) >= _TAGS_JSON_MAX:
                self._tags_json.clear()
            self._tags_json[id(a)] = (a, dict(tags), text)
        return text

    def _price(
        self, call: RawCall
    ) -> tuple[TokenUsage, CostBreakdown, CacheStatus, float, bool, float | None]:
        """``(usage recorded, breakdown, cache status, saved, price_estimated, cache-write
        premium or None)`` of a call."""
        run, usage, model = call.run, _usage_of(call), call.model
        if call.billed_usd is not None:
            breakdown, price_estimated = billed_breakdown(float(call.billed_usd), usage), False
        else:
            breakdown, price_estimated = self.pricer.price(
                usage, model, run.provider, batch=call.batch, at=run.start_time
            )
        cache_status, saved_usd = call.cache_status, call.saved_usd
        if call.error_type is not None:
            return usage, breakdown, cache_status, 0.0, price_estimated, None
        if cache_status is not _MISS:
            # A cache hit: billed nothing; saved what the original call cost by default.
            saved = breakdown.total if saved_usd is None else saved_usd
            return _NO_USAGE, _NO_COST, cache_status, saved, price_estimated, None
        # Provider prefix caching: reads are already priced at the cache-read rate; record
        # what they saved, and tag what cache writes cost above input.
        premium: float | None = None
        if (usage.cache_read_tokens or usage.cache_write_tokens) and call.billed_usd is None:
            try:
                savings = self.pricer.prefix_savings(
                    usage, model, run.provider, batch=call.batch, at=run.start_time
                )
            except Exception:
                logger.exception("llm-cost-hooks: prompt-cache savings of %r failed", model)
            else:
                if savings is not None:
                    cache_saved, premium = savings
                if savings is not None and cache_saved > 0:
                    cache_status = _PROVIDER_PREFIX
                    saved_usd = (saved_usd or 0.0) + cache_saved
        return usage, breakdown, cache_status, saved_usd or 0.0, price_estimated, premium

    def _record(
        self,
        call: RawCall,
        usage: TokenUsage,
        breakdown: CostBreakdown,
        cache_status: CacheStatus,
        saved_usd: float,
        price_estimated: bool,
        premium: float | None,
    ) -> CostRecord:
        run, model = call.run, call.model
        a = run.attribution
        tags = dict(a.tags)
        if (
            usage.__pydantic_private__ is not None
            or usage.input_tokens + usage.output_tokens > _PLAUSIBLE_TOKENS
        ):
            self._flag_usage(tags, usage, model, run.provider)
        if premium is not None and usage.cache_write_tokens:
            tags[CACHE_WRITE_PREMIUM_TAG] = f"{premium:.10g}"
        provider = run.provider
        error_type = call.error_type
        return CostRecord._trusted(
            {
                "request_id": run.run_id,
                "task_id": run.task_id,
                "parent_id": run.parent_id,
                "timestamp": run.start_time,
                "tenant": a.tenant or self.default_tenant,
                "user": a.user,
                "feature": a.feature,
                "route": a.route,
                "prompt_version": a.prompt_version,
                "provider": provider if provider is None or provider.isascii() else storable_text(provider),
                "model": model if model.isascii() and len(model) <= 512 else storable_text(model),
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cache_read_tokens": usage.cache_read_tokens,
                "cache_write_tokens": usage.cache_write_tokens,
                "reasoning_tokens": usage.reasoning_tokens,
                "cost_usd": breakdown.total,
                "cost_breakdown": breakdown,
                "saved_usd": float(saved_usd),
                "cache_status": cache_status,
                "latency_ms": (call.end_ns - run.start_ns) / 1e6,
                "success": error_type is None,
                "error_type": None if error_type is None else storable_text(error_type),
                "attempt": run.attempt,
                "tags": tags,
                "tokens_estimated": call.tokens_estimated,
                "price_estimated": price_estimated,
            }
        )

    def _flag_usage(self, tags: dict[str, str], usage: TokenUsage, model: str, provider: str | None) -> None:
        """Tag a record whose counts the provider reported broken (``usage_invalid``: the
        original values) or beyond belief (``usage_implausible``: why)."""
        tier = service_tier_of(usage)
        if tier:
            tags["service_tier"] = tier
        if usage.__pydantic_private__ and usage.__pydantic_private__.get("write_ttls_unknown"):
            tags["cache_write_lifetimes"] = "unknown"
        original = usage_invalid(usage)
        if original is not None:
            tags["usage_invalid"] = json.dumps(original, sort_keys=True)
            if ("invalid", model) not in self._warned:
                self._warned.add(("invalid", model))
                logger.warning(
                    "llm-cost-hooks: %r reported invalid token usage %s; recorded the repaired "
                    "counts, flagged with the usage_invalid tag.",
                    model,
                    original,
                )
        price = self.pricer.known(model, provider)
        limits: list[tuple[str, int, int | None]] = [
            ("input_tokens", usage.input_tokens, getattr(price, "max_input_tokens", None)),
            ("output_tokens", usage.output_tokens, getattr(price, "max_output_tokens", None)),
        ]
        for name, count, window in limits:
            ceiling = window * _IMPLAUSIBLE_FACTOR if window else _IMPLAUSIBLE_TOKENS
            if count > ceiling:
                why = (
                    f"{name}={count} is over {_IMPLAUSIBLE_FACTOR}x the model's limit of {window}"
                    if window
                    else f"{name}={count} is over {_IMPLAUSIBLE_TOKENS}"
                )
                tags["usage_implausible"] = why
                if model not in self._warned:
                    self._warned.add(model)
                    logger.warning(
                        "llm-cost-hooks: implausible usage for %r (%s); recorded as reported and "
                        "flagged with the usage_implausible tag. Check the provider's usage data.",
                        model,
                        why,
                    )
                break
