"""False alarms and caught incidents of spend-anomaly rules on generated hourly traffic.

    python -m bench.alerts_anomaly [--seeds 1,2,3] [--weeks 6] [--tenants 30]

Each seed is one traffic shape: hourly spend of ``--tenants`` tenants over ``--weeks``
weeks, made of Poisson call counts (a day and a week cycle, a tenant's own time zone,
hour-to-hour burstiness) times a heavy-tailed cost per call. Seed 1 has a strong cycle
(nights at 2-10 % of the day, weekends at 20-50 %), seed 2 a mild one (nights at 40-70 %,
weekends 70-100 %), seed 3 a strong cycle with more nightly batch jobs and more sparse
tenants. In every shape: a few sparse tenants (well under one call an hour), a few with a
nightly batch job (a fixed hour at several times their mean), one tenant that appears
at the start of week 3, and injected incidents on the others: runaway loops (extra spend of
5-20x the tenant's mean hourly spend for 1-3 hours, one starting at night and one in the
day per tenant) and a slow ramp (spend growing to 4x over three days) on every third tenant.

Every hour of every tenant is checked as the rule would check it at the end of the hour
(a check within the hour sees a part of the same total, so an hour alarms in the end iff its
total is above the threshold). An alarm in an incident's hours counts as catching it (its
delay is the hour it fires in, 0 = the incident's first hour); any other alarm is false.

Rules: ``mean24 xF`` is today's :class:`~llm_cost_hooks.budget.AnomalyRule` (the package's
own ``anomaly_baseline``, trailing 24-hour mean, factor F). ``cycle ...`` is the candidate:
the same hour of day (and the hours either side) over the last 14 days and the same hour of
the week over the last 4 weeks, median and MAD; it alarms when the hour's spend is above
``max(F x baseline, baseline + K x MAD)`` and at least ``floor`` dollars above the baseline.
Before 3 days of history it compares with F x the largest hour of the last 24 instead.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llm_cost_hooks.budget import AnomalyRule
from llm_cost_hooks.budget._alerts import _CYCLE_BACK, anomaly_baseline, anomaly_cycle_threshold

NANO = 1_000_000_000
H_DAY, H_WEEK = 24, 168


@dataclass
class Incident:
    kind: str  # "runaway-night", "runaway-day", "ramp"
    start: int
    hours: int
    extra: float = 0.0  # USD an hour it adds (a ramp: in its last hour)


@dataclass
class Tenant:
    name: str
    spend: np.ndarray  # USD per hour
    born: int  # first hour it exists
    sparse: bool
    incidents: list[Incident] = field(default_factory=list)


def _shape(seed: int) -> dict[str, tuple[float, float]]:
    if seed % 3 == 2:  # mild cycle
        return {"night": (0.4, 0.7), "weekend": (0.7, 1.0), "sparse": (3, 3), "batch": (2, 2)}
    if seed % 3 == 0:  # strong cycle, more batch jobs and sparse tenants
        return {"night": (0.02, 0.1), "weekend": (0.2, 0.5), "sparse": (6, 6), "batch": (6, 6)}
    return {"night": (0.02, 0.1), "weekend": (0.2, 0.5), "sparse": (3, 3), "batch": (3, 3)}


def generate(seed: int, weeks: int, n_tenants: int) -> list[Tenant]:
    rng = np.random.default_rng(seed)
    shape = _shape(seed)
    hours = weeks * H_WEEK
    t = np.arange(hours)
    n_sparse = int(shape["sparse"][0])
    n_batch = int(shape["batch"][0])
    tenants: list[Tenant] = []
    for i in range(n_tenants):
        sparse = i < n_sparse
        batch = n_sparse <= i < n_sparse + n_batch
        newcomer = i == n_tenants - 1
        tz = int(rng.integers(-8, 10))  # the tenant's users' UTC offset
        night = rng.uniform(*shape["night"])
        weekend = rng.uniform(*shape["weekend"])
        local = (t + tz) % H_DAY
        # Smooth business day: ramps up 7-10h, down 17-21h local.
        day = np.clip(np.minimum((local - 6) / 3.0, (21 - local) / 4.0), 0.0, 1.0)
        daily = night + (1 - night) * day
        dow = ((t + tz) // H_DAY) % 7
        weekly = np.where(dow >= 5, weekend, 1.0)
        if sparse:
            rate = rng.uniform(0.05, 0.6)  # calls per busy hour
            cost = rng.uniform(0.002, 0.05)  # mean USD per call
        else:
            rate = math.exp(rng.uniform(math.log(5), math.log(400)))
            cost = math.exp(rng.uniform(math.log(0.002), math.log(0.08)))
        burst = rng.gamma(8.0, 1 / 8.0, hours)  # hour-to-hour burstiness, cv 0.35
        lam = rate * daily * weekly * burst
        if batch:
            batch_hour = int(rng.integers(0, 6))  # a nightly job, local time
            lam = lam + np.where(local == batch_hour, rate * rng.uniform(2, 5), 0.0)
        born = 2 * H_WEEK if newcomer else 0
        lam[:born] = 0.0
        spend = _calls_cost(rng, lam, cost)
        tenants.append(Tenant(f"t{i:02d}", spend, born, sparse))
    for i, tenant in enumerate(tenants):
        if tenant.sparse:
            continue
        _inject(rng, tenant, ramp=i % 3 == 0, cost_rng=rng)
    return tenants


def _calls_cost(rng: np.random.Generator, lam: np.ndarray, cost: float) -> np.ndarray:
    calls = rng.poisson(lam)
    # Lognormal cost per call (sigma 1: a few long prompts dominate); sum per hour.
    sigma = 1.0
    mu = math.log(cost) - sigma**2 / 2
    out = np.zeros(len(lam))
    for h in np.nonzero(calls)[0]:
        out[h] = rng.lognormal(mu, sigma, int(calls[h])).sum()
    return out


def _inject(rng: np.random.Generator, tenant: Tenant, *, ramp: bool, cost_rng: np.random.Generator) -> None:
    hours = len(tenant.spend)
    first = tenant.born + H_WEEK  # a week of history before any incident
    lived = tenant.spend[tenant.born : first]
    mean = float(lived.mean()) if len(lived) else 0.0
    busy_hours = np.argsort(lived)[-40:] % H_DAY  # the tenant's busiest hours of day (UTC)
    quiet_hours = np.argsort(lived)[:40] % H_DAY
    taken: list[tuple[int, int]] = []

    def free(start: int, length: int) -> bool:
        return all(start + length + 24 < s or e + 24 < start for s, e in taken)

    for kind, pool in (("runaway-night", quiet_hours), ("runaway-day", busy_hours)):
        for _ in range(200):
            day = int(rng.integers(first // H_DAY, hours // H_DAY - 1))
            start = day * H_DAY + int(rng.choice(pool))
            length = int(rng.integers(1, 4))
            if start >= first and start + length < hours and free(start, length):
                break
        else:
            continue
        multiple = rng.uniform(5, 20)
        for h in range(start, start + length):
            tenant.spend[h] += multiple * mean * rng.uniform(0.8, 1.2)
        taken.append((start, start + length))
        tenant.incidents.append(Incident(kind, start, length, multiple * mean))
    if ramp:
        length = 72
        for _ in range(200):
            start = int(rng.integers(first, hours - length - 1))
            if free(start, length):
                break
        else:
            return
        growth = 1 + 3 * (np.arange(length) + 1) / length  # to 4x over three days
        tenant.spend[start : start + length] *= growth
        taken.append((start, start + length))
        tenant.incidents.append(Incident("ramp", start, length, 3 * mean))


# -- rules ---------------------------------------------------------------------------------
Rule = Callable[[np.ndarray, int], bool]


def mean24(factor: float) -> Rule:
    rule = AnomalyRule(factor=factor)

    def fires(spend: np.ndarray, h: int) -> bool:
        lo = h - rule.trailing_hours - 1
        window = [int(v) for v in np.round(spend[max(lo, 0) : h + 1] * NANO)]
        *history, current = [0] * max(-lo, 0) + window
        mean = anomaly_baseline(history, rule)
        return mean is not None and current > rule.factor * mean

    return fires


def _history(spend: np.ndarray, h: int) -> tuple[int, int]:
    """(first hour with spend, full hours of history since) as of hour ``h``."""
    if not spend[: h + 1].any():
        return h, -1
    first = int(np.argmax(spend > 0))
    return first, h - first - 1  # the first hour with spend is partial


def _robust(samples: np.ndarray) -> tuple[float, float]:
    med = float(np.median(samples))
    return med, 1.4826 * float(np.median(np.abs(samples - med)))


def cycle_mixed(factor: float, k: float, floor: float, days: int = 14, weeks: int = 4) -> Rule:
    """The first candidate: same hour of day over 14 days (all days mixed) with the same
    hour of the week over 4 weeks; dropped (weekend hours widen the MAD, see README)."""

    def fires(spend: np.ndarray, h: int) -> bool:
        current = float(spend[h])
        if current <= floor:
            return False
        first, lived = _history(spend, h)
        if lived < 3:
            return False
        if lived < 3 * H_DAY:  # no cycle yet: compare with the busiest recent hour
            base = float(spend[max(first + 1, h - H_DAY) : h].max())
            return current > factor * base and current - base >= floor
        same_hour = [
            spend[h - d * H_DAY + o]
            for d in range(1, days + 1)
            for o in (-1, 0, 1)
            if first < h - d * H_DAY + o < h
        ]
        same_week = [spend[h - w * H_WEEK] for w in range(1, weeks + 1) if h - w * H_WEEK > first]
        med, mad = _robust(np.asarray(same_hour))
        base = max(med, float(np.median(same_week)) if len(same_week) >= 2 else 0.0)
        return current > max(factor * base, base + k * mad) and current - base >= floor

    return fires


def cycle(
    factor: float,
    k: float,
    floor: float,
    high: float = 0.0,
    excess: float = 0.0,
    days: int = 14,
    weeks: int = 4,
) -> Rule:
    """The candidate kept: the baseline is the larger of two medians, the same hour of day
    over the last ``days`` days and the same hour of the week over the last ``weeks``
    weeks (once two exist); the spread is the MAD of the same-hour-of-day samples. With
    ``high``, the hour must also be above ``high`` x the second largest same-hour-of-day
    sample (a tenant whose hours are spiky has spiky history). With ``excess``, the hour
    must be at least ``excess`` x the tenant's mean hourly spend of the last ``days`` days
    above the baseline. Before three days of history: the busiest hour of the last 24."""

    def fires(spend: np.ndarray, h: int) -> bool:
        current = float(spend[h])
        if current <= floor:
            return False
        first, lived = _history(spend, h)
        if lived < 3:
            return False
        if lived < 3 * H_DAY:
            base = float(spend[max(first + 1, h - H_DAY) : h].max())
            return current > factor * base and current - base >= floor
        same_hour = np.asarray([spend[h - d * H_DAY] for d in range(1, days + 1) if h - d * H_DAY > first])
        same_week = [spend[h - w * H_WEEK] for w in range(1, weeks + 1) if h - w * H_WEEK > first]
        med, mad = _robust(same_hour)
        base = max(med, float(np.median(same_week)) if len(same_week) >= 2 else 0.0)
        top = float(np.sort(same_hour)[-2]) if high and len(same_hour) >= 2 else 0.0
        need = floor
        if excess:
            need = max(floor, excess * float(spend[max(first + 1, h - days * H_DAY) : h].mean()))
        return current > max(factor * base, base + k * mad, high * top) and current - base >= need

    return fires


def cycle_package(factor: float) -> Rule:
    """``AnomalyRule(baseline="cycle")`` as the package runs it (its own
    ``anomaly_cycle_threshold`` on the 51 hourly sums it reads): the ``cycle`` rule with
    k 3, high 2, floor $0.25 and the excess taken over the trailing 24-hour mean (x2), the
    tenant's age guessed from the oldest of those hours with spend."""
    rule = AnomalyRule(baseline="cycle", factor=factor)

    def fires(spend: np.ndarray, h: int) -> bool:
        history = [round(float(spend[h - b]) * NANO) if h - b >= 0 else 0 for b in _CYCLE_BACK]
        found = anomaly_cycle_threshold(history, rule)
        return found is not None and round(float(spend[h]) * NANO) > found[1]

    return fires


