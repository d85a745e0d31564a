"""Typed records: token usage, cost breakdowns and the per-call cost record.

Token conventions follow the OpenTelemetry GenAI semantic conventions: cache-read and
cache-write tokens are counted *inside* ``input_tokens``; reasoning tokens are counted
*inside* ``output_tokens``.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ._errors import InvalidUsageError

__all__ = ["CacheStatus", "CostBreakdown", "CostRecord", "TokenUsage", "storable_text", "usage_invalid"]

#: Longest attribution value, tag or model name a record keeps (characters).
MAX_TEXT = 512
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(value: str, limit: int = MAX_TEXT) -> str:
    """``value`` as every store can hold it: lone surrogates (text decoded with
    ``surrogateescape``) and NUL characters replaced by U+FFFD, cut to ``limit`` characters.

    >>> storable_text("acme" + chr(0xDCFF)) == "acme" + chr(0xFFFD)
    True
    """
    if value.isascii() and "\x00" not in value:
        return value if len(value) <= limit else value[:limit]
    return _UNSTORABLE.sub("\ufffd", value)[:limit]


class CacheStatus(str, Enum):
    """Where an answer came from (a record's ``cache_status``).

    >>> CostRecord(model="gpt-4o-mini").cache_status
    <CacheStatus.MISS: 'miss'>
    >>> [status.value for status in CacheStatus]
    ['miss', 'exact', 'semantic', 'provider_prefix', 'deduplicated']
    """

    MISS = "miss"
    EXACT = "exact"
    SEMANTIC = "semantic"
    PROVIDER_PREFIX = "provider_prefix"
    DEDUPLICATED = "deduplicated"


def _check_count(name: str, value: Any) -> int:
    # bool is an int subclass; a True token count is always a bug upstream.
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer() and value >= 0:
            return int(value)
        raise InvalidUsageError(
            f"{name} must be a non-negative integer, got {value!r} ({type(value).__name__})."
        )
    if value < 0:
        raise InvalidUsageError(f"{name} must be a non-negative integer, got {value}.")
    return value


_COUNT_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
_COUNT_FIELD_SET = frozenset(_COUNT_FIELDS)
_COUNT_FIELDS_SET = set(_COUNT_FIELDS)  # copied: each model owns its fields-set
_ZERO_COUNTS = dict.fromkeys(_COUNT_FIELDS, 0)
#: A usage's values: the counts and the parts some models price apart (1-hour cache
#: writes, audio and image output tokens).
_APART = ("cache_write_1h_tokens", "audio_input_tokens", "audio_output_tokens", "image_output_tokens")
_ZERO_USAGE = {**_ZERO_COUNTS, **dict.fromkeys(_APART, 0)}
_USAGE_KEYS = (*_COUNT_FIELDS, *_APART)
#: Token counts in ``_COUNT_FIELDS`` order (input, output, cache read, cache write,
#: reasoning): a call's usage before a :class:`TokenUsage` is needed.
Counts = tuple[int, int, int, int, int]
_setattr = object.__setattr__


def _fill(model: BaseModel, values: dict[str, Any], fields_set: set[str] | frozenset[str]) -> None:
    """Give ``model`` the state pydantic would after validating ``values`` (already valid)."""
    _setattr(model, "__dict__", values)
    _setattr(model, "__pydantic_fields_set__", fields_set)
    _setattr(model, "__pydantic_extra__", None)
    _setattr(model, "__pydantic_private__", None)


class TokenUsage(BaseModel):
    """Token counts of one model call.

    ``cache_read_tokens`` and ``cache_write_tokens`` are part of ``input_tokens``;
    ``reasoning_tokens`` are part of ``output_tokens``; ``cache_write_1h_tokens`` are the
    part of ``cache_write_tokens`` written to a 1-hour cache (Anthropic bills them at a
    higher rate than 5-minute writes); ``audio_input_tokens`` are part of the uncached input
    tokens and ``audio_output_tokens`` and ``image_output_tokens`` part of ``output_tokens``
    (audio and generated images have rates of their own).

    >>> TokenUsage(input_tokens=1200, output_tokens=300, cache_read_tokens=1000).uncached_input_tokens
    200
    """

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_1h_tokens: int = 0
    audio_input_tokens: int = 0
    audio_output_tokens: int = 0
    image_output_tokens: int = 0

    def __init__(self, **data: Any) -> None:
        # Checked here rather than in pydantic validators so the caller gets our typed
        # InvalidUsageError, not a pydantic ValidationError wrapping it.
        if data.keys() <= _COUNT_FIELD_SET:
            # Only counts: fill the model the way pydantic would, without its validation
            # round (a model per model call, on the callback's hot path).
            values = {**_ZERO_USAGE, **data}
            for name, value in data.items():
                if type(value) is not int or value < 0:
                    values[name] = 0 if value is None else _check_count(name, value)
            _fill(self, values, set(data))
        else:
            for name in _USAGE_KEYS:
                if name in data:
                    data[name] = 0 if data[name] is None else _check_count(name, data[name])
            super().__init__(**data)
        if self.cache_read_tokens + self.cache_write_tokens > self.input_tokens:
            raise InvalidUsageError(
                "cache_read_tokens + cache_write_tokens "
                f"({self.cache_read_tokens} + {self.cache_write_tokens}) exceed "
                f"input_tokens ({self.input_tokens}); cached tokens are counted "
                "inside input_tokens."
            )
        if self.cache_write_1h_tokens > self.cache_write_tokens:
            raise InvalidUsageError(
                f"cache_write_1h_tokens ({self.cache_write_1h_tokens}) exceed cache_write_tokens "
                f"({self.cache_write_tokens}); 1-hour cache writes are counted inside "
                "cache_write_tokens."
            )
        if self.audio_input_tokens > self.input_tokens - self.cache_read_tokens - self.cache_write_tokens:
            raise InvalidUsageError(
                f"audio_input_tokens ({self.audio_input_tokens}) exceed the uncached input tokens; "
                "audio tokens are counted inside input_tokens."
            )
        if self.reasoning_tokens + self.audio_output_tokens + self.image_output_tokens > self.output_tokens:
            raise InvalidUsageError(
                f"reasoning_tokens + audio_output_tokens + image_output_tokens ({self.reasoning_tokens} + "
                f"{self.audio_output_tokens} + {self.image_output_tokens}) exceed output_tokens "
                f"({self.output_tokens}); all are counted inside output_tokens."
            )
        if self.reasoning_tokens > self.output_tokens:
            raise InvalidUsageError(
                f"reasoning_tokens ({self.reasoning_tokens}) exceed output_tokens "
                f"({self.output_tokens}); reasoning tokens are counted inside "
                "output_tokens."
            )

    @classmethod
    def from_reported(
        cls,
        input_tokens: Any = 0,
        output_tokens: Any = 0,
        cache_read_tokens: Any = 0,
        cache_write_tokens: Any = 0,
        reasoning_tokens: Any = 0,
        cache_write_1h_tokens: Any = 0,
        audio_input_tokens: Any = 0,
        audio_output_tokens: Any = 0,
        image_output_tokens: Any = 0,
    ) -> TokenUsage:
        """The usage a provider reported, never raising: counts that are negative, not
        whole numbers, or inconsistent (cached tokens above input, reasoning above output)
        are repaired (a bad count becomes 0; a part is cut to its whole) and the usage
        remembers the original values, which the tracker records in the
        ``usage_invalid`` tag (see :func:`usage_invalid`).

        >>> u = TokenUsage.from_reported(input_tokens=100, output_tokens=-5)
        >>> u.output_tokens, usage_invalid(u)
        (0, {'input_tokens': 100, 'output_tokens': -5, 'cache_read_tokens': 0, 'cache_write_tokens': 0, 'reasoning_tokens': 0})
        """
        if not (
            cache_write_1h_tokens or audio_input_tokens or audio_output_tokens or image_output_tokens
        ) and plain_counts(
            input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens
        ):
            # The usual report (plain, consistent counts), once per model call: no repair.
            return cls._counted(
                (input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens)
            )
        raw = {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_read_tokens": cache_read_tokens,
            "cache_write_tokens": cache_write_tokens,
            "reasoning_tokens": reasoning_tokens,
        }
        apart = (cache_write_1h_tokens, audio_input_tokens, audio_output_tokens, image_output_tokens)
        raw.update({name: value for name, value in zip(_APART, apart) if value})
        values = dict.fromkeys(_APART, 0)
        bad = False
        for name, value in raw.items():
            if value is None:
                value = 0
            if type(value) is not int or value < 0:
                try:
                    value = _check_count(name, value)
                except InvalidUsageError:
                    bad = True
                    value = 0
            values[name] = value
        inp, out = values["input_tokens"], values["output_tokens"]
        if values["cache_read_tokens"] + values["cache_write_tokens"] > inp:
            bad = True
            values["cache_read_tokens"] = min(values["cache_read_tokens"], inp)
            values["cache_write_tokens"] = min(
                values["cache_write_tokens"], inp - values["cache_read_tokens"]
            )
        if values["cache_write_1h_tokens"] > values["cache_write_tokens"]:
            bad = True
            values["cache_write_1h_tokens"] = values["cache_write_tokens"]
        if values["reasoning_tokens"] > out:
            bad = True
            values["reasoning_tokens"] = out
        uncached = inp - values["cache_read_tokens"] - values["cache_write_tokens"]
        if values["audio_input_tokens"] > uncached:
            bad = True
            values["audio_input_tokens"] = uncached
        if values["audio_output_tokens"] > out - values["reasoning_tokens"]:
            bad = True
            values["audio_output_tokens"] = out - values["reasoning_tokens"]
        if values["image_output_tokens"] > out - values["reasoning_tokens"] - values["audio_output_tokens"]:
            bad = True
            values["image_output_tokens"] = out - values["reasoning_tokens"] - values["audio_output_tokens"]
        usage = object.__new__(cls)
        _fill(usage, values, set(raw))
        if bad:
            original = {
                k: v if isinstance(v, (int, float, str)) or v is None else repr(v) for k, v in raw.items()
            }
            _setattr(usage, "__pydantic_private__", {"usage_invalid": original})
        return usage

    @classmethod
    def _counted(cls, counts: Counts) -> TokenUsage:
        """The usage of counts :func:`plain_counts` accepted (in field order), unchecked."""
        usage = object.__new__(cls)
        # A copy of a dict of the final size: building the entries one by one resizes it.
        values = _ZERO_USAGE.copy()
        (
            values["input_tokens"],
            values["output_tokens"],
            values["cache_read_tokens"],
            values["cache_write_tokens"],
            values["reasoning_tokens"],
        ) = counts
        _fill(usage, values, _COUNT_FIELDS_SET.copy())
        return usage

    @property
    def uncached_input_tokens(self) -> int:
        return self.input_tokens - self.cache_read_tokens - self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def counts_of(usage: TokenUsage) -> Counts:
    """A usage's counts as plain ``Counts``."""
    u = usage.__dict__  # a pydantic attribute read goes through its descriptor machinery
    return (
        u["input_tokens"],
        u["output_tokens"],
        u["cache_read_tokens"],
        u["cache_write_tokens"],
        u["reasoning_tokens"],
    )


def plain_counts(
    input_tokens: Any,
    output_tokens: Any,
    cache_read_tokens: Any,
    cache_write_tokens: Any,
    reasoning_tokens: Any,
) -> bool:
    """Whether reported counts need no repair: plain non-negative ints, cached tokens
    within input, reasoning within output (what nearly every provider reports)."""
    return (
        type(input_tokens) is int
        and type(output_tokens) is int
        and type(cache_read_tokens) is int
        and type(cache_write_tokens) is int
        and type(reasoning_tokens) is int
        and 0 <= reasoning_tokens <= output_tokens
        and cache_read_tokens >= 0
        and cache_write_tokens >= 0
        and cache_read_tokens + cache_write_tokens <= input_tokens
    )


def usage_invalid(usage: TokenUsage) -> dict[str, Any] | None:
    """The original counts of a usage :meth:`TokenUsage.from_reported` had to repair, else None."""
    private = usage.__pydantic_private__
    return private.get("usage_invalid") if private else None


def with_service_tier(usage: TokenUsage, tier: str | None) -> TokenUsage:
    """``usage`` (just built, not shared yet) marked as served on a provider service tier
    (OpenAI ``flex``, ``priority``): the tier's rates price it. Kept beside the counts, as
    :func:`usage_invalid` is: the tier is how the call was billed, not a token count."""
    if tier:
        _setattr(usage, "__pydantic_private__", {**(usage.__pydantic_private__ or {}), "service_tier": tier})
    return usage


def service_tier_of(usage: TokenUsage) -> str | None:
    """The service tier :func:`with_service_tier` marked ``usage`` with, else None."""
    private = usage.__pydantic_private__
    return private.get("service_tier") if private else None


class CostBreakdown(BaseModel):
    """Dollars of one call, split by token kind. ``total`` is their sum.

    >>> from llm_cost_hooks import PriceBook
    >>> cost = PriceBook.default().cost({"input_tokens": 1000, "output_tokens": 200}, "gpt-4o-mini")
    >>> cost.input, round(cost.output, 6), round(cost.total, 6), cost.currency
    (0.00015, 0.00012, 0.00027, 'USD')
    """

    model_config = ConfigDict(frozen=True)

    input: float = 0.0
    cache_read: float = 0.0
    cache_write: float = 0.0
    output: float = 0.0
    reasoning: float = 0.0
    currency: str = "USD"

    def __init__(self, **data: Any) -> None:
        # The price book builds one or two per model call, always from floats: those are
        # filled in directly (what validation would store); anything else is validated.
        if data.keys() <= _BREAKDOWN_FIELDS:
            for key, value in data.items():
                if type(value) is not float and (key != "currency" or type(value) is not str):
                    break
            else:
                _fill(self, {**_ZERO_BREAKDOWN, **data}, set(data))
                return
        super().__init__(**data)

    @classmethod
    def _of(
        cls, input: float, cache_read: float, cache_write: float, output: float, reasoning: float
    ) -> CostBreakdown:
        """A USD breakdown from five floats the caller computed (the tracker's pricing),
        without the checks of ``__init__``: ~4x cheaper, once per model call."""
        obj = object.__new__(cls)
        _fill(
            obj,
            {
                "input": input,
                "cache_read": cache_read,
                "cache_write": cache_write,
                "output": output,
                "reasoning": reasoning,
                "currency": "USD",
            },
            set(_FIVE_RATES),
        )
        return obj

    @property
    def total(self) -> float:
        return self.input + self.cache_read + self.cache_write + self.output + self.reasoning


_BREAKDOWN_FIELDS = frozenset(CostBreakdown.model_fields)
_FIVE_RATES = ("input", "cache_read", "cache_write", "output", "reasoning")
_ZERO_BREAKDOWN: dict[str, Any] = {name: f.default for name, f in CostBreakdown.model_fields.items()}


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _new_id() -> str:
    return uuid.uuid4().hex


class CostRecord(BaseModel):
    """One model call, priced and attributed.

    ``cost_usd`` is what the call was billed (0 for a cache hit); ``saved_usd`` is
    what it would have cost without the lever that served it.
    """

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(default_factory=_new_id)
    task_id: str | None = None
    parent_id: str | None = None
    timestamp: datetime = Field(default_factory=_utcnow)

    tenant: str | None = None
    user: str | None = Field(default=None, description="Hashed user id, never raw.")
    feature: str | None = None
    route: str | None = None
    prompt_version: str | None = None

    provider: str | None = None
    model: str

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    cost_usd: float = 0.0
    cost_breakdown: CostBreakdown = Field(default_factory=CostBreakdown)
    saved_usd: float = 0.0
    cache_status: CacheStatus = CacheStatus.MISS

    latency_ms: float | None = None
    success: bool = True
    error_type: str | None = None
    attempt: int = 1
    tags: dict[str, str] = Field(default_factory=dict)

    tokens_estimated: bool = False
    price_estimated: bool = False

    @field_validator(
        "tenant", "user", "feature", "route", "prompt_version", "provider", "model", "error_type"
    )
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        return None if value is None else storable_text(value)

    @field_validator("tags")
    @classmethod
    def _storable_tags(cls, value: dict[str, str]) -> dict[str, str]:
        return {storable_text(k): storable_text(v) for k, v in value.items()}

    @field_validator("attempt")
    @classmethod
    def _attempt_positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("attempt starts at 1")
        return value

    @classmethod
    def _trusted(cls, values: dict[str, Any]) -> CostRecord:
        """Build a record from values the tracker already validated, skipping pydantic.

        The per-call hot path: ~1 µs instead of ~5 µs (validation) or ~8 µs
        (``model_construct``). ``values`` must hold every field; a test checks the result
        equals a validated record.
        """
        obj = object.__new__(cls)
        # A set of its own (model_copy(update=...) adds to it).
        _fill(obj, values, set(_ALL_RECORD_FIELDS))
        return obj

    @property
    def usage(self) -> TokenUsage:
        """The record's token counts as a :class:`TokenUsage`."""
        return TokenUsage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens,
        )


