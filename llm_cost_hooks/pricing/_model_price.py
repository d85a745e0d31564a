"""The price of one model and the arithmetic that turns token usage into dollars.

The rules mirror LiteLLM's cost calculator (``generic_cost_per_token`` and
``batch_cost_calculator`` in LiteLLM 1.106) for text tokens, so a cost computed here
equals what ``litellm.cost_per_token`` reports for the same usage. The rules, in short:

* Token conventions: ``input_tokens`` include cache reads and cache writes;
  ``output_tokens`` include reasoning tokens.
* Long-context tiers (``*_above_<N>k_tokens`` keys): when the prompt (all input tokens,
  cached ones included) is *larger than* N tokens, every token of the request is billed
  at that tier's rates; a rate the tier does not give keeps the lower tier's (or the base)
  rate. xAI bills the tier from *exactly* N tokens on.
* Tier tables (``tiered_pricing``, Alibaba/Volcengine): one row is picked by prompt size
  and bills the whole request ("all-or-nothing").
* Off-peak schedules (``off_peak_pricing``, DeepSeek/Tencent): inside a window the
  off-peak rates replace the others; ``at`` picks the billing moment (default: now, UTC).
* A missing cache-read or cache-write rate bills those tokens at the input rate (Fireworks
  AI defaults cache reads to half the input rate, as LiteLLM does).
* Reasoning tokens bill at ``reasoning_per_token`` when the map has it, else at the output
  rate. xAI bills them as output tokens.
* Batch: see :meth:`ModelPrice.cost`.

* 1-hour cache writes (``cache_write_1h_tokens``) bill at
  ``cache_creation_input_token_cost_above_1hr`` (the long-context tier's when the prompt
  exceeds it), else at the cache-write rate.
* Audio tokens (``audio_input_tokens``, ``audio_output_tokens``) bill at
  ``input_cost_per_audio_token`` / ``output_cost_per_audio_token`` when the map has them,
  else as text.
* Image output tokens (``image_output_tokens``: Gemini 2.5 Flash Image's generated images,
  LiteLLM's ``completion_tokens_details.image_tokens``) bill at
  ``output_cost_per_image_token`` when the map has it, else at the output rate (the caller
  flags those dollars estimated).
* Service tiers (OpenAI ``flex`` and ``priority``; ``fast`` is ``priority``): each rate
  bills at its ``*_<tier>`` key (``input_cost_per_token_flex``,
  ``cache_read_input_token_cost_above_272k_tokens_priority``, ...) when the map has it,
  else at the standard rate, as LiteLLM does; reasoning tokens of a tier with its own
  output rate bill at that rate. ``default``, ``standard`` and ``auto`` are the standard
  rates. A tier the map has no input or output rate for is priced at the standard rates
  (the caller flags those dollars estimated: see :meth:`ModelPrice.cost`).

Not modelled: regional uplifts, cached audio tokens (billed at the text cache-read rate),
image input and video tokens, audio, image and 1-hour rates in batches, service tiers in
batches.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, time, timezone, tzinfo
from typing import Annotated, Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .._errors import InvalidUsageError
from .._records import CostBreakdown, TokenUsage

__all__ = [
    "ModelPrice",
    "OffPeakPricing",
    "OffPeakWindow",
    "PriceSource",
    "RangeTier",
    "ThresholdTier",
    "TokenRates",
    "coerce_usage",
]

#: A per-token price in USD: finite and non-negative.
Rate = Annotated[float, Field(ge=0, allow_inf_nan=False)]

#: Where a :class:`ModelPrice` came from.
PriceSource = Literal["litellm", "override", "fallback"]

# LiteLLM's default for Fireworks AI models whose map entry has no cache-read price
# (litellm.constants.FIREWORKS_AI_DEFAULT_CACHE_READ_RATE_RATIO).
_FIREWORKS_CACHE_READ_RATIO = 0.5

_USAGE_FIELDS = frozenset(TokenUsage.model_fields)


class ThresholdTier(BaseModel):
    """Rates that apply once the prompt is larger than ``threshold_tokens``.

    ``None`` means "this tier does not change that rate".

    >>> ThresholdTier(threshold_tokens=200_000, input_per_token=2.5e-6).input_per_token
    2.5e-06
    """

    model_config = ConfigDict(frozen=True)

    threshold_tokens: int = Field(ge=0)
    input_per_token: Rate | None = None
    output_per_token: Rate | None = None
    cache_read_per_token: Rate | None = None
    cache_write_per_token: Rate | None = None
    cache_write_1h_per_token: Rate | None = None


class RangeTier(BaseModel):
    """One row of a ``tiered_pricing`` table: it bills requests whose prompt size is in
    ``(range_start, range_end]``.

    >>> RangeTier(range_start=0, range_end=32_000, input_per_token=4.6e-7).range_end
    32000.0
    """

    model_config = ConfigDict(frozen=True)

    range_start: float
    range_end: float
    input_per_token: Rate | None = None
    output_per_token: Rate | None = None
    cache_read_per_token: Rate | None = None
    cache_write_per_token: Rate | None = None
    reasoning_per_token: Rate | None = None


class OffPeakWindow(BaseModel):
    """UTC hour ranges, optionally limited to ISO weekdays (1 = Monday ... 7 = Sunday).

    A range whose start is after its end wraps past midnight; equal start and end cover
    the whole day. ``weekdays=None`` means every day.

    >>> from datetime import time
    >>> OffPeakWindow(hours_utc=((time(16, 30), time(0, 30)),)).weekdays is None
    True
    """

    model_config = ConfigDict(frozen=True)

    hours_utc: tuple[tuple[time, time], ...]
    weekdays: frozenset[int] | None = None


class OffPeakPricing(BaseModel):
    """Rates that replace the standard ones while one of ``windows`` is open.

    Weekdays are read on the calendar of ``weekday_timezone`` (default UTC); hours are
    always UTC. A rate left ``None`` keeps the standard rate.

    >>> from datetime import datetime, time, timezone
    >>> night = OffPeakPricing(windows=(OffPeakWindow(hours_utc=((time(16, 30), time(0, 30)),)),),
    ...                        input_per_token=1e-7)
    >>> night.is_open(datetime(2025, 1, 6, 17, 0, tzinfo=timezone.utc))
    True
    """

    model_config = ConfigDict(frozen=True)

    windows: tuple[OffPeakWindow, ...]
    weekday_timezone: str | None = None
    input_per_token: Rate | None = None
    output_per_token: Rate | None = None
    cache_read_per_token: Rate | None = None
    cache_write_per_token: Rate | None = None
    reasoning_per_token: Rate | None = None

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` falls in a window. A naive ``at`` is taken as UTC."""
        moment = at.astimezone(timezone.utc) if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)
        now = moment.time().replace(tzinfo=None)
        weekday: int | None = None
        for window in self.windows:
            if window.weekdays is not None:
                if weekday is None:
                    weekday = moment.astimezone(_calendar(self.weekday_timezone)).isoweekday()
                if weekday not in window.weekdays:
                    continue
            for start, end in window.hours_utc:
                # start inclusive, end exclusive; start >= end wraps past midnight.
                if (start <= now < end) if start < end else (now >= start or now < end):
                    return True
        return False


