"""Budget alerts at the edges, on a fake clock: new tenants, bursts then silence,
thresholds at real spend, refusals."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from conftest import FakeClock

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import AlertManager, AnomalyRule, Limit, SpendGuard, SpendRequest

HOUR0 = datetime(2026, 3, 10, 0, tzinfo=timezone.utc).timestamp()
REQ = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant="acme")


class FakeTimer:
    """Collects timers; ``run_due(now)`` runs those whose time has come on the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.pending: list[tuple[float, object]] = []

    def __call__(self, delay: float, fn) -> None:
        self.pending.append((self.clock.t + delay, fn))

    def run_due(self) -> int:
        due = [p for p in self.pending if p[0] <= self.clock.t]
        self.pending = [p for p in self.pending if p[0] > self.clock.t]
        for _, fn in due:
            fn()  # type: ignore[operator]
        return len(due)


def _guard(events: list, clock: FakeClock, timer: FakeTimer | None = None, limits=(), **rule) -> SpendGuard:
    rule = {"scope": "tenant", "factor": 2.0, "trailing_hours": 24, "min_history_hours": 3, **rule}
    alerts = AlertManager(
        [events.append], log=False, span_events=False, anomaly=AnomalyRule(**rule), timer=timer
    )
    return SpendGuard(list(limits), clock=clock, alerts=alerts)


def _setup(**rule) -> tuple[list, FakeClock, FakeTimer, SpendGuard]:
    events: list = []
    clock = FakeClock(HOUR0)
    timer = FakeTimer(clock)
    return events, clock, timer, _guard(events, clock, timer, **rule)


def _steady(
    guard: SpendGuard, clock: FakeClock, timer: FakeTimer, hours: range, per_hour: float = 1.0
) -> None:
    """Six calls an hour, one every 10 minutes starting at minute 7 (a new tenant's
    first hour is partial)."""
    for h in hours:
        for k in range(6):
            clock.t = HOUR0 + h * 3600 + 420 + k * 600
            guard.reserve(REQ).settle(per_hour / 6)
            timer.run_due()


def test_steady_new_tenant_for_48_hours_raises_no_anomaly() -> None:
    events, clock, timer, guard = _setup()
    _steady(guard, clock, timer, range(48))
    clock.t += 3600
    timer.run_due()
    assert [e for e in events if e.kind == "anomaly"] == []


@pytest.mark.parametrize("min_history", [1, 3])
def test_new_tenant_partial_first_hour_is_not_a_baseline(min_history: int) -> None:
    """A tenant that starts at minute 55 spends 1/12 of a normal hour in its first hour;
    counting that hour (or the empty hours before it) made a steady second hour an anomaly."""
    events, clock, timer, guard = _setup(min_history_hours=min_history, check_interval_seconds=0)
    clock.t = HOUR0 + 55 * 60
    guard.reserve(REQ).settle(1 / 12)
    for h in range(1, 6):
        for k in range(12):
            clock.t = HOUR0 + h * 3600 + k * 300
            guard.reserve(REQ).settle(1 / 12)
    assert [e for e in events if e.kind == "anomaly"] == []


def test_spike_then_silence_raises_exactly_one_anomaly() -> None:
    events, clock, timer, guard = _setup()
    _steady(guard, clock, timer, range(24))
    assert events == []
    # Hour 24: a 5x burst in one second, right after a check, then nothing at all.
    clock.t = HOUR0 + 24 * 3600 + 30
    guard.reserve(REQ).settle(0.2)  # checked now: 0.2 is no anomaly
    for _ in range(24):
        clock.t += 0.04
        guard.reserve(REQ).settle(0.2)  # inside the 5 s interval: left to the timer
    assert events == []
    assert len(timer.pending) == 1  # one timer for the whole burst
    clock.t += 5
    assert timer.run_due() == 1
    assert guard.check_anomalies() == 0  # nothing left for later
    anomalies = [e for e in events if e.kind == "anomaly"]
    assert len(anomalies) == 1
    assert anomalies[0].spent == pytest.approx(5.0) and anomalies[0].baseline == pytest.approx(1.0)
    assert anomalies[0].scope_value == "acme" and "anomaly" in anomalies[0].message
    # Silence for two days: nothing more.
    for _ in range(48):
        clock.t += 3600
        timer.run_due()
    assert len([e for e in events if e.kind == "anomaly"]) == 1


