"""Leases, over-spend accounting, bounded in-process memory and the outage journal
(unit level; the real-Redis outage runs are in test_budgets_outages.py)."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest

from llm_cost_hooks.budget import (
    AlertManager,
    FailoverSpendStore,
    InProcessSpendStore,
    Limit,
    SpendGuard,
    SpendJournal,
    SpendRequest,
    SpendStoreUnavailable,
)
from llm_cost_hooks.budget._guard import _PID

REQ = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant="acme")


def _guard(events: list, **kw) -> SpendGuard:
    limit = Limit.usd(1.0, per="day", scope="tenant", name="daily", alert_at=(1.0,))
    return SpendGuard([limit], alerts=AlertManager([events.append], log=False, span_events=False), **kw)


def test_settling_above_the_reservation_is_counted_tagged_and_alerted_once_per_period() -> None:
    events: list = []
    guard = _guard(events)
    r = guard.reserve(REQ)
    r.settle(r.worst_usd * 1.3)
    assert r.overspend and r.overspend[0][0] == "daily" and r.overspend[0][2] == "above_reservation"
    assert r.overspend[0][1] == pytest.approx(r.worst_usd * 0.3, rel=1e-6)
    tags = r.tags()
    assert tags["budget.overspend.reason"] == "above_reservation"
    assert float(tags["budget.overspend_usd"]) == pytest.approx(r.worst_usd * 0.3, rel=1e-6)
    again = guard.reserve(REQ)
    again.settle(again.worst_usd * 2)
    assert guard.overspend["daily"][0] == 2  # every one counted
    kinds = [e for e in events if e.kind == "overspend"]
    assert len(kinds) == 1 and kinds[0].reason == "above_reservation"  # alerted once per limit and period
    ok = guard.reserve(REQ)
    ok.settle(ok.worst_usd / 2)
    assert not ok.overspend and "budget.overspend.reason" not in ok.tags()


def test_a_settlement_after_the_lease_ended_is_counted_as_late() -> None:
    events: list = []
    guard = _guard(events, lease_seconds=0.05)
    guard._renewer_pid = _PID[0]  # no renewer thread: the lease lapses
    r = guard.reserve(REQ)
    time.sleep(0.1)
    assert guard.usage("daily", "acme")[1] == 0  # the hold was freed when the lease ended
    r.settle(r.worst_usd / 2)
    assert r.overspend[0][2] == "lease_expired"
    assert [e.reason for e in events if e.kind == "overspend"] == ["lease_expired"]


def test_leases_are_renewed_while_the_call_is_alive_and_a_release_frees_at_once() -> None:
    # The renewer runs every third of a lease: a lease of 1 s lets it be late by up to 0.67 s
    # (a loaded machine) before the hold lapses.
    guard = _guard([], lease_seconds=1.0)
    r = guard.reserve(REQ)
    time.sleep(3.0)  # three leases: only renewals keep it
    assert guard.usage("daily", "acme")[1] == pytest.approx(r.worst_usd)
    r.settle(0.0001)
    assert not r.overspend  # renewed: not late
    held = guard.reserve(REQ)
    held.release()  # a clean error: freed at once, not at the end of the lease
    assert guard.usage("daily", "acme") == (pytest.approx(0.0001), 0)


def test_in_process_store_drops_keys_whose_period_ended() -> None:
    now = [0.0]
    store = InProcessSpendStore(clock=lambda: now[0])
    for user in range(5000):
        store.reserve(f"r{user}", [f"b:daily:user:{user}:20260101"], [100], [10], [3600], 30)
        store.settle(f"r{user}", [f"b:daily:user:{user}:20260101"], [5], [3600])
    assert len(store) == 5000
    now[0] = 3601.0
    store.reserve("next", ["b:daily:user:x:20260102"], [100], [1], [3600], 30)  # a reservation sweeps
    assert len(store) == 1
    assert store.usage("b:daily:user:1:20260101") == (0, 0)


class _Down:
    """A shared store that is unreachable."""

    url, prefix = "redis://down", "t"

    def __getattr__(self, name):
        def fail(*a, **k):
            raise SpendStoreUnavailable("down")

        async def afail(*a, **k):
            raise SpendStoreUnavailable("down")

        return afail if name.startswith("a") else fail


class _Up(InProcessSpendStore):
    url, prefix = "redis://down", "t"


def test_fallback_operations_are_journalled_to_disk_and_replayed_once(tmp_path: Path) -> None:
    store = FailoverSpendStore(_Down(), journal=tmp_path, retry_after=0.0)
    guard = _guard([], store=store)
    r = guard.reserve(REQ)
    r.settle(0.25)
    lines = [json.loads(x) for x in store.journal.path.read_text().splitlines()]
    assert [x["op"] for x in lines] == ["reserve", "settle"]
    assert store.journal.pending == 1
    up = _Up()
    store.primary = up  # the shared store is back
    guard.usage("daily", "acme")
    assert up.usage(guard._key("daily", "acme", None)[1]) == (250_000_000, 0)
    assert store.journal.pending == 0 and store.journal.path.read_text() == ""


def _die_with_journal(directory: str) -> None:  # runs in a child process
    store = FailoverSpendStore(_Down(), journal=directory, retry_after=60.0)
    guard = SpendGuard(
        [Limit.usd(1.0, per="day", scope="tenant", name="daily")],
        store=store,
        alerts=AlertManager(log=False, span_events=False),
    )
    guard.reserve(REQ).settle(0.5)
    guard.reserve(REQ)  # in flight when the process dies
    import os

    os._exit(0)  # no cleanup: like a crash


def test_a_dead_process_journal_is_adopted_and_replayed(tmp_path: Path) -> None:
    child = multiprocessing.get_context("spawn").Process(target=_die_with_journal, args=(str(tmp_path),))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    up = _Up()
    store = FailoverSpendStore(up, journal=tmp_path)
    guard = _guard([], store=store)
    guard.usage("daily", "acme")  # first contact: adopts and replays
    assert guard.spent("daily", "acme") == pytest.approx(0.5)
    assert store.journal.orphaned_holds == 1  # counted, and its lease has ended
    assert not [p for p in tmp_path.glob("*.jsonl") if p != store.journal.path]  # the dead one is gone


def test_journal_is_bounded_and_counts_what_it_sets_aside() -> None:
    journal = SpendJournal(None, max_entries=2)
    for i in range(3):
        journal.append(
            {"op": "settle", "id": f"r{i}", "keys": ["k"], "actual": [i + 1], "ttls": [60], "bucket": 0}
        )
    assert journal.pending == 2 and journal.set_aside == 1 and journal.set_aside_units == 1