# -- scoring -------------------------------------------------------------------------------
@dataclass
class Score:
    false_alarms: int = 0
    false_sparse: int = 0
    tenant_weeks: float = 0.0
    caught: dict[str, list[int]] = field(default_factory=dict)  # kind -> delays
    missed: dict[str, list[float]] = field(default_factory=dict)  # kind -> extra USD/h of each
    total: dict[str, int] = field(default_factory=dict)


def score(tenants: list[Tenant], rule: Rule) -> Score:
    out = Score()
    for tenant in tenants:
        spend = tenant.spend
        out.tenant_weeks += (len(spend) - tenant.born) / H_WEEK
        windows = [(i.start, i.start + i.hours) for i in tenant.incidents]
        alarms = [h for h in range(tenant.born, len(spend)) if rule(spend, h)]
        for h in alarms:
            if not any(s <= h < e for s, e in windows):
                out.false_alarms += 1
                out.false_sparse += tenant.sparse
        for inc in tenant.incidents:
            out.total[inc.kind] = out.total.get(inc.kind, 0) + 1
            hits = [h for h in alarms if inc.start <= h < inc.start + inc.hours]
            if hits:
                out.caught.setdefault(inc.kind, []).append(hits[0] - inc.start)
            else:
                out.missed.setdefault(inc.kind, []).append(inc.extra)
    return out