def test_spike_checks_follow_the_guard_clock_not_the_wall_clock() -> None:
    """Calls a simulated minute apart are each checked, though the test runs in
    microseconds of real time."""
    events, clock, timer, guard = _setup()
    _steady(guard, clock, timer, range(6))
    for k in range(11):  # 11 x 0.2 = 2.2 > 2 x 1.0
        clock.t = HOUR0 + 6 * 3600 + 60 * (k + 1)
        guard.reserve(REQ).settle(0.2)
    assert timer.pending == []
    assert len([e for e in events if e.kind == "anomaly"]) == 1


def test_thresholds_fire_once_each_at_real_spend_and_refusal_has_its_own_event() -> None:
    events: list = []
    metrics: list = []
    clock = FakeClock(HOUR0 + 3600)
    alerts = AlertManager(
        [events.append],
        log=False,
        span_events=False,
        metric_hooks=[lambda name, value, attrs: metrics.append(name)],
    )
    guard = SpendGuard([Limit.usd(10.0, per="day", scope="tenant")], clock=clock, alerts=alerts)
    worst = guard.estimate(REQ)[2]
    # Each call settles at its worst case, so real spend walks up to the limit.
    n = 0
    while True:
        try:
            r = guard.reserve(REQ)
        except BudgetExceeded:
            break
        with r:
            r.settle(worst)
        n += 1
        fired = [(e.kind, e.threshold) for e in events]
        spent = guard.spent(guard.limits[0], "acme")
        # A threshold fires on the call whose settled spend crosses it, not before.
        for t in (0.5, 0.8, 1.0):
            assert (("threshold", t) in fired) == (spent >= t * 10.0 - 1e-9), (n, spent, fired)
    refused_at = guard.spent(guard.limits[0], "acme")
    assert [(e.kind, e.threshold) for e in events if e.kind == "threshold"] == [
        ("threshold", 0.5),
        ("threshold", 0.8),
    ] + ([("threshold", 1.0)] if refused_at >= 10.0 - 1e-9 else [])
    refused = [e for e in events if e.kind == "refused"]
    assert len(refused) == 1 and refused[0].requested == pytest.approx(worst, rel=1e-6)
    assert "refused a call" in refused[0].message
    # A second refusal in the same period is counted, not re-sent.
    with pytest.raises(BudgetExceeded):
        guard.reserve(REQ)
    assert len([e for e in events if e.kind == "refused"]) == 1
    assert metrics.count("llm_cost_hooks.budget.refused") == 2


def test_threshold_100_fires_when_real_spend_reaches_the_limit() -> None:
    """The refusal at 96 % used to fire 100 % early; now 100 % waits for real spend."""
    events: list = []
    clock = FakeClock(HOUR0)
    guard = SpendGuard(
        [Limit.usd(1.0, per="day", scope="tenant")],
        clock=clock,
        alerts=AlertManager([events.append], log=False, span_events=False),
    )
    # The 24 calls' worst case covers what they settle; the last one settles a hair above it.
    big = REQ.model_copy(update={"max_output_tokens": 100_000})
    small = REQ.model_copy(update={"max_output_tokens": 66_400})
    for _ in range(24):
        guard.reserve(big).settle(0.04)  # 0.96 of 1.0
    with pytest.raises(BudgetExceeded):
        guard.reserve(REQ.model_copy(update={"input_tokens": 400_000}))  # worst case 0.06 > 0.04 left
    assert [(e.kind, e.threshold) for e in events] == [
        ("threshold", 0.5),
        ("threshold", 0.8),
        ("refused", None),
    ]
    guard.reserve(small).settle(0.04)  # real spend reaches 1.00
    assert [(e.kind, e.threshold) for e in events][-1] == ("threshold", 1.0)
    assert events[-1].spent == pytest.approx(1.0)
    assert len([e for e in events if e.threshold == 1.0]) == 1


def test_async_settle_uses_the_same_anomaly_rules() -> None:
    events, clock, timer, guard = _setup(check_interval_seconds=0)

    async def main() -> None:
        for h in range(30):
            for k in range(4):
                clock.t = HOUR0 + h * 3600 + 900 * k + 1
                r = await guard.areserve(REQ)
                await r.asettle(0.25)
        clock.t = HOUR0 + 30 * 3600 + 10
        for _ in range(3):
            r = await guard.areserve(REQ)
            await r.asettle(1.0)

    asyncio.run(main())
    anomalies = [e for e in events if e.kind == "anomaly"]
    assert len(anomalies) == 1 and anomalies[0].spent == pytest.approx(3.0)
