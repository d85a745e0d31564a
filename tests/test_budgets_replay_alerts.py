"""Thresholds crossed by spend replayed after an outage alert once across processes.

Each process of a fleet replays its own outage journal when the shared store answers
again. The replay runs as the breaker's one probe; the alert bookkeeping it triggers
must reach the shared store too, or every process keeps its flag locally and sends the
same "reached 100 %" alert (seen on a real Redis restart with four workers).
"""

from __future__ import annotations

import time
from typing import Any

from llm_cost_hooks.budget import (
    AlertManager,
    FailoverSpendStore,
    InProcessSpendStore,
    Limit,
    SpendGuard,
    SpendRequest,
    SpendStoreUnavailable,
)

REQ = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant="acme")


class _Switch:
    """The shared store (one for every "process"), unreachable while ``down``."""

    def __init__(self) -> None:
        self.inner = InProcessSpendStore()
        self.down = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise SpendStoreUnavailable("the shared store is unreachable")
            return attr(*args, **kwargs)

        return call


def test_replayed_spend_alerts_each_threshold_once_across_processes(tmp_path: Any) -> None:
    shared = _Switch()
    limit = Limit.usd(1.0, per="day", scope="tenant", name="daily", alert_at=(0.5, 1.0))
    events: list[Any] = []
    guards = [
        SpendGuard(
            [limit],
            store=FailoverSpendStore(shared, retry_after=0.05, journal=str(tmp_path / f"journal-{i}")),
            alerts=AlertManager([events.append], log=False, span_events=False),
        )
        for i in range(3)
    ]
    for g in guards:  # 0.3 of the limit, shared
        g.reserve(REQ).settle(0.1)
    shared.down = True
    for g in guards:  # each process alone: 0.35 + 0.1 seen locally, under 0.5
        g.reserve(REQ).settle(0.2)
    assert [e for e in events if e.kind == "threshold"] == []
    shared.down = False
    time.sleep(0.1)  # past retry_after: the next call replays the journal
    for g in guards:
        g.reserve(REQ).settle(0.01)
    assert all(g.store.journal.pending == 0 for g in guards)
    assert abs(guards[0].spent(limit, "acme") - 0.93) < 1e-9  # every journal replayed
    reached = sorted(e.threshold for e in events if e.kind == "threshold")
    assert reached == [0.5], reached  # 0.3 + 3 x 0.2 + 3 x 0.01 = 0.93: 50 % once, fleet-wide


def test_an_alert_raised_during_an_outage_is_not_raised_again_by_another_process(tmp_path: Any) -> None:
    # While the shared store is away each process keeps its alert flags to itself (two
    # processes crossing 30 % alone both alert: documented). Once it answers, the flags
    # raised meanwhile are written to it, so a third process crossing the same threshold
    # on the shared total afterwards does not send the same alert a third time.
    shared = _Switch()
    limit = Limit.usd(1.0, per="day", scope="tenant", name="daily", alert_at=(0.3,))
    events: list[Any] = []
    guards = [
        SpendGuard(
            [limit],
            store=FailoverSpendStore(
                shared, retry_after=0.05, outage_after=0.2, journal=str(tmp_path / f"journal-{i}")
            ),
            alerts=AlertManager([events.append], log=False, span_events=False),
        )
        for i in range(3)
    ]
    guards[0].reserve(REQ).settle(0.01)
    for g in guards[1:]:  # each process has seen the shared total
        g.reserve(REQ).settle(0.001)
    shared.down = True
    for g in guards[:2]:  # each crosses 30 % on its local total alone
        g.reserve(REQ).settle(0.35)
    assert len([e for e in events if e.kind == "threshold"]) == 2
    shared.down = False
    time.sleep(0.1)  # past retry_after: the next call replays the journal
    for g in guards[:2]:
        g.reserve(REQ).settle(0.001)
    assert all(g.store.journal.pending == 0 for g in guards)
    guards[2].reserve(REQ).settle(0.001)  # the shared total is past 30 %: already alerted
    assert len([e for e in events if e.kind == "threshold"]) == 2
