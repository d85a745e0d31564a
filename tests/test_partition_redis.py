"""Redis black-holed (a network partition: connections accepted or kept open, nothing
answered) in the middle of a run, through a TCP proxy: every call returns within the bound
the docs state, spend is journalled and counted once, the cache misses, dedup goes local
and leaves no lock behind that would hold up the same request after the heal."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _netfault import NetFault
from _servers import RedisServer

from llm_cost_hooks.budget import (
    AlertManager,
    FailoverSpendStore,
    Limit,
    RedisSpendStore,
    SpendGuard,
    SpendRequest,
    SpendStoreUnavailable,
)
from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, DecisionPolicy, RedisBackend
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


# A lock whose answer was lost frees itself after 2 x (connect + socket timeout) + 1 s.
CLAIM = 2 * BOUND + 1.0


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
    # Another process asks the same question, this one makes no further call: the lock
    # the timed-out request left (or took late) holds it up for a few seconds at most,
    # not until lock_ttl (30 s here).
    other = _flight(redis_server.url, prefix)
    flight, took = _timed(lambda: other.do("q", lambda: 3))
    assert (flight.value, flight.source) == (3, "leader")
    assert took < CLAIM + 0.5


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
    # This process gave its unsure lock back as Redis answered it: no wait at all.
    assert time.monotonic() - t < 0.5


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


# -- budgets ----------------------------------------------------------------------------

LIMIT = Limit.usd(10.0, per="day", scope="tenant", name="daily")
REQUEST = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant="t")
COST = 0.001
OUTAGE_AFTER = 0.3
# A reservation asks again until the outage is declared, then makes one more attempt and
# one pause (docs/budget-outages.md: outage_after + connect + socket timeout + 0.5 s).
GUARD_BOUND = OUTAGE_AFTER + BOUND + 0.5


def _guard(store: object) -> SpendGuard:
    return SpendGuard([LIMIT], store=store, alerts=AlertManager(log=False, span_events=False))


@pytest.mark.parametrize("replies_only", [False, True], ids=["both ways", "replies lost"])
def test_guarded_calls_through_a_partition_are_bounded_and_counted_once(
    net: NetFault, redis_clean_url: str, tmp_path: Path, replies_only: bool
) -> None:
    primary = RedisSpendStore(net.url("redis"), connect_timeout=CONNECT, socket_timeout=SOCKET)
    store = FailoverSpendStore(primary, journal=str(tmp_path), outage_after=OUTAGE_AFTER, retry_after=0.2)
    guard = _guard(store)
    guard.reserve(REQUEST).settle(COST)
    net.blackhole(replies=replies_only)
    took = []
    for _ in range(5):
        t = time.monotonic()
        guard.reserve(REQUEST).settle(COST)
        took.append(time.monotonic() - t)
    assert max(took) < GUARD_BOUND + 0.5, took
    assert store.outages == 1 and store.journal.pending > 0
    net.heal()  # what the black hole held lands now: a reservation, a settlement
    deadline = time.monotonic() + 5
    while store.degraded or store.journal.pending:
        assert time.monotonic() < deadline, "the journal was not replayed after the heal"
        time.sleep(0.25)
        guard.usage(LIMIT, "t")  # a call that reaches Redis replays the journal
    guard.reserve(REQUEST).settle(COST)
    # Every call's spend is in the shared total once, seen from a fresh process.
    spent, _reserved = _guard(redis_clean_url).usage(LIMIT, "t")
    assert spent == pytest.approx(7 * COST)


async def test_async_guarded_calls_through_a_partition_are_bounded(
    net: NetFault, redis_clean_url: str, tmp_path: Path
) -> None:
    primary = RedisSpendStore(net.url("redis"), connect_timeout=CONNECT, socket_timeout=SOCKET)
    store = FailoverSpendStore(primary, journal=str(tmp_path), outage_after=OUTAGE_AFTER, retry_after=0.2)
    guard = _guard(store)
    await (await guard.areserve(REQUEST)).asettle(COST)
    net.blackhole()
    t = time.monotonic()
    await asyncio.gather(*[_acall(guard) for _ in range(20)])
    assert time.monotonic() - t < GUARD_BOUND + 0.5
    net.heal()
    deadline = time.monotonic() + 5
    while store.degraded or store.journal.pending:
        assert time.monotonic() < deadline, "the journal was not replayed after the heal"
        await asyncio.sleep(0.25)
        await _acall(guard)
    spent, _ = _guard(redis_clean_url).usage(LIMIT, "t")
    assert spent == pytest.approx(COST * round(spent / COST)) and spent >= 21 * COST
    assert spent == pytest.approx(guard.usage(LIMIT, "t")[0])


async def _acall(guard: SpendGuard) -> None:
    r = await guard.areserve(REQUEST)
    await r.asettle(COST)


# -- cache ------------------------------------------------------------------------------


class _Words:
    name, dim = "w8", 8

    def embed_one(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, np.float32)
        v[zlib.crc32(text.encode()) % self.dim] = 1.0
        return v

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.embed_one(t) for t in texts])


def test_cache_through_a_partition_misses_within_the_bound_and_hits_after(
    net: NetFault, caplog: pytest.LogCaptureFixture
) -> None:
    policy = DecisionPolicy(kind="similarity", threshold=0.8, min_similarity=0.8)
    core = CacheCore(
        RedisBackend(net.url("redis"), prefix=uuid.uuid4().hex[:8], timeout_s=0.1),
        embedder=_Words(),
        config=CacheConfig(default=policy, audit_sample_rate=0),
        breaker_reset_s=0.3,
    )
    scope = CacheScope(tenant="t")
    core.update(core.request("q", llm_string="m", scope=scope), "a")
    net.blackhole()
    for i in range(5):  # a miss each, within the timeouts; the breaker then skips Redis
        t = time.monotonic()
        assert core.lookup(core.request(f"q{i}", llm_string="m", scope=scope)) is None
        assert time.monotonic() - t < 3 * 0.1 + 0.5
    assert core.stats.errors >= 3 and "cache backend" in caplog.text
    net.heal()
    deadline = time.monotonic() + 5
    while True:
        hit = core.lookup(core.request("q", llm_string="m", scope=scope))
        if hit is not None:
            break
        assert time.monotonic() < deadline, "no hit after the heal"
        time.sleep(0.1)
    assert hit.entry.answer == "a"


def test_a_leader_holds_its_lock_for_lock_ttl(redis_clean_url: str) -> None:
    sf = _flight(redis_clean_url, uuid.uuid4().hex[:8])
    ttl: list[int] = []
    client = sf._conn.sync()
    sf.do("q", lambda: ttl.append(client.pttl(sf._k("lock", "q"))))
    assert CLAIM * 1000 < ttl[0] <= 30_000  # kept for lock_ttl once the leader had the answer


def test_fail_closed_refuses_a_call_within_one_attempt(net: NetFault, tmp_path: Path) -> None:
    primary = RedisSpendStore(net.url("redis"), connect_timeout=CONNECT, socket_timeout=SOCKET)
    store = FailoverSpendStore(primary, journal=str(tmp_path), fail_mode="closed", retry_after=0.2)
    guard = _guard(store)
    guard.reserve(REQUEST).settle(COST)
    net.blackhole()
    t = time.monotonic()
    with pytest.raises(SpendStoreUnavailable):
        guard.reserve(REQUEST)
    assert time.monotonic() - t < BOUND + 0.5


# -- the proxy itself -------------------------------------------------------------------


def _ping(port: int, timeout: float = 0.5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"PING\r\n")
        return s.recv(64)


def test_the_proxy_switches(net: NetFault) -> None:
    assert _ping(net.port) == b"+PONG\r\n"
    held = socket.create_connection(("127.0.0.1", net.port), timeout=0.3)
    net.blackhole()
    with pytest.raises(TimeoutError):  # accepted, never answered
        _ping(net.port, timeout=0.3)
    held.sendall(b"PING\r\n")
    with pytest.raises(TimeoutError):  # an open connection stays open, unanswered
        held.recv(64)
    net.heal()
    held.settimeout(2)
    assert held.recv(64) == b"+PONG\r\n"  # what the black hole held, delivered late
    held.close()
    net.refuse()
    with pytest.raises(ConnectionRefusedError):
        _ping(net.port)
    net.heal()
    assert _ping(net.port, timeout=2) == b"+PONG\r\n"
