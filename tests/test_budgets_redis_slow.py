"""A Redis that is slow for a moment is not an outage: a shared limit holds through it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import _redis_command

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import (
    AlertManager,
    FailoverSpendStore,
    Limit,
    RedisSpendStore,
    SpendGuard,
    SpendRequest,
    SpendStoreUnavailable,
)

LIMIT = Limit.usd(0.01, per="day", scope="tenant", name="daily")
COST = 0.00045  # the worst case of REQUEST: 22 calls fit in the limit
REQUEST = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant="fresh")


def _guard(store: object) -> SpendGuard:
    return SpendGuard([LIMIT], store=store, alerts=AlertManager(log=False, span_events=False))


def _short(url: str, tmp_path: Path, **kw: object) -> FailoverSpendStore:
    # Timeouts well under the pause: every call made during it fails at least once.
    primary = RedisSpendStore(url, connect_timeout=0.25, socket_timeout=0.5)
    return FailoverSpendStore(primary, journal=str(tmp_path), **kw)  # type: ignore[arg-type]


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def test_a_burst_through_a_short_pause_stays_within_the_limit(
    redis_clean_url: str, tmp_path: Path
) -> None:
    # Another process already spent 60 % of the tenant's day; this one has never seen it.
    other = _guard(redis_clean_url)
    for _ in range(13):
        other.reserve(REQUEST).settle(COST)
    store = _short(redis_clean_url, tmp_path)
    guard = _guard(store)
    admitted = [0]

    def sync_call() -> None:
        try:
            r = guard.reserve(REQUEST)
        except BudgetExceeded:
            return
        admitted[0] += 1
        r.settle(COST)

    async def async_call() -> None:
        try:
            r = await guard.areserve(REQUEST)
        except BudgetExceeded:
            return
        admitted[0] += 1
        await r.asettle(COST)

    _redis_command(_port(redis_clean_url), "CLIENT", "PAUSE", "1500", "ALL")
    started = time.monotonic()
    threads = [threading.Thread(target=sync_call) for _ in range(10)]
    for t in threads:
        t.start()
    await asyncio.gather(*[async_call() for _ in range(40)])
    for t in threads:
        t.join()
    assert time.monotonic() - started < 15  # waited for Redis, within the bound

    time.sleep(0.3)  # a failover's journal, if any, is replayed at the next call
    guard.usage(LIMIT, "fresh")
    spent, reserved = other.usage(LIMIT, "fresh")
    assert spent <= LIMIT.amount and reserved == 0
    assert admitted[0] == 22 - 13  # what was left of the shared limit, not a fresh one
    assert spent == pytest.approx(22 * COST)
    assert store.outages == 0 and store.journal.pending == 0


def test_a_retried_reserve_holds_once(redis_clean_url: str) -> None:
    store = RedisSpendStore(redis_clean_url, prefix="retry")
    assert store.reserve("r1", ["k1", "k2"], [100, 100], [60, 30], [600, 600], 60).ok
    # The first attempt ran but its reply was lost: the retry finds the hold and keeps it.
    assert store.reserve("r1", ["k1", "k2"], [100, 100], [60, 30], [600, 600], 60, retry=True).ok
    assert store.usage("k1") == (0, 60) and store.usage("k2") == (0, 30)
    # A retry whose first attempt never ran reserves as usual, and still within the limit.
    assert store.reserve("r2", ["k1"], [100], [30], [600], 60, retry=True).ok
    assert not store.reserve("r3", ["k1"], [100], [30], [600], 60, retry=True).ok
    assert store.usage("k1") == (0, 90)


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once closed


async def test_a_redis_that_stays_down_still_fails_open_within_the_bound(tmp_path: Path) -> None:
    store = _short(_dead_url(), tmp_path, outage_after=1.0)
    guard = _guard(store)
    started = time.monotonic()
    reservation = await guard.areserve(REQUEST)  # asked again for 1 s, then the local store
    took = time.monotonic() - started
    assert store.degraded and store.outages == 1
    assert 0.9 <= took < 6
    await reservation.asettle(COST)
    assert store.journal.pending == 1
    # Declared down: the next calls go local at once (breaker open), sync and async.
    started = time.monotonic()
    guard.reserve(REQUEST).settle(COST)
    await (await guard.areserve(REQUEST)).asettle(COST)
    assert time.monotonic() - started < 0.9
    assert store.outages == 1


async def test_a_paused_redis_past_the_bound_is_an_outage_and_replayed(
    redis_clean_url: str, tmp_path: Path
) -> None:
    store = _short(redis_clean_url, tmp_path, outage_after=1.0, retry_after=0.2)
    guard = _guard(store)
    guard.reserve(REQUEST).settle(COST)  # seen: the local store starts from it
    _redis_command(_port(redis_clean_url), "CLIENT", "PAUSE", "3000", "ALL")
    await (await guard.areserve(REQUEST)).asettle(COST)
    assert store.outages == 1
    time.sleep(2.5)  # the pause is over
    deadline = time.monotonic() + 10
    while (store.degraded or store.journal.pending) and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        guard.usage(LIMIT, "fresh")
    assert not store.degraded and store.journal.pending == 0
    assert _guard(redis_clean_url).usage(LIMIT, "fresh") == (pytest.approx(2 * COST), 0)


def test_fail_closed_still_refuses_at_the_first_failure(tmp_path: Path) -> None:
    store = _short(_dead_url(), tmp_path, fail_mode="closed")
    started = time.monotonic()
    with pytest.raises(SpendStoreUnavailable, match="fail_mode='closed'"):
        _guard(store).reserve(REQUEST)
    assert time.monotonic() - started < store.outage_after  # not held for the grace