def _calendar(name: str | None) -> tzinfo:
    if name:
        try:
            return ZoneInfo(name)
        except (ValueError, ZoneInfoNotFoundError):
            pass
    return timezone.utc


class TokenRates(NamedTuple):
    """Per-token USD rates one request pays, after tiers and off-peak windows.

    >>> ModelPrice(model="m", input_per_token=5e-7, output_per_token=1.5e-6).rates_for(1000)
    TokenRates(input=5e-07, output=1.5e-06, cache_read=5e-07, cache_write=5e-07, reasoning=1.5e-06)
    """

    input: float
    output: float
    cache_read: float
    cache_write: float
    reasoning: float


def coerce_usage(usage: TokenUsage | Mapping[str, Any]) -> TokenUsage:
    """Return ``usage`` as a validated :class:`TokenUsage`.

    A mapping may only hold :class:`TokenUsage` field names; anything wrong raises
    :class:`InvalidUsageError`.

    >>> coerce_usage({"input_tokens": 10, "output_tokens": 2}).total_tokens
    12
    """
    if isinstance(usage, TokenUsage):
        return usage
    if not isinstance(usage, Mapping):
        raise InvalidUsageError(
            f"usage must be a TokenUsage or a mapping of token counts, got {type(usage).__name__}."
        )
    unknown = sorted(str(key) for key in usage if key not in _USAGE_FIELDS)
    if unknown:
        # A silently ignored "prompt_tokens" would price a call at zero.
        raise InvalidUsageError(
            f"Unknown usage field(s) {', '.join(map(repr, unknown))}; expected some of "
            f"{', '.join(sorted(_USAGE_FIELDS))} (cache and reasoning tokens are counted "
            "inside input_tokens and output_tokens)."
        )
    try:
        return TokenUsage(**usage)
    except ValidationError as exc:
        # TokenUsage raises InvalidUsageError inside its validators and pydantic wraps it;
        # hand the caller our own error type back.
        first = exc.errors()[0]
        original = (first.get("ctx") or {}).get("error")
        if isinstance(original, InvalidUsageError):
            raise original from None
        raise InvalidUsageError(f"Invalid usage: {first.get('msg', exc)}") from None


