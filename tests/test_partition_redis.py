"""Redis black-holed (a network partition: connections accepted or kept open, nothing
answered) in the middle of a run, through a TCP proxy: every call returns within the bound
the docs state, spend is journalled and counted once, the cache misses, dedup goes local
and leaves no lock behind that would hold up the same request after the heal."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest
from _netfault import NetFault
from _servers import RedisServer

from llm_cost_hooks.dedup import RedisSingleFlight

pytestmark = pytest.mark.redis

# Small timeouts passed in: a call that hangs shows up as seconds, not as a slow test.
CONNECT, SOCKET = 0.1, 0.2
BOUND = CONNECT + SOCKET


@pytest.fixture
def net(redis_server: RedisServer, redis_clean_url: str) -> Iterator[NetFault]:
    with NetFault(redis_server.port) as proxy:
        yield proxy


def _flight(url: str, prefix: str) -> RedisSingleFlight:
    return RedisSingleFlight(
        url, prefix=prefix, connect_timeout=CONNECT, socket_timeout=SOCKET, retry_after=0.1, lock_ttl=30
    )


def _timed(fn):  # type: ignore[no-untyped-def]
    t = time.monotonic()
    value = fn()
    return value, time.monotonic() - t


@pytest.mark.parametrize("replies_only", [False, True], ids=["both ways", "replies lost"])
def test_dedup_during_a_partition_goes_local_and_leaves_no_lock_behind(
    net: NetFault, redis_server: RedisServer, replies_only: bool
) -> None:
    prefix = uuid.uuid4().hex[:8]
    sf = _flight(net.url("redis"), prefix)
    assert sf.do("warm", lambda: 0).value == 0
    net.blackhole(replies=replies_only)
    flight, took = _timed(lambda: sf.do("q", lambda: 1))
    assert flight.value == 1 and flight.source == "leader"
    assert took < BOUND + 1.0
    assert sf.breaker.opens == 1
    net.heal()  # what the black hole held reaches Redis now, late
    time.sleep(0.2)
    # Redis answers again: this process's next call gives back what it may have left.
    time.sleep(0.1)
    assert sf.do("after", lambda: 2).value == 2
    # Another process asks the same question: nothing holds it up (the lock a timed-out
    # call left would until lock_ttl, 30 s here).
    other = _flight(redis_server.url, prefix)
    flight, took = _timed(lambda: other.do("q", lambda: 3))
    assert (flight.value, flight.source) == (3, "leader")
    assert took < 2.0


async def test_async_dedup_during_a_partition_leaves_no_lock_behind(
    net: NetFault, redis_server: RedisServer
) -> None:
    prefix = uuid.uuid4().hex[:8]
    sf = _flight(net.url("redis"), prefix)

    async def answer(v: int):  # type: ignore[no-untyped-def]
        return v

    assert (await sf.ado("warm", lambda: answer(0))).value == 0
    net.blackhole(replies=True)
    t = time.monotonic()
    flight = await sf.ado("q", lambda: answer(1))
    assert flight.value == 1 and time.monotonic() - t < BOUND + 1.0
    net.heal()
    await asyncio.sleep(0.3)
    assert (await sf.ado("after", lambda: answer(2))).value == 2
    other = _flight(redis_server.url, prefix)
    t = time.monotonic()
    flight = await other.ado("q", lambda: answer(3))
    assert (flight.value, flight.source) == (3, "leader")
    assert time.monotonic() - t < 2.0


def test_a_lock_request_held_past_its_timeout_takes_no_lock_when_it_lands(
    net: NetFault, redis_server: RedisServer
) -> None:
    prefix = uuid.uuid4().hex[:8]
    sf = _flight(net.url("redis"), prefix)
    sf.do("warm", lambda: 0)
    net.blackhole()
    started = time.monotonic()
    assert sf.do("q", lambda: 1).value == 1
    # The partition outlasts what the caller waited plus the clock allowance (1 s).
    time.sleep(max(0.0, started + BOUND + 1.2 - time.monotonic()))
    net.heal()  # the lock request lands now; this process makes no further call
    time.sleep(0.2)
    other = _flight(redis_server.url, prefix)
    flight, took = _timed(lambda: other.do("q", lambda: 3))
    assert (flight.value, flight.source) == (3, "leader")
    assert took < 2.0


def test_clocks_far_apart_make_calls_go_ahead_without_the_lock(
    redis_clean_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import llm_cost_hooks.dedup._singleflight as sf_module

    sf = _flight(redis_clean_url, uuid.uuid4().hex[:8])
    real = time.time
    monkeypatch.setattr(sf_module.time, "time", lambda: real() - 60)  # this host 60 s behind
    flight, took = _timed(lambda: sf.do("q", lambda: 1))
    assert (flight.value, flight.source) == (1, "leader") and took < 1.0
    assert sf.breaker.is_closed  # Redis answered: not an outage
    assert "clock" in caplog.text