def _line(name: str, s: Score) -> str:
    per_week = s.false_alarms / s.tenant_weeks
    parts = [
        f"{name:<28} false/tenant-week {per_week:6.3f} (/month {per_week * 4.35:6.2f}; sparse {s.false_sparse:3d})"
    ]
    for kind in ("runaway-night", "runaway-day", "ramp"):
        delays = s.caught.get(kind, [])
        late = (
            f" delay max {max(delays)} h mean {sum(delays) / len(delays):.1f}"
            f" ({sum(d >= 2 for d in delays)} from hour 2 on)"
            if delays
            else ""
        )
        missed = sorted(s.missed.get(kind, []))
        gone = f" missed ${', $'.join(f'{m:.2f}' for m in missed)}/h" if missed else ""
        parts.append(f"{kind} {len(delays)}/{s.total.get(kind, 0)}{late}{gone}")
    return "\n      ".join(parts)


RULES: dict[str, Rule] = {
    "mean24 x2 (default)": mean24(2.0),
    "mean24 x4": mean24(4.0),
    "mixed±1h x2.5 k6 $0.25": cycle_mixed(2.5, 6.0, 0.25),
    "cycle x2.5 k3 $0.25": cycle(2.5, 3.0, 0.25),
    "cycle x2.5 k3 h2 $0.25": cycle(2.5, 3.0, 0.25, 2.0),
    "cycle x2.5 k3 h2 $1": cycle(2.5, 3.0, 1.0, 2.0),
    "cycle x2.5 k3 h2 $0.25 e3": cycle(2.5, 3.0, 0.25, 2.0, 3.0),
    "package cycle x2.5": cycle_package(2.5),
    "package cycle x3": cycle_package(3.0),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alerts_anomaly", description=__doc__)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--weeks", type=int, default=6)
    parser.add_argument("--tenants", type=int, default=30)
    args = parser.parse_args(argv)
    for seed in (int(s) for s in args.seeds.split(",")):
        tenants = generate(seed, args.weeks, args.tenants)
        means = sorted(float(t.spend[t.born :].mean()) for t in tenants)
        print(
            f"seed {seed}: {len(tenants)} tenants, {args.weeks} weeks, hourly mean spend "
            f"min ${means[0]:.4f} median ${means[len(means) // 2]:.3f} max ${means[-1]:.2f}; "
            f"incidents {sum(len(t.incidents) for t in tenants)}"
        )
        for name, rule in RULES.items():
            print("  " + _line(name, score(tenants, rule)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