#: The price-map key suffix of each service tier (LiteLLM's _SERVICE_TIER_TO_COST_KEY_SUFFIX).
_TIER_SUFFIX = {"flex": "flex", "balanced": "balanced", "priority": "priority", "fast": "priority",
                "ultrafast": "ultrafast"}  # fmt: skip
#: Tiers billed at the standard rates (OpenAI answers ``default`` for them; ``auto`` is a
#: request that the answer resolves).
_STANDARD_TIERS = frozenset({"default", "standard", "auto", "on_demand"})
_TIER_TAILS = tuple(f"_{suffix}" for suffix in set(_TIER_SUFFIX.values()))


def service_tier_key(tier: object) -> str | None:
    """The price-map suffix a service tier bills at (``"flex"``, ``"priority"``), None for
    the standard rates; a tier the map has no suffix for is returned lower-cased, so it is
    looked up, found missing and flagged rather than silently priced as standard.

    >>> service_tier_key("Flex"), service_tier_key("default"), service_tier_key("fast")
    ('flex', None, 'priority')
    """
    if not isinstance(tier, str) or not tier:
        return None
    name = tier.strip().lower()
    if name in _STANDARD_TIERS:
        return None
    return _TIER_SUFFIX.get(name, name)


def _exceeds(prompt_tokens: int, threshold: int, inclusive: bool) -> bool:
    return prompt_tokens > threshold or (inclusive and prompt_tokens == threshold)


