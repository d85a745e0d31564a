"""Reserve and settle in one process: the short paths taken when a settlement has nothing
to alert, prices read once per model, and the in-process store's holds, checked against
what the full checks decide."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import (
    AlertManager,
    AnomalyRule,
    InProcessSpendStore,
    Limit,
    SpendGuard,
    SpendRequest,
)


def manager(events: list[Any], **kw: Any) -> AlertManager:
    return AlertManager([events.append], log=False, span_events=False, **kw)


def thresholds(events: list[Any]) -> list[tuple[str, float]]:
    return [(e.kind, e.threshold) for e in events if e.kind == "threshold"]


@pytest.mark.parametrize(
    ("limit", "request_", "settles"),
    [
        # USD: half of $0.004 less one nano-dollar, then that nano-dollar.
        (
            Limit.usd(0.004, per="day", scope="tenant", alert_at=(0.5,)),
            SpendRequest(model="gpt-4o-mini", input_tokens=100, max_output_tokens=2000, tenant="acme"),
            [{"cost_usd": 0.001}, {"cost_usd": 0.000999999}, {"cost_usd": 1e-9}],
        ),
        # Tokens: 499 of 1,000, then one more.
        (
            Limit.tokens(1000, per="day", scope="tenant", alert_at=(0.5,)),
            SpendRequest(model="gpt-4o-mini", input_tokens=100, max_output_tokens=400, tenant="acme"),
            [
                {"cost_usd": 0.0, "input_tokens": 100, "output_tokens": 399},
                {"cost_usd": 0.0, "input_tokens": 1, "output_tokens": 0},
            ],
        ),
    ],
    ids=["usd", "tokens"],
)
def test_a_threshold_alerts_at_exactly_its_fraction_and_not_one_unit_below(
    limit: Limit, request_: SpendRequest, settles: list[dict[str, Any]]
) -> None:
    events: list[Any] = []
    guard = SpendGuard([limit], alerts=manager(events))
    for settle in settles[:-1]:
        guard.reserve(request_).settle(**settle)
    assert events == []  # one unit below half
    reservation = guard.reserve(request_)
    reservation.settle(**settles[-1])
    assert reservation.overspend == []
    assert thresholds(events) == [("threshold", 0.5)]
    assert [e.kind for e in events] == ["threshold"] and events[0].fraction == 0.5


def test_a_total_past_the_limit_is_alerted_though_no_threshold_is_reached_and_no_call_overspent() -> None:
    # Two guards on one store, one limit name: the small guard's call settles within its
    # hold, but the big guard's spend has taken the total past the small guard's limit.
    store = InProcessSpendStore()
    events: list[Any] = []
    small = SpendGuard(
        [Limit.usd(0.001, per="day", scope="tenant", name="day", alert_at=(5.0,))],
        store=store,
        alerts=manager(events),
    )
    big = SpendGuard([Limit.usd(1.0, per="day", scope="tenant", name="day")], store=store, alerts=manager([]))
    req = SpendRequest(model="gpt-4o-mini", input_tokens=100, max_output_tokens=100, tenant="acme")
    held = small.reserve(req)
    big.reserve(req).settle(0.002)
    held.settle(0.00001)
    assert held.overspend == []
    assert [(e.kind, e.reason) for e in events] == [("overspend", "over_limit")]
    assert events[0].spent == pytest.approx(0.00201)


def test_metric_hooks_see_every_settlement_far_below_the_thresholds() -> None:
    seen: list[tuple[str, float]] = []
    alerts = AlertManager(log=False, span_events=False, metric_hooks=[lambda n, v, a: seen.append((n, v))])
    guard = SpendGuard([Limit.usd(100.0, per="day", scope="tenant")], alerts=alerts)
    req = SpendRequest(model="gpt-4o-mini", input_tokens=100, max_output_tokens=100, tenant="acme")
    for _ in range(3):
        guard.reserve(req).settle(0.00001)
    utilization = [v for n, v in seen if n == "llm_cost_hooks.budget.utilization"]
    assert utilization == pytest.approx([1e-7, 2e-7, 3e-7])


def test_the_anomaly_rule_counts_every_settlement_far_below_the_thresholds() -> None:
    alerts = AlertManager(log=False, span_events=False, anomaly=AnomalyRule(scope="tenant"))
    store = InProcessSpendStore()
    guard = SpendGuard([Limit.usd(100.0, per="day", scope="tenant")], store=store, alerts=alerts)
    req = SpendRequest(model="gpt-4o-mini", input_tokens=100, max_output_tokens=100, tenant="acme")
    for _ in range(3):
        guard.reserve(req).settle(0.00001)
    assert sum(amount for amount, _ in store._hours.values()) == 30_000


class _UnreadableTotals(InProcessSpendStore):
    """A custom store whose settle answers totals no alert check can read."""

    def settle(self, res_id: str, keys: Any, actual: Any, ttls: Any) -> list[Any]:
        super().settle(res_id, keys, actual, ttls)
        return [None for _ in keys]


def test_unreadable_totals_from_a_custom_store_are_logged_not_raised(caplog: Any) -> None:
    guard = SpendGuard(
        [Limit.usd(100.0, per="day", scope="tenant")], store=_UnreadableTotals(), alerts=manager([])
    )
    req = SpendRequest(model="gpt-4o-mini", input_tokens=100, max_output_tokens=100, tenant="acme")
    with caplog.at_level(logging.ERROR, logger="llm_cost_hooks.budget"):
        reservation = guard.reserve(req)
        reservation.settle(0.00001)
    assert reservation.state == "settled"
    assert "budget alerting failed" in caplog.text


def test_a_threshold_alerts_once_even_after_the_guard_forgets_it_fired() -> None:
    events: list[Any] = []
    guard = SpendGuard([Limit.usd(0.01, per="day", scope="tenant")], alerts=manager(events))
    req = SpendRequest(model="gpt-4o-mini", input_tokens=100, max_output_tokens=100, tenant="acme")
    guard.reserve(req).settle(0.000075)  # within the hold ($0.000075)
    for _ in range(70):  # 0.0053 of 0.01
        guard.reserve(req).settle(0.000075)
    guard._fired.clear()  # as when its memory of fired alerts is full: the store still knows
    guard.reserve(req).settle(0.000075)
    assert thresholds(events) == [("threshold", 0.5)]
    other = req.model_copy(update={"tenant": "globex"})
    for _ in range(72):
        guard.reserve(other).settle(0.000075)
    assert [(e.scope_value, e.threshold) for e in events] == [("acme", 0.5), ("globex", 0.5)]


@pytest.mark.parametrize("max_output_tokens", [300, None])
def test_plans_of_repeated_calls_hold_what_estimate_says(max_output_tokens: int | None) -> None:
    guard = SpendGuard([Limit.usd(10.0, per="day", scope="tenant")], alerts=manager([]))
    for input_tokens in (412, 90_000, 7):
        req = SpendRequest(
            model="gpt-4o-mini", input_tokens=input_tokens, max_output_tokens=max_output_tokens, tenant="a"
        )
        _, _, worst, cap = guard.estimate(req)
        for _ in range(2):  # the second call reads the model's rates kept by the first
            reservation = guard.reserve(req)
            assert (reservation.worst_usd, reservation.max_output_tokens) == (worst, cap)
            reservation.release()


def test_a_per_request_limit_on_a_route_checks_only_that_route() -> None:
    guard = SpendGuard([Limit.input_tokens(500, route="search")], alerts=manager([]))
    req = SpendRequest(model="gpt-4o-mini", input_tokens=600, max_output_tokens=100, route="chat")
    for _ in range(2):
        guard.reserve(req).settle(0.0)
    with pytest.raises(BudgetExceeded, match="input_tokens_per_request@search"):
        guard.reserve(req.model_copy(update={"route": "search"}))


def test_in_process_holds_lapse_after_their_lease_and_settled_holds_free_their_amount() -> None:
    now = [1000.0]
    store = InProcessSpendStore(clock=lambda: now[0])
    assert store.reserve("r1", ["k"], [100], [60], [3600], 10).ok
    assert not store.reserve("r2", ["k"], [100], [60], [3600], 10).ok
    now[0] += 11  # r1's lease is over
    assert store.reserve("r2", ["k"], [100], [60], [3600], 10).ok
    assert store.usage("k") == (0, 60)
    assert store.settle("r2", ["k"], [30], [3600]) == [30]
    assert store.usage("k") == (30, 0)
    assert store.settle("r1", ["k"], [5], [3600]) == [35]  # its hold lapsed: only spend added
    assert store.usage("k") == (35, 0)
    assert store.reserve("r3", ["k"], [100], [65], [3600], 10).ok
    assert not store.reserve("r4", ["k"], [100], [1], [3600], 10).ok