_ALL_RECORD_FIELDS = frozenset(CostRecord.model_fields)


# The "YYYY-MM-DDTHH:MM:SS" of the last second formatted, by its fields: records written
# together mostly share their second, and isoformat() of an aware datetime costs about
# twice this (it calls the zone's utcoffset and formats the offset each time).
_last_second: tuple[tuple[int, ...], str] = ((), "")
# "000" to "999": the microseconds as text without formatting an int (half the cost).
_DIGITS3 = tuple(f"{i:03d}" for i in range(1000))


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# The "YYYY-MM-DDTHH:MM:SS" of the last second formatted from a clock reading, by its
# number since the epoch.
_last_epoch_second: tuple[int, str] = (-1, "")


def utc_datetime_ns(ns: int) -> datetime:
    """The UTC datetime of a ``time.time_ns()`` reading, to the microsecond below (what
    ``datetime.now(timezone.utc)`` makes of the same reading)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def utc_isoformat_ns(ns: int) -> str:
    """``utc_datetime_ns(ns).isoformat()``, without making the datetime."""
    global _last_epoch_second
    us = ns // 1000
    second = us // 1_000_000
    last, prefix = _last_epoch_second
    if second != last:
        prefix = (_EPOCH + timedelta(seconds=second)).isoformat()[:19]
        _last_epoch_second = (second, prefix)  # one assignment: another thread sees a matching pair
    us -= second * 1_000_000
    return f"{prefix}.{_DIGITS3[us // 1000]}{_DIGITS3[us % 1000]}+00:00" if us else prefix + "+00:00"


def utc_isoformat(ts: datetime) -> str:
    """``ts.isoformat()`` of a datetime in UTC (``tzinfo is timezone.utc``)."""
    global _last_second
    key = (ts.second, ts.minute, ts.hour, ts.day, ts.month, ts.year)
    last_key, prefix = _last_second
    if key != last_key:
        prefix = ts.isoformat(timespec="seconds")[:19]
        _last_second = (key, prefix)  # one assignment: another thread sees a matching pair
    us = ts.microsecond
    return f"{prefix}.{_DIGITS3[us // 1000]}{_DIGITS3[us % 1000]}+00:00" if us else prefix + "+00:00"