class ModelPrice(BaseModel):
    """Per-token USD prices of one model, as read from the price map or an override.

    Rates are USD per token. ``None`` means the map gives no such rate (see the module
    docstring for what is billed instead).

    >>> price = ModelPrice(model="demo", input_per_token=2e-6, output_per_token=8e-6,
    ...                    cache_read_per_token=5e-7)
    >>> cost = price.cost(TokenUsage(input_tokens=1000, output_tokens=100, cache_read_tokens=400))
    >>> round(cost.input, 9), round(cost.cache_read, 9), round(cost.output, 9)
    (0.0012, 0.0002, 0.0008)
    """

    model_config = ConfigDict(frozen=True)

    model: str = Field(description="The price-map key (or override name) this price belongs to.")
    provider: str | None = Field(default=None, description="LiteLLM provider id (litellm_provider).")
    mode: str | None = None

    input_per_token: Rate = 0.0
    output_per_token: Rate = 0.0
    cache_read_per_token: Rate | None = None
    cache_write_per_token: Rate | None = None
    cache_write_1h_per_token: Rate | None = Field(
        default=None, description="1-hour cache writes (Anthropic); None: the cache-write rate."
    )
    reasoning_per_token: Rate | None = None
    audio_input_per_token: Rate | None = Field(default=None, description="Audio input; None: the input rate.")
    audio_output_per_token: Rate | None = Field(
        default=None, description="Audio output; None: the output rate."
    )
    image_output_per_token: Rate | None = Field(
        default=None, description="Generated image tokens; None: the output rate."
    )

    batch_input_per_token: Rate | None = None
    batch_output_per_token: Rate | None = None
    batch_cache_read_per_token: Rate | None = None
    batch_cache_write_per_token: Rate | None = None

    tiers: tuple[ThresholdTier, ...] = Field(default=(), description="Long-context tiers, ascending.")
    batch_tiers: tuple[ThresholdTier, ...] = Field(default=(), description="Long-context batch tiers.")
    range_tiers: tuple[RangeTier, ...] = Field(default=(), description="A tiered_pricing table.")
    off_peak: OffPeakPricing | None = None
    tier_threshold_inclusive: bool = Field(
        default=False, description="Tiers start AT the threshold (xAI) instead of above it."
    )

    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    supports_prompt_caching: bool = False
    source: PriceSource = "litellm"
    service_tiers: tuple[tuple[str, ModelPrice], ...] = Field(
        default=(), description="(suffix, the model's prices on that service tier) per tier the map prices."
    )

    @field_validator("tiers", "batch_tiers")
    @classmethod
    def _ascending(cls, tiers: tuple[ThresholdTier, ...]) -> tuple[ThresholdTier, ...]:
        # The tier walk relies on ascending thresholds (a higher tier overrides a lower one).
        return tuple(sorted(tiers, key=lambda tier: tier.threshold_tokens))

    # ------------------------------------------------------------------ pricing

    def cost(
        self,
        usage: TokenUsage | Mapping[str, Any],
        *,
        batch: bool = False,
        at: datetime | None = None,
        service_tier: str | None = None,
    ) -> CostBreakdown:
        """Price ``usage`` (a :class:`TokenUsage` or a dict of its fields).

        ``at`` is the billing moment for off-peak schedules (default: now, UTC).
        ``service_tier`` is the tier the provider says served the call (OpenAI's response
        ``service_tier``: ``flex``, ``priority``, ``default``): see the module docstring.
        A tier this price has no rates for bills at the standard rates; ``PriceBook`` and
        the trackers then flag the dollars ``price_estimated``.

        With ``batch=True`` the rules of LiteLLM's ``batch_cost_calculator`` apply:

        * If the model has a batch input price (``input_cost_per_token_batches``, or a
          ``..._above_<N>k_tokens_batches`` tier the prompt exceeds), uncached input bills
          at it; cache reads/writes bill at their batch prices when the map has them,
          otherwise they count as ordinary batch input.
        * Otherwise input bills at half the standard input rate, cache writes at half the
          cache-write rate (or half the input rate) and cache reads at half the cache-read
          rate -- free if the map has no cache-read rate, as in LiteLLM.
        * Output and reasoning tokens bill at the batch output price, or half the
          standard output rate. Long-context tiers without a ``_batches`` price, tier
          tables and off-peak schedules do not apply to batches.

        >>> price = ModelPrice(model="demo", input_per_token=2e-6, output_per_token=8e-6)
        >>> price.cost({"input_tokens": 1000, "output_tokens": 100}, batch=True).total
        0.0014
        """
        tokens = coerce_usage(usage)
        if batch:
            return self._batch_cost(tokens)
        if service_tier is not None:
            tiered = self.for_tier(service_tier)[0]
            if tiered is not self:
                return tiered.cost(tokens, at=at)
        rates = self.rates_for(tokens.input_tokens, at=at)
        hour = tokens.cache_write_1h_tokens
        cache_write = tokens.cache_write_tokens * rates.cache_write
        if hour:
            cache_write = (tokens.cache_write_tokens - hour) * rates.cache_write + hour * self._hour_rate(
                tokens.input_tokens, rates.cache_write
            )
        audio_in, audio_out = tokens.audio_input_tokens, tokens.audio_output_tokens
        input_cost = tokens.uncached_input_tokens * rates.input
        output_cost = (tokens.output_tokens - tokens.reasoning_tokens) * rates.output
        if audio_in and self.audio_input_per_token is not None:
            input_cost = (
                tokens.uncached_input_tokens - audio_in
            ) * rates.input + audio_in * self.audio_input_per_token
        image_out = tokens.image_output_tokens
        if (audio_out and self.audio_output_per_token is not None) or (
            image_out and self.image_output_per_token is not None
        ):
            # Audio and generated images bill at their own rates where the map has them
            # (Gemini 2.5 Flash Image: $30/M for images against $2.50/M for text).
            audio_out = audio_out if self.audio_output_per_token is not None else 0
            image_out = image_out if self.image_output_per_token is not None else 0
            output_cost = (
                tokens.output_tokens - tokens.reasoning_tokens - audio_out - image_out
            ) * rates.output
            if audio_out:
                output_cost += audio_out * (self.audio_output_per_token or 0.0)
            if image_out:
                output_cost += image_out * (self.image_output_per_token or 0.0)
        return CostBreakdown(
            input=input_cost,
            cache_read=tokens.cache_read_tokens * rates.cache_read,
            cache_write=cache_write,
            output=output_cost,
            reasoning=tokens.reasoning_tokens * rates.reasoning,
        )

    def rates_for(self, prompt_tokens: int, *, at: datetime | None = None) -> TokenRates:
        """The per-token rates a realtime request with ``prompt_tokens`` input tokens pays.

        Returns a named tuple ``(input, output, cache_read, cache_write, reasoning)``.

        >>> ModelPrice(model="demo", input_per_token=1e-6, output_per_token=2e-6,
        ...            tiers=(ThresholdTier(threshold_tokens=200_000, input_per_token=3e-6),)
        ...            ).rates_for(250_000).input
        3e-06
        """
        off_peak = self.off_peak
        if off_peak is not None and not off_peak.is_open(at or datetime.now(timezone.utc)):
            off_peak = None

        base_cache_read = self.cache_read_per_token
        off_peak_cache_read = off_peak.cache_read_per_token if off_peak else None
        if base_cache_read is None and (self.provider or "").startswith("fireworks_ai"):
            # LiteLLM's with_default_cache_read_rate for Fireworks AI.
            base_cache_read = self.input_per_token * _FIREWORKS_CACHE_READ_RATIO
            if off_peak is not None and off_peak_cache_read is None:
                off_peak_cache_read = (
                    off_peak.input_per_token * _FIREWORKS_CACHE_READ_RATIO
                    if off_peak.input_per_token is not None
                    else base_cache_read
                )

        row = self._range_tier_for(prompt_tokens)
        if row is not None:
            assert row.input_per_token is not None  # _range_tier_for only picks priced rows
            input_rate = row.input_per_token
            output_rate = row.output_per_token if row.output_per_token is not None else self.output_per_token
            # A row never mixes tiers: cache rates it does not give bill at its input rate.
            cache_read = row.cache_read_per_token if row.cache_read_per_token is not None else input_rate
            cache_write = row.cache_write_per_token if row.cache_write_per_token is not None else input_rate
        else:
            input_rate, output_rate = self.input_per_token, self.output_per_token
            cache_read_opt, cache_write_opt = base_cache_read, self.cache_write_per_token
            for tier in self.tiers:  # ascending, so the largest exceeded threshold wins
                if not _exceeds(prompt_tokens, tier.threshold_tokens, self.tier_threshold_inclusive):
                    continue
                input_rate = _first(tier.input_per_token, input_rate)
                output_rate = _first(tier.output_per_token, output_rate)
                cache_read_opt = _first(tier.cache_read_per_token, cache_read_opt)
                cache_write_opt = _first(tier.cache_write_per_token, cache_write_opt)
            # No published cache price: the provider bills those tokens as ordinary input.
            fill = (
                off_peak.input_per_token if off_peak and off_peak.input_per_token is not None else input_rate
            )
            cache_read = fill if cache_read_opt is None else cache_read_opt
            cache_write = fill if cache_write_opt is None else cache_write_opt

        if off_peak is not None:
            input_rate = _first(off_peak.input_per_token, input_rate)
            output_rate = _first(off_peak.output_per_token, output_rate)
            cache_read = _first(off_peak_cache_read, cache_read)
            cache_write = _first(off_peak.cache_write_per_token, cache_write)

        if off_peak is not None and off_peak.reasoning_per_token is not None:
            reasoning = off_peak.reasoning_per_token
        elif row is not None and (row.reasoning_per_token is not None or row.output_per_token is not None):
            reasoning = _first(row.reasoning_per_token, row.output_per_token or 0.0)
        elif self.reasoning_per_token is not None:
            reasoning = self.reasoning_per_token
        else:
            reasoning = output_rate
        return TokenRates(input_rate, output_rate, cache_read, cache_write, reasoning)

    def for_tier(self, service_tier: str | None) -> tuple[ModelPrice, bool]:
        """``(price, priced)``: this model's prices on ``service_tier`` and whether the map
        prices that tier (False: the standard prices, to be flagged estimated).

        >>> from llm_cost_hooks.pricing import PriceBook
        >>> flex, priced = PriceBook.default().lookup("gpt-5").for_tier("flex")
        >>> flex.input_per_token, priced
        (6.25e-07, True)
        """
        suffix = service_tier_key(service_tier)
        if suffix is None:
            return self, True
        for name, price in self.service_tiers:
            if name == suffix:
                return price, True
        return self, False

    def _hour_rate(self, prompt_tokens: int, write_rate: float) -> float:
        # The largest exceeded tier's 1-hour rate, else the flat one, else a plain write.
        rate = self.cache_write_1h_per_token
        for tier in self.tiers:
            if tier.cache_write_1h_per_token is not None and _exceeds(
                prompt_tokens, tier.threshold_tokens, self.tier_threshold_inclusive
            ):
                rate = tier.cache_write_1h_per_token
        return write_rate if rate is None else rate

    def _range_tier_for(self, prompt_tokens: int) -> RangeTier | None:
        # LiteLLM's select_tier_for_input: the row with start < tokens <= end, else the
        # last (most expensive) row; a row without an input price means "no table".
        if not self.range_tiers or prompt_tokens <= 0:
            return None
        rows = sorted(self.range_tiers, key=lambda row: row.range_start)
        chosen = next((row for row in rows if row.range_start < prompt_tokens <= row.range_end), rows[-1])
        return chosen if chosen.input_per_token is not None else None

    def _batch_rate(self, flat: float | None, field: str, prompt_tokens: int) -> float | None:
        # Per rate: the largest exceeded batch tier that gives this rate, else the flat
        # batch rate (LiteLLM's _batch_rate_for_prefix).
        rate, threshold = flat, -1
        for tier in self.batch_tiers:
            tier_rate: float | None = getattr(tier, field)
            if (
                tier_rate is not None
                and tier.threshold_tokens > threshold
                and _exceeds(prompt_tokens, tier.threshold_tokens, self.tier_threshold_inclusive)
            ):
                rate, threshold = tier_rate, tier.threshold_tokens
        return rate

    def _batch_cost(self, tokens: TokenUsage) -> CostBreakdown:
        prompt = tokens.input_tokens
        batch_input = self._batch_rate(self.batch_input_per_token, "input_per_token", prompt)
        batch_output = self._batch_rate(self.batch_output_per_token, "output_per_token", prompt)
        batch_read = self._batch_rate(self.batch_cache_read_per_token, "cache_read_per_token", prompt)
        batch_write = self._batch_rate(self.batch_cache_write_per_token, "cache_write_per_token", prompt)

        input_cost = cache_read_cost = cache_write_cost = 0.0
        if batch_input is not None:
            # Cached tokens without a batch cache price are just batch input.
            read = tokens.cache_read_tokens if batch_read is not None else 0
            written = tokens.cache_write_tokens if batch_write is not None else 0
            input_cost = max(prompt - read - written, 0) * batch_input
            cache_read_cost = read * (batch_read or 0.0)
            cache_write_cost = written * (batch_write or 0.0)
        elif self.input_per_token:
            input_cost = tokens.uncached_input_tokens * self.input_per_token / 2
            cache_read_cost = tokens.cache_read_tokens * (self.cache_read_per_token or 0.0) / 2
            cache_write_cost = (
                tokens.cache_write_tokens * (self.cache_write_per_token or self.input_per_token) / 2
            )

        output_rate = batch_output if batch_output is not None else self.output_per_token / 2
        return CostBreakdown(
            input=input_cost,
            cache_read=cache_read_cost,
            cache_write=cache_write_cost,
            output=(tokens.output_tokens - tokens.reasoning_tokens) * output_rate,
            reasoning=tokens.reasoning_tokens * output_rate,
        )


