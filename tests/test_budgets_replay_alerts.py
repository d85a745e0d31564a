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
