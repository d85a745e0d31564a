"""Break-even calculators: self-hosting versus the API, fine-tuning versus a long prompt.

Self-hosting (per month, ``V`` = tokens processed, input + output)::

    capacity       = throughput_tokens_per_s x 3600 x hours_per_month        (one replica)
    replicas(V)    = max(1, ceil(V / capacity))
    utilisation(V) = V / (replicas x capacity)
    self_host(V)   = replicas x gpus_per_replica x gpu_hourly_usd x hours_per_month
                     + infra_monthly_usd + engineering_hours x engineer_hourly_usd
    api(V)         = V x api_usd_per_token       (the ledger's blended rate: dollars / tokens)
    break-even V*  = the smallest V with api(V) >= self_host(V)

Self-hosting is recommended only when it is cheaper *and* utilisation >= 60% (the usual
condition: below it, idle GPU hours eat the saving and a traffic dip makes it a loss).

Fine-tuning (per call; ``P`` = prompt tokens the fine-tune makes unnecessary, ``s`` = the
share of them served from the prompt cache today, ``R`` = the other input tokens, ``O`` =
output tokens)::

    long_prompt = P x (input x (1 - s) + cache_read x s) + R x input + O x output
    fine_tuned  = (P_left + R) x ft_input + O x ft_output
    training    = training_tokens x epochs x training_usd_per_token
    monthly saving = calls x (long_prompt - fine_tuned) - ft_hosting_monthly_usd
    payback months = training / monthly saving
    break-even calls/month = (training / horizon_months + ft_hosting_monthly_usd)
                             / (long_prompt - fine_tuned)
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pydantic import BaseModel, Field

from .._errors import ConfigurationError
from .._records import CostRecord

__all__ = [
    "TRAINING_USD_PER_MTOK",
    "FineTuneBreakEven",
    "SelfHostBreakEven",
    "TrafficProfile",
    "fine_tune_breakeven",
    "self_host_breakeven",
    "traffic_from_records",
    "training_price",
]

#: Published OpenAI fine-tuning training prices, USD per million training tokens
#: (openai.com/api/pricing, 2025). Check current prices; pass your own to override.
TRAINING_USD_PER_MTOK: dict[str, float] = {
    "gpt-4o-mini-2024-07-18": 3.0,
    "gpt-4o-2024-08-06": 25.0,
    "gpt-4.1-2025-04-14": 25.0,
    "gpt-4.1-mini-2025-04-14": 5.0,
    "gpt-4.1-nano-2025-04-14": 1.5,
}

MIN_UTILISATION = 0.6


class TrafficProfile(BaseModel):
    """A workload's monthly volume, as read from the ledger (:func:`traffic_from_records`).

    >>> from datetime import datetime, timedelta, timezone
    >>> from llm_cost_hooks import CostRecord
    >>> start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    >>> records = [CostRecord(model="gpt-4o-mini", route="faq", input_tokens=1200, output_tokens=100,
    ...                       cache_read_tokens=600, cost_usd=0.0003, timestamp=start + timedelta(days=i))
    ...            for i in range(10)]  # one call a day over 9 days
    >>> traffic = traffic_from_records(records, route="faq")
    >>> round(traffic.tokens_per_month)
    43333
    """

    calls_per_month: float
    input_tokens_per_call: float
    output_tokens_per_call: float
    cached_share: float = Field(description="Cache-read tokens / input tokens.")
    cost_per_month_usd: float
    days_covered: float

    @property
    def tokens_per_month(self) -> float:
        return self.calls_per_month * (self.input_tokens_per_call + self.output_tokens_per_call)


def traffic_from_records(records: Iterable[CostRecord], **filters: str | None) -> TrafficProfile:
    """Monthly volume of the (successful and failed) calls matching ``filters``
    (record fields such as ``model``, ``route``, ``feature``, ``prompt_version``),
    scaled to 30 days from the period the records cover (at least one day).

    >>> from datetime import datetime, timedelta, timezone
    >>> from llm_cost_hooks import CostRecord
    >>> start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    >>> records = [CostRecord(model="gpt-4o-mini", route="faq", input_tokens=1200, output_tokens=100,
    ...                       cache_read_tokens=600, cost_usd=0.0003, timestamp=start + timedelta(days=i))
    ...            for i in range(10)]  # one call a day over 9 days
    >>> traffic = traffic_from_records(records, route="faq")
    >>> round(traffic.calls_per_month, 2), traffic.input_tokens_per_call, traffic.cached_share
    (33.33, 1200.0, 0.5)
    >>> traffic.days_covered, round(traffic.cost_per_month_usd, 4)
    (9.0, 0.01)
    """
    recs = [r for r in records if all(v is None or getattr(r, k) == v for k, v in filters.items())]
    if not recs:
        raise ConfigurationError(f"No ledger records match {filters}; check the filters or the ledger path.")
    recs.sort(key=lambda r: r.timestamp)
    days = max((recs[-1].timestamp - recs[0].timestamp).total_seconds() / 86400, 1.0)
    scale = 30 / days
    n = len(recs)
    inputs = sum(r.input_tokens for r in recs)
    return TrafficProfile(
        calls_per_month=n * scale,
        input_tokens_per_call=inputs / n,
        output_tokens_per_call=sum(r.output_tokens for r in recs) / n,
        cached_share=sum(r.cache_read_tokens for r in recs) / inputs if inputs else 0.0,
        cost_per_month_usd=sum(r.cost_usd for r in recs) * scale,
        days_covered=days,
    )


class SelfHostRow(BaseModel):
    """Monthly API and self-hosting cost at one volume."""

    tokens_per_month: float
    api_usd: float
    self_host_usd: float
    replicas: int
    utilisation: float
    cheaper: str


class SelfHostBreakEven(BaseModel):
    """Result of :func:`self_host_breakeven`: today, the break-even volume and a table.

    >>> r = self_host_breakeven(tokens_per_month=300e6, api_cost_per_month=1500, gpu_hourly_usd=2,
    ...                         throughput_tokens_per_s=500, infra_monthly_usd=200,
    ...                         engineering_hours_per_month=10, engineer_hourly_usd=100)
    >>> r.current.cheaper, r.current.replicas, round(r.current.self_host_usd)
    ('api', 1, 2660)
    >>> r.recommendation
    "api: self-hosting breaks even at 1.8x today's volume"
    """

    api_usd_per_token: float
    capacity_tokens_per_month: float
    fixed_usd_per_replica_month: float
    overhead_usd_month: float
    current: SelfHostRow
    breakeven_tokens_per_month: float | None
    breakeven_utilisation: float | None
    recommendation: str
    table: list[SelfHostRow]


def _positive(name: str, value: float, *, zero: bool = False) -> float:
    if value is None or not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise ConfigurationError(
            f"{name} must be a {'non-negative' if zero else 'positive'} number, got {value!r}."
        )
    return float(value)


def self_host_breakeven(
    *,
    tokens_per_month: float,
    api_cost_per_month: float,
    gpu_hourly_usd: float,
    throughput_tokens_per_s: float,
    gpus_per_replica: int = 1,
    hours_per_month: float = 730.0,
    infra_monthly_usd: float = 0.0,
    engineering_hours_per_month: float = 0.0,
    engineer_hourly_usd: float = 0.0,
    min_utilisation: float = MIN_UTILISATION,
    multipliers: Iterable[float] = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
) -> SelfHostBreakEven:
    """Self-hosting versus the API (formulas in the module docstring).

    >>> r = self_host_breakeven(tokens_per_month=300e6, api_cost_per_month=1500, gpu_hourly_usd=2,
    ...                         throughput_tokens_per_s=500, infra_monthly_usd=200,
    ...                         engineering_hours_per_month=10, engineer_hourly_usd=100)
    >>> round(r.breakeven_tokens_per_month / 1e6), r.recommendation.split(":")[0]
    (532, 'api')
    """
    if not 0.0 <= min_utilisation <= 1.0:  # also False for NaN
        raise ConfigurationError(f"min_utilisation must be a fraction from 0 to 1, got {min_utilisation!r}.")
    volume = _positive("tokens_per_month", tokens_per_month)
    c_api = _positive("api_cost_per_month", api_cost_per_month) / volume
    capacity = (
        _positive("throughput_tokens_per_s", throughput_tokens_per_s)
        * 3600
        * _positive("hours_per_month", hours_per_month)
    )
    per_replica = (
        int(_positive("gpus_per_replica", gpus_per_replica))
        * _positive("gpu_hourly_usd", gpu_hourly_usd)
        * hours_per_month
    )
    overhead = _positive("infra_monthly_usd", infra_monthly_usd, zero=True) + _positive(
        "engineering_hours_per_month", engineering_hours_per_month, zero=True
    ) * _positive("engineer_hourly_usd", engineer_hourly_usd, zero=True)

    def row(v: float) -> SelfHostRow:
        replicas = max(1, math.ceil(v / capacity))
        own = replicas * per_replica + overhead
        api = v * c_api
        return SelfHostRow(
            tokens_per_month=v,
            api_usd=api,
            self_host_usd=own,
            replicas=replicas,
            utilisation=v / (replicas * capacity),
            cheaper="self-host" if own < api else "api",
        )

    breakeven: float | None = None
    if per_replica / capacity < c_api:  # a full replica is cheaper per token than the API
        k = 1
        while breakeven is None and k < 1_000_000:
            v = (k * per_replica + overhead) / c_api
            if v <= k * capacity:
                breakeven = max(v, (k - 1) * capacity)
            k += 1
    current = row(volume)
    if current.cheaper == "self-host" and current.utilisation >= min_utilisation:
        advice = f"self-host: cheaper at {current.utilisation:.0%} utilisation (>= {min_utilisation:.0%})"
    elif current.cheaper == "self-host":
        advice = (
            f"api: self-hosting is cheaper on paper but utilisation would be {current.utilisation:.0%} "
            f"(< {min_utilisation:.0%}); a dip in traffic makes it a loss"
        )
    elif breakeven is None:
        advice = "api: self-hosting never breaks even (a full GPU costs more per token than the API)"
    else:
        advice = f"api: self-hosting breaks even at {breakeven / volume:.1f}x today's volume"
    volumes = sorted({volume * m for m in multipliers} | ({breakeven} if breakeven else set()))
    return SelfHostBreakEven(
        api_usd_per_token=c_api,
        capacity_tokens_per_month=capacity,
        fixed_usd_per_replica_month=per_replica,
        overhead_usd_month=overhead,
        current=current,
        breakeven_tokens_per_month=breakeven,
        breakeven_utilisation=(breakeven / (max(1, math.ceil(breakeven / capacity)) * capacity))
        if breakeven
        else None,
        recommendation=advice,
        table=[row(v) for v in volumes],
    )


class FineTuneRow(BaseModel):
    """Monthly cost of the long prompt and of the fine-tuned model at one volume."""

    calls_per_month: float
    long_prompt_usd: float
    fine_tuned_usd: float
    saving_usd: float


class FineTuneBreakEven(BaseModel):
    """Result of :func:`fine_tune_breakeven`: per-call costs, payback, break-even volume, table.

    >>> r = fine_tune_breakeven(calls_per_month=100_000, prompt_tokens_removed=2000, other_input_tokens=200,
    ...     output_tokens=150, input_rate=0.15e-6, output_rate=0.6e-6, ft_input_rate=0.3e-6,
    ...     ft_output_rate=1.2e-6, training_tokens=500_000, training_usd_per_token=3e-6)
    >>> round(r.long_prompt_usd_per_call, 5), round(r.fine_tuned_usd_per_call, 5), r.training_usd
    (0.00042, 0.00024, 4.5)
    >>> r.recommendation
    'fine-tune: pays back the training in 0.2 months'
    """

    long_prompt_usd_per_call: float
    fine_tuned_usd_per_call: float
    training_usd: float
    monthly_saving_usd: float
    payback_months: float | None
    breakeven_calls_per_month: float | None
    recommendation: str
    table: list[FineTuneRow]


def fine_tune_breakeven(
    *,
    calls_per_month: float,
    prompt_tokens_removed: float,
    other_input_tokens: float,
    output_tokens: float,
    input_rate: float,
    output_rate: float,
    ft_input_rate: float,
    ft_output_rate: float,
    training_tokens: float,
    training_usd_per_token: float,
    epochs: int = 3,
    cache_read_rate: float | None = None,
    cached_share: float = 0.0,
    prompt_tokens_left: float = 0.0,
    ft_hosting_monthly_usd: float = 0.0,
    horizon_months: float = 12.0,
    multipliers: Iterable[float] = (0.1, 0.5, 1.0, 2.0, 10.0),
) -> FineTuneBreakEven:
    """Fine-tuning versus a long prompt (formulas in the module docstring).

    >>> r = fine_tune_breakeven(calls_per_month=100_000, prompt_tokens_removed=2000, other_input_tokens=200,
    ...     output_tokens=150, input_rate=0.15e-6, output_rate=0.6e-6, ft_input_rate=0.3e-6,
    ...     ft_output_rate=1.2e-6, training_tokens=500_000, training_usd_per_token=3e-6)
    >>> round(r.monthly_saving_usd, 2), round(r.breakeven_calls_per_month, 1)
    (18.0, 2083.3)
    """
    if not 0 <= cached_share <= 1:
        raise ConfigurationError(f"cached_share must be between 0 and 1, got {cached_share}.")
    _positive("horizon_months", horizon_months)
    # A negative or NaN volume, price or token count gives a confident wrong answer
    # (negative break-even volumes, "pays back in -6 months"): refuse it, as self-hosting does.
    _positive("calls_per_month", calls_per_month)
    _positive("prompt_tokens_removed", prompt_tokens_removed)
    _positive("training_tokens", training_tokens)
    if int(epochs) != epochs or epochs < 1:
        raise ConfigurationError(f"epochs must be a whole number of at least 1, got {epochs!r}.")
    for name, value in (
        ("other_input_tokens", other_input_tokens),
        ("output_tokens", output_tokens),
        ("prompt_tokens_left", prompt_tokens_left),
        ("training_usd_per_token", training_usd_per_token),
        ("ft_hosting_monthly_usd", ft_hosting_monthly_usd),
    ):
        _positive(name, value, zero=True)
    read = input_rate if cache_read_rate is None else cache_read_rate
    long_call = (
        prompt_tokens_removed * (input_rate * (1 - cached_share) + read * cached_share)
        + other_input_tokens * input_rate
        + output_tokens * output_rate
    )
    ft_call = (prompt_tokens_left + other_input_tokens) * ft_input_rate + output_tokens * ft_output_rate
    training = training_tokens * int(epochs) * training_usd_per_token
    per_call = long_call - ft_call
    monthly = calls_per_month * per_call - ft_hosting_monthly_usd
    payback = training / monthly if monthly > 0 else None
    breakeven = (training / horizon_months + ft_hosting_monthly_usd) / per_call if per_call > 0 else None
    if breakeven is None:
        advice = "long prompt: the fine-tuned model costs more per call than the long prompt"
    elif calls_per_month >= breakeven:
        advice = f"fine-tune: pays back the training in {payback:.1f} months"
    else:
        advice = f"long prompt: fine-tuning pays off above {breakeven:,.0f} calls/month over {horizon_months:g} months"
    volumes = sorted({calls_per_month * m for m in multipliers} | ({breakeven} if breakeven else set()))
    table = [
        FineTuneRow(
            calls_per_month=v,
            long_prompt_usd=v * long_call,
            fine_tuned_usd=v * ft_call + ft_hosting_monthly_usd,
            saving_usd=v * per_call - ft_hosting_monthly_usd,
        )
        for v in volumes
    ]
    return FineTuneBreakEven(
        long_prompt_usd_per_call=long_call,
        fine_tuned_usd_per_call=ft_call,
        training_usd=training,
        monthly_saving_usd=monthly,
        payback_months=payback,
        breakeven_calls_per_month=breakeven,
        recommendation=advice,
        table=table,
    )


def training_price(model: str) -> float | None:
    """USD per training token of an OpenAI base model (see :data:`TRAINING_USD_PER_MTOK`)."""
    from ._rules import normalize_model_name

    name = model.split(":")[1] if model.startswith("ft:") else model
    for key, price in TRAINING_USD_PER_MTOK.items():
        if key == name or normalize_model_name(key) == normalize_model_name(name):
            return price / 1e6
    return None
