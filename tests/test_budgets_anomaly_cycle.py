"""AnomalyRule(baseline="cycle") on a fake clock: busy days and quiet nights raise nothing,
a runaway at night does, tiny spend never does, and the hourly sums are kept four weeks."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from conftest import FakeClock

from llm_cost_hooks.budget import AlertManager, AnomalyRule, InProcessSpendStore, SpendGuard, SpendRequest
from llm_cost_hooks.budget._alerts import anomaly_cycle_threshold

DAY0 = datetime(2026, 3, 2, 0, tzinfo=timezone.utc).timestamp()  # a Monday
REQ = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant="acme")


class TtlStore(InProcessSpendStore):
    def __init__(self) -> None:
        super().__init__()
        self.ttls: set[int] = set()

    def add_hourly(self, key: str, hour: int, amount: int, ttl: int) -> None:
        self.ttls.add(ttl)
        super().add_hourly(key, hour, amount, ttl)


def _guard(events: list, clock: FakeClock, **rule: object) -> SpendGuard:
    alerts = AlertManager(
        [events.append],
        log=False,
        span_events=False,
        anomaly=AnomalyRule(scope="tenant", check_interval_seconds=0, **rule),  # type: ignore[arg-type]
        timer=lambda delay, fn: None,
    )
    return SpendGuard([], clock=clock, alerts=alerts, store=TtlStore())


def _office_hours(guards: list[SpendGuard], clock: FakeClock, days: int, per_call: float = 0.05) -> None:
    """Twelve calls an hour 09:00-17:00 UTC on weekdays, a quarter of that at weekends."""
    for day in range(days):
        step = 300 if day % 7 < 5 else 1200
        for second in range(9 * 3600, 17 * 3600, step):
            clock.t = DAY0 + day * 86400 + second
            for guard in guards:
                guard.reserve(REQ).settle(per_call)


def test_office_hours_raise_no_cycle_anomaly_where_the_trailing_mean_raises_many() -> None:
    cycle_events: list = []
    mean_events: list = []
    clock = FakeClock(DAY0)
    cycle = _guard(cycle_events, clock, baseline="cycle", factor=2.5)
    mean = _guard(mean_events, clock)
    _office_hours([cycle, mean], clock, days=21)
    assert [e for e in cycle_events if e.kind == "anomaly"] == []
    assert len([e for e in mean_events if e.kind == "anomaly"]) > 20  # every busy morning, nearly
    assert cycle.store.ttls == {(24 * 28 + 3) * 3600}  # four weeks of hourly sums
    assert mean.store.ttls == {(24 + 3) * 3600}

    # Day 22, 03:00: a loop spends 3 USD in the hour where the tenant spends nothing.
    for k in range(30):
        clock.t = DAY0 + 21 * 86400 + 3 * 3600 + 60 * k
        cycle.reserve(REQ).settle(0.1)
    anomalies = [e for e in cycle_events if e.kind == "anomaly"]
    assert len(anomalies) == 1
    assert anomalies[0].reason == "cycle" and anomalies[0].baseline == 0.0
    assert anomalies[0].spent == pytest.approx(0.3, abs=0.11)  # raised as soon as it passed the floor
    assert "usual" in anomalies[0].message
    assert "budget.overspend.reason" not in anomalies[0].attributes()


def test_a_tiny_tenant_never_raises_a_cycle_anomaly() -> None:
    events: list = []
    clock = FakeClock(DAY0)
    guard = _guard(events, clock, baseline="cycle", factor=2.5)
    _office_hours([guard], clock, days=15, per_call=0.0005)  # 0.006 USD a busy hour
    for k in range(40):  # 0.2 USD in one night hour: 30x the busy hours, under the 0.25 floor
        clock.t = DAY0 + 15 * 86400 + 2 * 3600 + 60 * k
        guard.reserve(REQ).settle(0.005)
    assert [e for e in events if e.kind == "anomaly"] == []


def test_cycle_threshold_needs_min_history_and_uses_the_busiest_recent_hour_first() -> None:
    rule = AnomalyRule(baseline="cycle", factor=2.5, min_history_hours=3)
    usd = 1_000_000_000
    two_hours = [0] * 22 + [usd, usd] + [0] * 27
    assert anomaly_cycle_threshold(two_hours, rule) is None  # one full hour so far
    day = [0] * 20 + [usd, 2 * usd, usd, usd] + [0] * 27
    usual, threshold = anomaly_cycle_threshold(day, rule)  # type: ignore[misc]
    assert usual == 2 * usd and threshold == 5 * usd


def test_cycle_rule_on_redis_keeps_four_weeks_and_alerts_from_async_calls(redis_clean_url: str) -> None:
    import redis

    events: list = []
    clock = FakeClock(DAY0)
    alerts = AlertManager(
        [events.append],
        log=False,
        span_events=False,
        anomaly=AnomalyRule(baseline="cycle", factor=2.5, check_interval_seconds=0),
        timer=lambda delay, fn: None,
    )
    guard = SpendGuard([], clock=clock, alerts=alerts, store=redis_clean_url)

    async def main() -> None:
        for day in range(4):
            for second in range(9 * 3600, 17 * 3600, 900):  # 0.4 USD a busy hour
                clock.t = DAY0 + day * 86400 + second
                r = await guard.areserve(REQ)
                await r.asettle(0.1)
        assert events == []
        for k in range(10):  # day 5, 02:00: 1 USD where the tenant spends nothing
            clock.t = DAY0 + 4 * 86400 + 2 * 3600 + 60 * k
            r = await guard.areserve(REQ)
            await r.asettle(0.1)

    asyncio.run(main())
    anomalies = [e for e in events if e.kind == "anomaly"]
    assert len(anomalies) == 1 and anomalies[0].reason == "cycle" and anomalies[0].baseline == 0.0
    client = redis.Redis.from_url(redis_clean_url)
    keys = list(client.scan_iter(match="*h:tenant:acme:*"))
    assert len(keys) == 4 * 8 + 1
    ttl = client.ttl(keys[0])
    assert (24 * 28 + 2) * 3600 < ttl <= (24 * 28 + 3) * 3600