def _first(value: float | None, default: Any) -> Any:
    return default if value is None else value


# ---------------------------------------------------------------------- map parsing


def parse_rate(value: object) -> float | None:
    """A price-map number as a float; ``None`` for absent, non-numeric, negative or NaN.

    The map is data we do not control: LiteLLM reads numeric strings too.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    if not math.isfinite(number) or number < 0:
        return None
    return number


def _parse_int(value: object) -> int | None:
    number = parse_rate(value)
    return int(number) if number is not None else None


_TIER_FIELDS = {
    "input_cost_per_token": "input_per_token",
    "output_cost_per_token": "output_per_token",
    "cache_read_input_token_cost": "cache_read_per_token",
    "cache_creation_input_token_cost": "cache_write_per_token",
}


def parse_threshold(text: str) -> int:
    """``"200k"`` -> 200000, ``"128000"`` -> 128000 (LiteLLM's _parse_token_threshold)."""
    return int(float(text[:-1]) * 1000) if text.endswith("k") else int(float(text))


def _build_tiers(entry: Mapping[str, Any], pattern: Any, *, hours: bool = False) -> tuple[ThresholdTier, ...]:
    by_threshold: dict[int, dict[str, float]] = {}
    for key, value in entry.items():
        match = pattern.match(key)
        if match is None:
            continue
        rate = parse_rate(value)
        if rate is None:
            continue
        fields = by_threshold.setdefault(parse_threshold(match.group(2)), {})
        fields[_TIER_FIELDS[match.group(1)]] = rate
    if hours:  # realtime tiers: their 1-hour cache-write rates too
        for key, value in entry.items():
            hour = _HOUR_TIER_KEY.match(key)
            rate = parse_rate(value) if hour is not None else None
            if hour is not None and rate is not None:
                by_threshold.setdefault(parse_threshold(hour.group(1)), {})["cache_write_1h_per_token"] = rate
    return tuple(
        ThresholdTier(threshold_tokens=threshold, **fields)
        for threshold, fields in sorted(by_threshold.items())
    )


#: ``cache_creation_input_token_cost_above_1hr_above_200k_tokens`` (Bedrock, Vertex AI).
_HOUR_TIER_KEY = re.compile(r"^cache_creation_input_token_cost_above_1hr_above_(\d+(?:\.\d+)?k?)_tokens$")


def _build_range_tiers(raw: object) -> tuple[RangeTier, ...]:
    if not isinstance(raw, list):
        return ()
    rows: list[RangeTier] = []
    for row in raw:
        if not isinstance(row, Mapping):
            continue
        bounds = row.get("range")
        if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
            continue  # LiteLLM ignores rows without a [start, end] range
        start, end = parse_rate(bounds[0]), parse_rate(bounds[1])
        if start is None or end is None:
            continue
        rows.append(
            RangeTier(
                range_start=start,
                range_end=end,
                input_per_token=parse_rate(row.get("input_cost_per_token")),
                output_per_token=parse_rate(row.get("output_cost_per_token")),
                cache_read_per_token=parse_rate(row.get("cache_read_input_token_cost")),
                cache_write_per_token=parse_rate(row.get("cache_creation_input_token_cost")),
                reasoning_per_token=parse_rate(row.get("output_cost_per_reasoning_token")),
            )
        )
    return tuple(rows)


_WEEKDAYS = {
    "mon": 1, "monday": 1, "tue": 2, "tues": 2, "tuesday": 2, "wed": 3, "wednesday": 3,
    "thu": 4, "thur": 4, "thurs": 4, "thursday": 4, "fri": 5, "friday": 5,
    "sat": 6, "saturday": 6, "sun": 7, "sunday": 7,
}  # fmt: skip


def _parse_hours(value: object) -> tuple[tuple[time, time], ...]:
    texts: Iterable[object] = (value,) if isinstance(value, str) else value if isinstance(value, list) else ()
    ranges: list[tuple[time, time]] = []
    for text in texts:
        if not isinstance(text, str):
            continue
        try:
            start_text, end_text = text.split("-")
            start = datetime.strptime(start_text.strip(), "%H:%M").time()
            end = datetime.strptime(end_text.strip(), "%H:%M").time()
        except ValueError:
            continue  # LiteLLM skips malformed windows
        ranges.append((start, end))
    return tuple(ranges)


def _parse_weekdays(value: object) -> frozenset[int] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        return frozenset()  # LiteLLM: a malformed weekday list never matches
    days: set[int] = set()
    for day in value:
        if isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 7:
            days.add(day)
        elif isinstance(day, str) and day.strip().lower() in _WEEKDAYS:
            days.add(_WEEKDAYS[day.strip().lower()])
    return frozenset(days)


def _build_off_peak(raw: object) -> OffPeakPricing | None:
    if not isinstance(raw, Mapping):
        return None
    windows: list[OffPeakWindow] = []
    every_day = _parse_hours(raw.get("hours_utc"))
    if every_day:
        windows.append(OffPeakWindow(hours_utc=every_day))
    rules = raw.get("windows")
    if isinstance(rules, list):
        for rule in rules:
            if not isinstance(rule, Mapping):
                continue
            hours = _parse_hours(rule.get("hours_utc"))
            if hours:
                windows.append(OffPeakWindow(hours_utc=hours, weekdays=_parse_weekdays(rule.get("weekdays"))))
    timezone_name = raw.get("weekday_timezone")
    return OffPeakPricing(
        windows=tuple(windows),
        weekday_timezone=timezone_name.strip() if isinstance(timezone_name, str) else None,
        input_per_token=parse_rate(raw.get("input_cost_per_token")),
        output_per_token=parse_rate(raw.get("output_cost_per_token")),
        cache_read_per_token=parse_rate(raw.get("cache_read_input_token_cost")),
        cache_write_per_token=parse_rate(raw.get("cache_creation_input_token_cost")),
        reasoning_per_token=parse_rate(raw.get("output_cost_per_reasoning_token")),
    )


def _tier_entries(entry: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """The entry without its service-tier keys, and per tier it prices (an input or output
    rate of its own) the entry that tier bills by: each ``<key>_<tier>`` in place of
    ``<key>``, the standard key where the tier has none (LiteLLM's per-key fallback)."""
    if not any(key.endswith(_TIER_TAILS) for key in entry):
        return dict(entry), []
    standard = {key: value for key, value in entry.items() if not key.endswith(_TIER_TAILS)}
    tiers: list[tuple[str, dict[str, Any]]] = []
    for tail in sorted(_TIER_TAILS):
        if parse_rate(entry.get(f"input_cost_per_token{tail}")) is None and (
            parse_rate(entry.get(f"output_cost_per_token{tail}")) is None
        ):
            continue
        tiered = dict(standard)
        tiered.update({key[: -len(tail)]: value for key, value in entry.items() if key.endswith(tail)})
        if f"output_cost_per_reasoning_token{tail}" not in entry and f"output_cost_per_token{tail}" in entry:
            # LiteLLM: a tier with its own output rate bills reasoning tokens at it.
            tiered.pop("output_cost_per_reasoning_token", None)
        tiers.append((tail[1:], tiered))
    return standard, tiers


def price_from_entry(model: str, entry: Mapping[str, Any], *, source: PriceSource) -> ModelPrice:
    """Build a :class:`ModelPrice` from a LiteLLM-format price-map entry."""
    entry, tier_entries = _tier_entries(entry)
    from ._keys import BATCH_TIER_KEY, TIER_KEY  # local: keeps the key regexes in one place

    provider = entry.get("litellm_provider")
    provider = provider if isinstance(provider, str) and provider else None
    mode = entry.get("mode")
    cache_read = parse_rate(entry.get("cache_read_input_token_cost"))
    caching_flag = entry.get("supports_prompt_caching")
    reasoning = parse_rate(entry.get("output_cost_per_reasoning_token"))
    output = parse_rate(entry.get("output_cost_per_token"))
    image_output = parse_rate(entry.get("output_cost_per_image_token"))
    if not output and image_output is not None:
        # An image model without a text output rate (gpt-image-1): every output token is an
        # image token, as LiteLLM bills it.
        output = image_output
    if provider == "xai" and source == "litellm":
        # LiteLLM's xAI calculator bills reasoning tokens as ordinary completion tokens.
        reasoning = None
    return ModelPrice(
        model=model,
        provider=provider,
        mode=mode if isinstance(mode, str) else None,
        input_per_token=parse_rate(entry.get("input_cost_per_token")) or 0.0,
        output_per_token=output or 0.0,
        cache_read_per_token=cache_read,
        cache_write_per_token=parse_rate(entry.get("cache_creation_input_token_cost")),
        cache_write_1h_per_token=parse_rate(entry.get("cache_creation_input_token_cost_above_1hr")),
        reasoning_per_token=reasoning,
        audio_input_per_token=parse_rate(entry.get("input_cost_per_audio_token")),
        audio_output_per_token=parse_rate(entry.get("output_cost_per_audio_token")),
        image_output_per_token=image_output,
        batch_input_per_token=parse_rate(entry.get("input_cost_per_token_batches")),
        batch_output_per_token=parse_rate(entry.get("output_cost_per_token_batches")),
        batch_cache_read_per_token=parse_rate(entry.get("cache_read_input_token_cost_batches")),
        batch_cache_write_per_token=parse_rate(entry.get("cache_creation_input_token_cost_batches")),
        tiers=_build_tiers(entry, TIER_KEY, hours=True),
        batch_tiers=_build_tiers(entry, BATCH_TIER_KEY),
        range_tiers=_build_range_tiers(entry.get("tiered_pricing")),
        off_peak=_build_off_peak(entry.get("off_peak_pricing")),
        tier_threshold_inclusive=provider == "xai",
        max_input_tokens=_parse_int(entry.get("max_input_tokens")),
        max_output_tokens=_parse_int(entry.get("max_output_tokens")),
        # The flag when the map has it; otherwise a published cache-read price implies it.
        supports_prompt_caching=caching_flag if isinstance(caching_flag, bool) else cache_read is not None,
        source=source,
        service_tiers=tuple(
            (name, price_from_entry(model, tiered, source=source)) for name, tiered in tier_entries
        ),
    )
