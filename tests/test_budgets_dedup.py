"""Dedup (single-flight, result TTL), retry budgets and circuit breakers."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from llm_cost_hooks._records import CacheStatus
from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard
from llm_cost_hooks.dedup import (
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    RedisSingleFlight,
    RetryBudget,
    SingleFlight,
    idempotency_key,
    request_key,
)
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.langchain._budget import GuardedChatModel


def _slow_fake(
    answer: str = "Your booking reference is 8Y2K9.", delay: float = 0.05
) -> FakeChatModelWithUsage:
    import time

    def respond(messages):
        time.sleep(delay)
        return answer

    return FakeChatModelWithUsage(respond=respond)


async def test_hundred_identical_requests_one_upstream_call_one_paid_99_deduplicated() -> None:
    fake = _slow_fake()
    handler = CostCallbackHandler(ledger="memory://")
    guard = SpendGuard(
        [Limit.usd(1.0, per="day", scope="tenant")], alerts=AlertManager(log=False, span_events=False)
    )
    model = GuardedChatModel(inner=fake, guard=guard, dedup=SingleFlight(result_ttl=60))
    chain = (
        ChatPromptTemplate.from_messages([("human", "Book {hotel} for {n} nights")])
        | model
        | StrOutputParser()
    )
    config = {"callbacks": [handler], "metadata": {"idempotency_key": "booking-123", "tenant_id": "acme"}}
    answers = await asyncio.gather(
        *(chain.ainvoke({"hotel": "the Acorn", "n": 2}, config=config) for _ in range(100))
    )
    assert fake.call_count == 1
    assert set(answers) == {"Your booking reference is 8Y2K9."}
    records = handler.records()
    statuses = Counter(r.cache_status for r in records)
    assert statuses == {CacheStatus.MISS: 1, CacheStatus.DEDUPLICATED: 99}
    (paid,) = [r for r in records if r.cache_status is CacheStatus.MISS]
    dedup = [r for r in records if r.cache_status is CacheStatus.DEDUPLICATED]
    assert paid.cost_usd > 0
    assert all(r.cost_usd == 0 and r.saved_usd == pytest.approx(paid.cost_usd) for r in dedup)
    assert {r.tags["dedup.source"] for r in dedup} == {"inflight"}
    # Only the paid call was charged to the budget.
    assert guard.spent("usd_per_day_per_tenant", "acme") == pytest.approx(paid.cost_usd)
    # Within the TTL the finished result is served again without a call.
    again = await chain.ainvoke({"hotel": "the Acorn", "n": 2}, config=config)
    assert again == answers[0] and fake.call_count == 1
    assert handler.records()[-1].tags["dedup.source"] == "cached"


def test_threads_share_one_call_and_derived_keys_separate_requests() -> None:
    fake = _slow_fake(delay=0.1)
    model = GuardedChatModel(inner=fake, dedup=SingleFlight(result_ttl=0))
    out: list = []
    threads = [
        threading.Thread(target=lambda: out.append(model.invoke("same question").content)) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.call_count == 1 and len(out) == 8
    model.invoke("another question")  # a different exact request is its own call
    assert fake.call_count == 2
    assert request_key({"a": 1, "b": 2}) == request_key({"b": 2, "a": 1})
    assert idempotency_key({}, {"a": 1}, derive=False) is None


async def test_result_ttl_expires() -> None:
    now = [0.0]
    sf = SingleFlight(result_ttl=10, clock=lambda: now[0])
    calls = []

    async def upstream() -> str:
        calls.append(1)
        return "v"

    assert (await sf.ado("k", upstream)).source == "leader"
    assert (await sf.ado("k", upstream)).source == "cached"
    now[0] = 11
    assert (await sf.ado("k", upstream)).source == "leader" and len(calls) == 2


async def test_leader_failure_reaches_waiters_and_is_not_cached() -> None:
    sf = SingleFlight()

    async def boom() -> str:
        await asyncio.sleep(0.01)
        raise TimeoutError("upstream timeout")

    results = await asyncio.gather(*(sf.ado("k", boom) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, TimeoutError) for r in results)
    assert sf.cached("k") == (False, None)


async def test_redis_single_flight_in_one_process(redis_clean_url: str) -> None:
    sf = RedisSingleFlight(redis_clean_url, result_ttl=30)
    calls = []

    async def upstream() -> dict:
        calls.append(1)
        await asyncio.sleep(0.05)
        return {"answer": 42}

    flights = await asyncio.gather(*(sf.ado("q", upstream) for _ in range(20)))
    assert len(calls) == 1 and {f.value["answer"] for f in flights} == {42}
    other = RedisSingleFlight(redis_clean_url, result_ttl=30)  # "another process"
    flight = await other.ado("q", upstream)
    assert flight.source == "cached" and len(calls) == 1


async def test_redis_single_flight_falls_back_when_redis_is_down(
    redis_server, redis_clean_url, caplog
) -> None:
    sf = RedisSingleFlight(redis_clean_url, connect_timeout=0.2)

    async def upstream() -> str:
        return "ok"

    with redis_server.down():
        with caplog.at_level("WARNING", logger="llm_cost_hooks.dedup"):
            assert (await sf.ado("k", upstream)).value == "ok"
    assert any("within this process only" in r.getMessage() for r in caplog.records)


def test_retry_budget_attempts_and_dollars_are_recorded() -> None:
    fake = FakeChatModelWithUsage(
        responses=["finally"], errors=[TimeoutError("t1"), TimeoutError("t2"), None]
    )
    handler = CostCallbackHandler(ledger="memory://")
    model = GuardedChatModel(
        inner=fake,
        retry=RetryBudget(max_attempts=3),
        guard=SpendGuard([], alerts=AlertManager(log=False, span_events=False)),
    )
    assert model.invoke("question " * 50, config={"callbacks": [handler]}).content == "finally"
    (record,) = handler.records()
    assert record.tags["retry.attempts"] == "3" and fake.call_count == 3
    # Two failed attempts priced at their prompt, plus the successful retry itself.
    assert float(record.tags["retry.usd"]) > record.cost_usd > 0

    stingy = GuardedChatModel(
        inner=FakeChatModelWithUsage(errors=[TimeoutError("t")] * 5),
        retry=RetryBudget(max_attempts=5, max_retry_usd=0.0),
        guard=SpendGuard([], alerts=AlertManager(log=False, span_events=False)),
    )
    with pytest.raises(TimeoutError):
        stingy.invoke("question " * 50)
    assert stingy.inner.call_count == 1  # no dollars for retries: not retried

    capped = GuardedChatModel(
        inner=FakeChatModelWithUsage(errors=[TimeoutError("t")] * 5), retry=RetryBudget(max_attempts=2)
    )
    handler2 = CostCallbackHandler(ledger="memory://")
    with pytest.raises(TimeoutError):
        capped.invoke("q", config={"callbacks": [handler2]})
    assert capped.inner.call_count == 2
    (failed,) = handler2.records()
    assert not failed.success and failed.tags["retry.attempts"] == "2"


def test_circuit_breaker_opens_skips_and_probes() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=3, window_seconds=60, reset_seconds=30, clock=lambda: now[0])
    fake = FakeChatModelWithUsage(responses=["back"], errors=[ConnectionError("down")] * 4)
    handler = CostCallbackHandler(ledger="memory://")
    model = GuardedChatModel(inner=fake, breaker=breaker)
    config = {"callbacks": [handler]}
    for _ in range(3):
        with pytest.raises(ConnectionError):
            model.invoke("hi", config=config)
    assert breaker.state("gpt-4o-mini") is BreakerState.OPEN
    with pytest.raises(CircuitOpenError, match="is open"):
        model.invoke("hi", config=config)
    assert fake.call_count == 3  # skipped, not called
    records = handler.records()
    assert records[-1].error_type == "CircuitOpenError" and records[-1].tags["breaker.state"] == "open"
    now[0] = 31  # half-open: one probe; it fails (4th scripted error) and reopens
    assert breaker.state("gpt-4o-mini") is BreakerState.HALF_OPEN
    with pytest.raises(ConnectionError):
        model.invoke("hi", config=config)
    assert breaker.state("gpt-4o-mini") is BreakerState.OPEN
    now[0] = 62
    assert model.invoke("hi", config=config).content == "back"
    assert breaker.state("gpt-4o-mini") is BreakerState.CLOSED
    assert handler.records()[-1].tags["breaker.state"] == "closed"
    # Failures spread wider than the window do not open it.
    slow = CircuitBreaker(failure_threshold=2, window_seconds=10, clock=lambda: now[0])
    slow.record_failure("m")
    now[0] += 11
    slow.record_failure("m")
    assert slow.allow("m")


def test_a_probe_given_back_can_be_taken_again() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=10, clock=lambda: now[0])
    breaker.record_failure("m")
    now[0] = 11
    assert breaker.check("m") is BreakerState.HALF_OPEN  # takes the one probe
    assert not breaker.allow("m")
    breaker.release_probe("m")  # that request was refused before reaching the model
    assert breaker.allow("m")


def test_one_breaker_closed_open_half_open_and_a_lost_probe() -> None:
    from llm_cost_hooks._breaker import Breaker

    now = [0.0]
    b = Breaker(failure_threshold=2, reset_seconds=10, clock=lambda: now[0])
    assert b.allow() and not b.record_failure()
    assert not b.record_success()  # nothing to close; the failure is cleared
    assert not b.record_failure()  # one of two again
    assert b.record_failure() and b.state is BreakerState.OPEN and b.opens == 1
    assert not b.allow() and b.retry_in() == 10
    now[0] = 10
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow() and not b.allow()  # one probe at a time
    b.release_probe()
    assert b.allow()  # given back, taken again
    now[0] = 20  # that probe never reported (its caller was cancelled): presumed lost
    assert b.allow()
    assert not b.record_failure()  # a failed probe opens it again: not a new outage
    assert b.state is BreakerState.OPEN and b.opens == 1
    now[0] = 30
    assert b.allow() and b.record_success() and b.state is BreakerState.CLOSED


def test_failover_store_probes_redis_with_one_call_and_never_sticks_half_open() -> None:
    from llm_cost_hooks._breaker import Breaker
    from llm_cost_hooks.budget import FailoverSpendStore, ReserveOutcome, SpendStoreUnavailable

    class Primary:
        def __init__(self) -> None:
            self.calls = 0
            self.fault: BaseException | None = SpendStoreUnavailable("down")

        def reserve(self, *args: object) -> ReserveOutcome:
            self.calls += 1
            if self.fault is not None:
                raise self.fault
            return ReserveOutcome(True)

    primary = Primary()
    # outage_after=0: the first failure is an outage (the wait before one is tested apart).
    store = FailoverSpendStore(primary, journal=None, outage_after=0)
    now = [0.0]
    store.breaker = Breaker(failure_threshold=1, reset_seconds=1, clock=lambda: now[0])
    args = (["k"], [100], [1], [3600], 60.0)
    assert store.reserve("r1", *args).ok and primary.calls == 1  # down: the local store
    assert store.degraded and store.outages == 1
    assert store.reserve("r2", *args).ok and primary.calls == 1  # open: not tried
    now[0] = 1
    primary.fault = ValueError("a reply Redis refused")  # answered, with an error
    with pytest.raises(ValueError):
        store.reserve("r3", *args)
    assert primary.calls == 2 and store.degraded  # the probe was given back
    primary.fault = None
    assert store.breaker.allow()  # another caller holds the probe now...
    assert store.reserve("r4", *args).ok and primary.calls == 2  # ...so this one stays local
    store.breaker.release_probe()
    assert store.reserve("r5", *args).ok and primary.calls == 3  # the probe reaches Redis
    assert not store.degraded and store.outages == 1


def test_dedup_key_takes_the_tenant_of_the_enclosing_cache_scope_over_metadata() -> None:
    # The cache, the cost record and the spend guard let the scope win; a dedup key that read
    # the metadata first would let one call share another tenant's in-flight answer.
    from llm_cost_hooks.cache import cache_scope
    from llm_cost_hooks.dedup._keys import idempotency_key

    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    with cache_scope(tenant="beta"):
        inside = idempotency_key({"tenant_id": "acme"}, request)
        explicit = idempotency_key({"tenant_id": "acme", "idempotency_key": "k"})
    assert inside == idempotency_key({"tenant_id": "beta"}, request)
    assert inside != idempotency_key({"tenant_id": "acme"}, request)
    assert explicit == "explicit:tenant=beta:k"
