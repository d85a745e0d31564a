"""Spend guardrails and dedup across processes on a real Redis; Redis outages."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

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

WORKER = str(Path(__file__).resolve().parent / "_budgets_worker.py")
PROCESSES = 4
CALLS = 50
BUDGET = 0.0015  # USD for the tenant per day: room for roughly a fifth of the 200 calls


def _run_workers(args: list[list[str]], timeout: float = 90) -> list[dict]:
    start_at = time.time() + 4.0  # interpreter + LangChain import, then all start together
    procs = [
        subprocess.Popen(
            [sys.executable, WORKER, *a, str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for a in args
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, f"worker failed:\n{err[-3000:]}"
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _no_alerts() -> AlertManager:
    return AlertManager(log=False, span_events=False)


def test_four_processes_never_overspend_one_tenant_budget_naive_does(redis_clean_url: str) -> None:
    guarded = _run_workers([["guard", redis_clean_url, "reserve", str(CALLS), str(BUDGET)]] * PROCESSES)
    worst = max(r["worst"] for r in guarded)
    total = sum(r["spent"] for r in guarded)
    ok = sum(r["ok"] for r in guarded)
    refused = sum(r["refused"] for r in guarded)
    assert ok + refused == PROCESSES * CALLS
    # Redis stayed reachable: no worker fell back to its local store (fail-open).
    assert [r["outages"] for r in guarded] == [0] * PROCESSES
    assert ok > 0 and refused > 0  # the budget really was the constraint
    assert total <= BUDGET + worst, f"guarded spend {total} over budget {BUDGET} (+{worst})"
    assert sum(r["calls"] for r in guarded) == ok  # refused calls never reached the model
    # The store agrees with what the workers paid, and nothing is left reserved.
    guard = SpendGuard(
        [Limit.usd(BUDGET, per="day", scope="tenant", name="tenant_daily")],
        store=redis_clean_url,
        alerts=_no_alerts(),
    )
    spent, reserved = guard.usage("tenant_daily", "acme")
    assert spent == pytest.approx(total, rel=1e-6, abs=1e-9) and reserved == 0

    naive = _run_workers([["guard", redis_clean_url, "naive", str(CALLS), str(BUDGET)]] * PROCESSES)
    naive_total = sum(r["spent"] for r in naive)
    # Check-then-spend lets concurrent calls all pass the same stale check.
    assert naive_total > BUDGET + worst, f"naive spend {naive_total} did not overspend"


def test_one_idempotency_key_across_processes_makes_one_upstream_call(redis_clean_url: str) -> None:
    results = _run_workers([["dedup", redis_clean_url, "25", "order-7"]] * PROCESSES)
    assert sum(r["calls"] for r in results) == 1
    assert len({a for r in results for a in r["answers"]}) == 1
    statuses = Counter()
    for r in results:
        statuses.update(r["statuses"])
    assert statuses == {"miss": 1, "deduplicated": PROCESSES * 25 - 1}
    paid = sum(r["cost"] for r in results)
    assert paid > 0 and sum(r["saved"] for r in results) == pytest.approx(paid * (PROCESSES * 25 - 1))


def test_redis_store_reserve_settle_release_and_lease_expiry(redis_clean_url: str) -> None:
    store = RedisSpendStore(redis_clean_url, prefix="t")
    assert store.reserve("a", ["k1", "k2"], [100, 50], [40, 40], [60, 60], 60).ok
    refused = store.reserve("b", ["k1", "k2"], [100, 50], [20, 20], [60, 60], 60)
    assert not refused.ok and refused.failed == 1 and refused.reserved == 40
    assert store.usage("k1") == (0, 40)  # all-or-nothing: "b" holds nothing on k1
    assert store.settle("a", ["k1", "k2"], [30, 30], [60, 60]) == [30, 30]
    assert store.usage("k2") == (30, 0)
    assert store.reserve("c", ["k2"], [50], [20], [60], 0.2).ok
    store.release("c", ["k2"])
    assert store.usage("k2") == (30, 0)
    # A holder that dies never settles: its lease frees the amount.
    assert store.reserve("dead", ["k2"], [50], [20], [60], 0.2).ok
    assert store.usage("k2") == (30, 20)
    time.sleep(0.3)
    assert store.usage("k2") == (30, 0)
    assert store.reserve("e", ["k2"], [50], [20], [60], 60).ok


async def test_redis_down_fail_open_uses_local_fallback_and_leaks_nothing(
    redis_server, redis_clean_url, caplog
) -> None:
    limit = Limit.usd(1.0, per="day", scope="tenant", name="daily")
    store = FailoverSpendStore(
        RedisSpendStore(redis_clean_url, connect_timeout=0.2, socket_timeout=0.5),
        fail_mode="open",
        retry_after=0.2,
        journal=None,
    )
    guard = SpendGuard([limit], store=store, alerts=_no_alerts())
    closed = SpendGuard(
        [limit],
        alerts=_no_alerts(),
        store=FailoverSpendStore(
            RedisSpendStore(redis_clean_url, connect_timeout=0.2, socket_timeout=0.5),
            fail_mode="closed",
            retry_after=0.2,
        ),
    )
    req = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant="acme")

    first = await guard.areserve(req)
    await first.asettle(0.001)
    held = await guard.areserve(req)  # in flight when Redis goes away
    assert guard.usage(limit, "acme")[1] > 0

    with redis_server.down():
        with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.budget"):
            during = await guard.areserve(req)  # fail open: local fallback, warning
        assert any("fail OPEN" in r.getMessage() for r in caplog.records)
        assert store.degraded
        await during.asettle(0.002)
        await held.asettle(0.003)  # cannot reach Redis: queued for replay
        with pytest.raises(SpendStoreUnavailable, match="fail_mode='closed'"):
            await closed.areserve(req)
        # The local fallback still enforces the limit in this process.
        big = SpendRequest(model="gpt-4o", input_tokens=400_000, max_output_tokens=16_000, tenant="acme")
        with pytest.raises(BudgetExceeded, match="daily"):
            await guard.areserve(big)

    await asyncio.sleep(0.25)  # past retry_after: Redis is tried again
    after = await guard.areserve(req)
    assert not store.degraded
    await after.asettle(0.004)
    # Redis restarted empty: the spend settled before the outage was put back, both
    # journalled settlements (one of a fallback reservation) were replayed, nothing is
    # reserved, and the fallback holds no reservation either.
    spent, reserved = guard.usage(limit, "acme")
    assert reserved == 0
    assert spent == pytest.approx(0.001 + 0.002 + 0.003 + 0.004)
    assert store.replayed == 2 and store.journal.pending == 0
    assert store.fallback.usage(f"b:daily:tenant:acme:{guard._plan(req).period_ids[0]}")[1] == 0
    closed_res = await closed.areserve(req)  # fail-closed works again once Redis is back
    await closed_res.arelease()
    assert guard.usage(limit, "acme")[1] == 0


def test_threshold_alerts_fire_once_across_processes(redis_clean_url: str) -> None:
    events: list = []
    limit = Limit.usd(0.01, per="day", scope="tenant", name="daily", alert_at=(0.5, 0.8, 1.0))
    # Two guards = two processes' views of the same Redis budget.
    guards = [
        SpendGuard(
            [limit], store=redis_clean_url, alerts=AlertManager([events.append], log=False, span_events=False)
        )
        for _ in range(2)
    ]
    req = SpendRequest(model="gpt-4o-mini", input_tokens=100, max_output_tokens=100, tenant="acme")
    for i in range(10):
        r = guards[i % 2].reserve(req)
        r.settle(0.001)
    thresholds = sorted(e.threshold for e in events if e.kind == "threshold")
    assert thresholds == [0.5, 0.8, 1.0]


def test_a_settlement_counted_before_its_lost_reply_is_put_back_after_a_restart(redis_clean_url: str) -> None:
    import redis

    store = RedisSpendStore(redis_clean_url, prefix="lost")
    assert store.reserve("a", ["k"], [1000], [40], [600], 60).ok
    bucket = store.bucket()
    # The settle ran on the server but its reply never came back (a pause, then a timeout):
    # another client runs the same script, as the server would have.
    other = RedisSpendStore(redis_clean_url, prefix="lost")
    other.settle("a", ["k"], [30], [600], bucket=bucket)
    # The journal replays it: the marker says it was counted; it is not counted twice.
    assert store.settle("a", ["k"], [30], [600], bucket=bucket) == [30]
    assert store.usage("k") == (30, 0)
    redis.Redis.from_url(redis_clean_url).flushall()  # restarted without persistence
    assert store.reserve("b", ["k"], [1000], [10], [600], 60).ok
    assert store.usage("k") == (30, 10)  # this process put back what it had spent


def test_a_settle_that_sees_a_restart_reports_the_total_after_the_put_back(redis_clean_url: str) -> None:
    import redis

    store = RedisSpendStore(redis_clean_url, prefix="putback")
    assert store.reserve("a", ["k"], [1000], [30], [600], 60).ok
    store.settle("a", ["k"], [30], [600])
    assert store.reserve("c", ["k"], [1000], [20], [600], 60).ok
    redis.Redis.from_url(redis_clean_url).flushall()  # restarted without persistence
    other = RedisSpendStore(redis_clean_url, prefix="putback")
    assert other.reserve("b", ["k"], [1000], [25], [600], 60).ok
    other.settle("b", ["k"], [25], [600])
    # The settle finds the new epoch and puts back this process's 30 from before it: the
    # total it reports (what budget alerts are judged on) includes that put-back.
    assert store.settle("c", ["k"], [20], [600]) == [75]
    assert store.usage("k") == (75, 0)


def test_an_unreachable_store_is_named_without_its_password(caplog) -> None:
    """The outage warning (and the error a closed guard raises) name the Redis URL, which
    often carries a password: it is shown as ``***``."""
    from _servers import free_port

    url = f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"
    limit = Limit.usd(1.0, per="day", scope="tenant", name="daily")
    req = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant="acme")
    closed = SpendGuard(
        [limit],
        alerts=_no_alerts(),
        store=FailoverSpendStore(
            RedisSpendStore(url, connect_timeout=0.2, socket_timeout=0.2), fail_mode="closed", journal=None
        ),
    )
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks"):
        with pytest.raises(SpendStoreUnavailable) as raised:
            closed.reserve(req)
    said = [str(raised.value)] + [r.getMessage() for r in caplog.records]
    assert any(f"redis://:***@127.0.0.1:{url.rsplit(':', 1)[1]}" in text for text in said), said
    assert not any("s3cret" in text for text in said), said
