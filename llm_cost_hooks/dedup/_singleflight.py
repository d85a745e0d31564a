"""Single-flight: concurrent identical requests share one upstream call, and a finished
result is served again for a TTL. In-process (:class:`SingleFlight`) and across processes
(:class:`RedisSingleFlight`, which also single-flights locally first)."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, cast

from .._breaker import Breaker
from .._errors import DeduplicatedCallFailed
from .._options import check_number
from .._redis import RedisConnection, redacted_url

__all__ = ["DeduplicatedCallFailed", "Flight", "RedisSingleFlight", "SingleFlight"]

logger = logging.getLogger("llm_cost_hooks.dedup")

T = TypeVar("T")
Source = Literal["leader", "inflight", "cached"]


@dataclass(frozen=True)
class Flight(Generic[T]):
    """A single-flight result. ``source``: ``leader`` (this caller made the call),
    ``inflight`` (joined a call in progress) or ``cached`` (a finished result within TTL).

    >>> sf = SingleFlight(result_ttl=60)
    >>> sf.do("order-42", lambda: "answer")
    Flight(value='answer', source='leader', key='order-42')
    >>> again = sf.do("order-42", lambda: "not called")
    >>> again.value, again.source, again.shared
    ('answer', 'cached', True)
    """

    value: T
    source: Source
    key: str

    @property
    def shared(self) -> bool:
        return self.source != "leader"


class _Call:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class SingleFlight:
    """In-process single-flight with a result TTL.

    >>> import asyncio
    >>> sf = SingleFlight(result_ttl=60)
    >>> calls = []
    >>> async def upstream():
    ...     calls.append(1); await asyncio.sleep(0.01); return "answer"
    >>> async def main():
    ...     return await asyncio.gather(*(sf.ado("k", upstream) for _ in range(10)))
    >>> flights = asyncio.run(main())
    >>> len(calls), {f.value for f in flights}, sum(not f.shared for f in flights)
    (1, {'answer'}, 1)
    """

    def __init__(
        self,
        *,
        result_ttl: float = 60.0,
        max_results: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_number(
            "SingleFlight",
            "result_ttl",
            result_ttl,
            at_least=0,
            hint="seconds a result is served again; 0 keeps none",
        )
        check_number(
            "SingleFlight",
            "max_results",
            max_results,
            at_least=1,
            hint="how many finished results to keep, e.g. 10_000",
        )
        self.result_ttl = result_ttl
        self.max_results = max_results
        self.clock = clock
        self._results: dict[str, tuple[float, Any]] = {}
        self._async: dict[tuple[int, str], asyncio.Future[Any]] = {}
        self._sync: dict[str, _Call] = {}
        self._lock = threading.Lock()

    def cached(self, key: str) -> tuple[bool, Any]:
        hit = self._results.get(key)
        if hit is None:
            return False, None
        if hit[0] <= self.clock():
            self._results.pop(key, None)
            return False, None
        return True, hit[1]

    def store(self, key: str, value: Any) -> None:
        if self.result_ttl <= 0:
            return
        if len(self._results) >= self.max_results:
            now = self.clock()
            for k in [k for k, (exp, _) in self._results.items() if exp <= now]:
                self._results.pop(k, None)
            if len(self._results) >= self.max_results:
                self._results.pop(next(iter(self._results)))
        self._results[key] = (self.clock() + self.result_ttl, value)

    def forget(self, key: str) -> None:
        self._results.pop(key, None)

    async def ado(self, key: str, fn: Callable[[], Awaitable[T]]) -> Flight[T]:
        """Run ``fn`` once for concurrent callers with the same ``key`` (same event loop)."""
        hit, value = self.cached(key)
        if hit:
            return Flight(value, "cached", key)
        loop_key = (id(asyncio.get_running_loop()), key)
        future = self._async.get(loop_key)
        if future is not None:
            return Flight(await asyncio.shield(future), "inflight", key)
        future = asyncio.get_running_loop().create_future()
        self._async[loop_key] = future
        try:
            value = await fn()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters may be none
            raise
        else:
            self.store(key, value)
            future.set_result(value)
            return Flight(value, "leader", key)
        finally:
            self._async.pop(loop_key, None)

    def do(self, key: str, fn: Callable[[], T]) -> Flight[T]:
        """Thread version of :meth:`ado`."""
        hit, value = self.cached(key)
        if hit:
            return Flight(value, "cached", key)
        with self._lock:
            call = self._sync.get(key)
            leader = call is None
            if leader:
                call = self._sync[key] = _Call()
        assert call is not None
        if not leader:
            call.done.wait()
            if call.error is not None:
                raise call.error
            return Flight(call.value, "inflight", key)
        try:
            call.value = fn()
        except BaseException as exc:
            call.error = exc
            raise
        else:
            self.store(key, call.value)
            return Flight(call.value, "leader", key)
        finally:
            with self._lock:
                self._sync.pop(key, None)
            call.done.set()


# The finished result, or the lock for this caller, in one atomic step: a caller that
# read "no result" and then took the lock once the leader had published and released it
# would pay for the same request again. A script that runs later than ARGV[4] ms after the
# caller sent it (ARGV[3], the caller's clock) takes no lock: the caller gave up on it
# (a partition held it in the network) and nobody would release that lock before lock_ttl.
_RESULT_OR_LOCK = """
if redis.replicate_commands then redis.replicate_commands() end -- TIME before a write (Redis < 5)
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[3]) > tonumber(ARGV[4]) then
  return {3}
end
local res = redis.call('GET', KEYS[1])
if res then return {1, res} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
return {0}
"""

_KEEP_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# Seconds the clocks of a host and Redis may differ by before a lock request is taken for
# one that ran too late (see _RESULT_OR_LOCK).
_CLOCK_ALLOWANCE = 1.0
_MAX_UNSURE = 10_000


class RedisSingleFlight:
    """Single-flight across processes through Redis.

    Concurrent callers in one process are first joined locally (:class:`SingleFlight`),
    then one process wins a lock and makes the call (the lock is held for ``lock_ttl`` once
    Redis's answer is back, a few seconds before: a lock whose answer a network partition
    lost frees itself); it stores the result as JSON (``dumps``/``loads``; never pickle)
    for ``result_ttl`` seconds and the others poll for it. If the leader fails, the others raise
    :class:`DeduplicatedCallFailed`; if it dies, its lock expires and a waiter takes
    over. When Redis is unreachable, calls go ahead with local single-flight only
    (logged warning): dedup is an optimisation, never a reason to fail a call.

    A waiter rides out a Redis outage (paused, restarted empty) instead of paying for a
    second call: it keeps polling for the leader's result, and never waits longer than
    ``wait_timeout`` seconds (default ``lock_ttl + 5``), after which it makes its own call.

    >>> sf = RedisSingleFlight("redis://127.0.0.1:6379", result_ttl=30)  # connects lazily
    >>> sf.result_ttl
    30
    """

    def __init__(
        self,
        url: str,
        *,
        result_ttl: float = 60.0,
        lock_ttl: float = 120.0,
        poll_interval: float = 0.005,
        max_poll_interval: float = 0.1,
        prefix: str = "llm_cost_hooks",
        error_ttl: float = 10.0,
        connect_timeout: float = 1.0,
        socket_timeout: float = 2.0,
        retry_after: float = 1.0,
        wait_timeout: float | None = None,
    ) -> None:
        name = "RedisSingleFlight"
        check_number(
            name, "result_ttl", result_ttl, at_least=0, hint="seconds a result is kept in Redis; 0 keeps none"
        )
        check_number(
            name, "lock_ttl", lock_ttl, at_least=0.001, hint="seconds a leader's lock is held, e.g. 120"
        )
        check_number(
            name, "poll_interval", poll_interval, above=0, hint="seconds between a waiter's polls, e.g. 0.005"
        )
        check_number(
            name,
            "max_poll_interval",
            max_poll_interval,
            at_least=poll_interval,
            hint="at least poll_interval",
        )
        check_number(
            name, "error_ttl", error_ttl, at_least=0.001, hint="seconds a leader's error is shared, e.g. 10"
        )
        check_number(name, "connect_timeout", connect_timeout, above=0, hint="seconds, e.g. 1")
        check_number(name, "socket_timeout", socket_timeout, above=0, hint="seconds, e.g. 2")
        check_number(
            name, "retry_after", retry_after, at_least=0, hint="seconds before Redis is tried again, e.g. 1"
        )
        if wait_timeout is not None:
            check_number(
                name, "wait_timeout", wait_timeout, at_least=0, hint="seconds, or None for lock_ttl + 5"
            )
        self.url = url
        self.result_ttl = result_ttl
        self.lock_ttl = lock_ttl
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.prefix = prefix
        self.error_ttl = error_ttl
        self.retry_after = retry_after
        self.wait_timeout = lock_ttl + 5 if wait_timeout is None else wait_timeout
        self._conn = RedisConnection(
            url, connect_timeout=connect_timeout, socket_timeout=socket_timeout, feature="RedisSingleFlight"
        )
        # One failure opens it: calls then go ahead with local single-flight only; after
        # ``retry_after`` one call probes Redis again.
        self.breaker = Breaker(failure_threshold=1, reset_seconds=retry_after)
        self.local = SingleFlight(result_ttl=0)
        self._publishing: set[Any] = set()
        # Locks asked for whose answer never came (token -> key): they may be held in Redis
        # with nobody to release them; given back when Redis answers again.
        self._unsure: dict[str, str] = {}
        self._warned_clock = False
        #: Results or errors read from Redis that could not be read back (malformed JSON,
        #: wrong types: another program's value or a forgery); each caller made its own call.
        self.unreadable = 0
        self._warned_unreadable = False

    def _k(self, kind: str, key: str) -> str:
        return f"{{{self.prefix}}}:sf:{kind}:{key}"

    def _result_or_lock(self, key: str, token: str) -> tuple[Any, ...]:
        """``EVAL`` arguments of :data:`_RESULT_OR_LOCK` for ``key``."""
        return (
            _RESULT_OR_LOCK,
            2,
            self._k("res", key),
            self._k("lock", key),
            token,
            # Held for lock_ttl only once the caller has the answer (_KEEP_LOCK): a lock
            # whose answer was lost frees itself after a few seconds.
            int(min(self.lock_ttl, 2 * self._conn.bound + _CLOCK_ALLOWANCE) * 1000),
            int(time.time() * 1000),
            int((self._conn.bound + _CLOCK_ALLOWANCE) * 1000),
        )

    def _keep_lock(self, key: str, token: str) -> tuple[Any, ...]:
        """``EVAL`` arguments that hold the lock of ``key`` for ``lock_ttl`` (the leader)."""
        return (_KEEP_LOCK, 1, self._k("lock", key), token, int(self.lock_ttl * 1000))

    def _down(self, exc: BaseException) -> None:
        if self.breaker.record_failure():
            logger.warning(
                "llm-cost-hooks: Redis single-flight at %s unreachable (%s); deduplicating "
                "within this process only until it is back.",
                redacted_url(self.url),
                type(exc).__name__,
            )

    def _up(self) -> None:
        # Called on each Redis reply; a closed breaker returns at once.
        if self.breaker.record_success():
            logger.warning("llm-cost-hooks: Redis single-flight is reachable again.")

    def _locked(self, token: str) -> bool:
        """Redis answered the lock request of ``token``; True if locks asked for earlier
        are unsure and should be given back now."""
        self._up()
        if self._unsure:
            self._unsure.pop(token, None)  # this caller knows where its lock stands now
            return bool(self._unsure)
        return False

    def _unsure_lock(self, key: str, token: str) -> None:
        if len(self._unsure) >= _MAX_UNSURE:  # a long outage: lock_ttl frees the oldest
            try:
                self._unsure.pop(next(iter(self._unsure)))
            except (StopIteration, KeyError, RuntimeError):  # another thread changed it
                pass
        self._unsure[token] = key

    def _take_unsure(self) -> list[tuple[str, str]]:
        items = [(key, token) for token, key in list(self._unsure.items())]
        for _, token in items:
            self._unsure.pop(token, None)
        return items

    def _release_unsure(self, client: Any) -> None:
        for key, token in self._take_unsure():
            try:
                client.eval(_RELEASE_LOCK, 1, self._k("lock", key), token)
            except self._conn.errors:
                return

    async def _arelease_unsure(self, client: Any) -> None:
        for key, token in self._take_unsure():
            lock = self._k("lock", key)
            try:
                await self._conn.acall(functools.partial(client.eval, _RELEASE_LOCK, 1, lock, token))
            except self._conn.errors:
                return

    def _read(self, raw: Any, loads: Callable[[str], Any]) -> tuple[bool, Any]:
        """``(True, value)`` of a result stored in Redis, else ``(False, None)``, counted: a
        value that does not read back is never handed to the caller, who calls itself."""
        try:
            return True, loads(raw)
        except Exception as exc:
            self._unreadable(exc)
            return False, None

    def _failure(self, raw: Any) -> tuple[str, str] | None:
        """``(type, message)`` of a leader's failure stored in Redis, ``None`` if unreadable."""
        try:
            info = json.loads(raw)
            kind, message = info.get("type", "Error"), info.get("message", "")
            if isinstance(kind, str) and isinstance(message, str):
                return kind, message
            raise TypeError("type or message is not a string")
        except Exception as exc:
            self._unreadable(exc)
            return None

    def _unreadable(self, exc: Exception) -> None:
        self.unreadable += 1
        log = logger.debug if self._warned_unreadable else logger.warning
        self._warned_unreadable = True
        log(
            "llm-cost-hooks: Redis single-flight at %s: a stored result does not read back (%s); "
            "the caller makes its own call (further ones are counted in .unreadable)",
            redacted_url(self.url),
            type(exc).__name__,
        )

    def _late(self) -> None:
        """Redis ran a lock request later than the caller could have waited for it: the
        clocks of this host and Redis differ (a request held up that long timed out)."""
        if not self._warned_clock:
            self._warned_clock = True
            logger.warning(
                "llm-cost-hooks: Redis single-flight at %s: Redis's clock is more than %g s ahead "
                "of this host's; calls go ahead without the cross-process lock until they agree.",
                redacted_url(self.url),
                self._conn.bound + _CLOCK_ALLOWANCE,
            )

    # -- async ----------------------------------------------------------------------------
    async def ado(
        self,
        key: str,
        fn: Callable[[], Awaitable[T]],
        *,
        dumps: Callable[[Any], str] = json.dumps,
        loads: Callable[[str], Any] = json.loads,
    ) -> Flight[T]:
        """Run ``fn`` once across every process sharing this Redis for ``key``."""
        shared_source: list[Source] = []

        async def cross_process() -> T:
            if not self.breaker.allow():
                return await fn()
            try:
                return await self._aacquire_or_wait(key, fn, dumps, loads, shared_source)
            except _RedisDown as down:
                self._down(down.cause)
                return await fn()
            except BaseException:
                self.breaker.release_probe()  # cancelled before Redis answered (no-op if closed)
                raise

        flight = await self.local.ado(key, cross_process)
        if flight.source == "leader" and shared_source:
            return Flight(flight.value, shared_source[0], key)
        return flight

    async def _aacquire_or_wait(
        self, key: str, fn: Callable[[], Awaitable[T]], dumps: Any, loads: Any, shared_source: list[Source]
    ) -> T:
        conn, errors = self._conn, self._conn.errors
        client = conn.aclient()
        token = uuid.uuid4().hex
        interval = self.poll_interval
        deadline = time.monotonic() + self.wait_timeout
        outage = False
        while True:
            try:
                reply = await conn.acall(lambda: client.eval(*self._result_or_lock(key, token)))
                if self._locked(token):
                    await self._arelease_unsure(client)
                if reply[0] == 3:
                    self._late()
                    return await fn()
                if reply[0] == 1:
                    # JSON from another process; a value that does not read back is not served.
                    ok, value = self._read(reply[1], loads)
                    if not ok:
                        return await fn()
                    shared_source.append("cached")
                    return cast(T, value)
                won = reply[0] == 2
            except errors as exc:
                self._unsure_lock(key, token)
                if not outage:
                    raise _RedisDown(exc) from exc
                self._down(exc)
                won = False  # still down while waiting: keep waiting (below)
            if won:
                try:
                    await conn.acall(lambda: client.eval(*self._keep_lock(key, token)))
                except errors as exc:
                    self._down(exc)  # it leads all the same; the lock frees itself soon
                return await self._alead(client, key, token, fn, dumps)
            # Wait for the leader: its result, its error, or its lock expiring.
            shared_source[:] = ["inflight"]
            while True:
                if time.monotonic() > deadline:
                    shared_source.clear()
                    return await fn()
                await asyncio.sleep(interval)
                interval = min(interval * 1.5, self.max_poll_interval)
                try:
                    res, err, lock = await conn.acall(
                        lambda: client.mget(self._k("res", key), self._k("err", key), self._k("lock", key))
                    )
                except errors as exc:
                    outage = True  # the leader may still deliver once Redis answers again
                    self._down(exc)
                    continue
                self._up()
                if res is not None:
                    ok, value = self._read(res, loads)
                    if ok:
                        return cast(T, value)
                    shared_source.clear()
                    return await fn()
                if err is not None:
                    failure = self._failure(err)
                    if failure is None:
                        shared_source.clear()
                        return await fn()
                    raise DeduplicatedCallFailed(key, *failure)
                if lock is None:
                    if outage:
                        continue  # Redis came back empty: the leader may be alive; wait for it
                    shared_source.clear()
                    break  # leader gone without a result: try to lead

    async def _alead(
        self, client: Any, key: str, token: str, fn: Callable[[], Awaitable[T]], dumps: Any
    ) -> T:
        conn, errors = self._conn, self._conn.errors
        try:
            value = await fn()
        except BaseException as exc:
            info = _error_info(exc)
            try:
                await conn.acall(lambda: client.set(self._k("err", key), info, px=int(self.error_ttl * 1000)))
                await conn.acall(lambda: client.eval(_RELEASE_LOCK, 1, self._k("lock", key), token))
            except errors:
                pass
            raise
        try:
            await self._apublish(client, key, token, dumps(value))
        except errors as exc:
            self._down(exc)  # the answer is still good; keep offering it to the waiters
            task = asyncio.ensure_future(self._apublish_later(client, key, token, dumps(value)))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)
        return value

    async def _apublish(self, client: Any, key: str, token: str, payload: str) -> None:
        conn = self._conn
        await conn.acall(
            lambda: client.set(self._k("res", key), payload, px=max(int(self.result_ttl * 1000), 1))
        )
        await conn.acall(lambda: client.delete(self._k("err", key)))
        await conn.acall(lambda: client.eval(_RELEASE_LOCK, 1, self._k("lock", key), token))

    async def _apublish_later(self, client: Any, key: str, token: str, payload: str) -> None:
        # Waiters in other processes poll until their wait_timeout: a result published
        # once Redis is back saves them a second paid call.
        deadline = time.monotonic() + self.wait_timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            try:
                await self._apublish(client, key, token, payload)
            except self._conn.errors:
                continue
            self._up()
            return

    # -- sync -----------------------------------------------------------------------------
    def do(
        self,
        key: str,
        fn: Callable[[], T],
        *,
        dumps: Callable[[Any], str] = json.dumps,
        loads: Callable[[str], Any] = json.loads,
    ) -> Flight[T]:
        """Thread version of :meth:`ado`."""
        shared_source: list[Source] = []

        def cross_process() -> T:
            if not self.breaker.allow():
                return fn()
            try:
                return self._acquire_or_wait(key, fn, dumps, loads, shared_source)
            except _RedisDown as down:
                self._down(down.cause)
                return fn()
            except BaseException:
                self.breaker.release_probe()
                raise

        flight = self.local.do(key, cross_process)
        if flight.source == "leader" and shared_source:
            return Flight(flight.value, shared_source[0], key)
        return flight

    def _acquire_or_wait(
        self, key: str, fn: Callable[[], T], dumps: Any, loads: Any, shared_source: list[Source]
    ) -> T:
        errors = self._conn.errors
        client = self._conn.sync()
        token = uuid.uuid4().hex
        interval = self.poll_interval
        deadline = time.monotonic() + self.wait_timeout
        outage = False
        while True:
            try:
                reply = client.eval(*self._result_or_lock(key, token))
                if self._locked(token):
                    self._release_unsure(client)
                if reply[0] == 3:
                    self._late()
                    return fn()
                if reply[0] == 1:
                    # JSON from another process; a value that does not read back is not served.
                    ok, value = self._read(reply[1], loads)
                    if not ok:
                        return fn()
                    shared_source.append("cached")
                    return cast(T, value)
                won = reply[0] == 2
            except errors as exc:
                self._unsure_lock(key, token)
                if not outage:
                    raise _RedisDown(exc) from exc
                self._down(exc)
                won = False
            if won:
                try:
                    client.eval(*self._keep_lock(key, token))
                except errors as exc:
                    self._down(exc)  # it leads all the same; the lock frees itself soon
                try:
                    value = fn()
                except BaseException as exc:
                    info = _error_info(exc)
                    try:
                        client.set(self._k("err", key), info, px=int(self.error_ttl * 1000))
                        client.eval(_RELEASE_LOCK, 1, self._k("lock", key), token)
                    except errors:
                        pass
                    raise
                try:
                    client.set(self._k("res", key), dumps(value), px=max(int(self.result_ttl * 1000), 1))
                    client.delete(self._k("err", key))
                    client.eval(_RELEASE_LOCK, 1, self._k("lock", key), token)
                except errors as exc:
                    self._down(exc)
                return value
            shared_source[:] = ["inflight"]
            while True:
                if time.monotonic() > deadline:
                    shared_source.clear()
                    return fn()
                time.sleep(interval)
                interval = min(interval * 1.5, self.max_poll_interval)
                try:
                    res, err, lock = client.mget(
                        self._k("res", key), self._k("err", key), self._k("lock", key)
                    )
                except errors as exc:
                    outage = True
                    self._down(exc)
                    continue
                self._up()
                if res is not None:
                    ok, value = self._read(res, loads)
                    if ok:
                        return cast(T, value)
                    shared_source.clear()
                    return fn()
                if err is not None:
                    failure = self._failure(err)
                    if failure is None:
                        shared_source.clear()
                        return fn()
                    raise DeduplicatedCallFailed(key, *failure)
                if lock is None:
                    if outage:
                        continue
                    shared_source.clear()
                    break


def _error_info(exc: BaseException) -> str:
    """What waiters in other processes are told about the leader's failure (type and a
    bounded message; never the request)."""
    return json.dumps({"type": type(exc).__name__, "message": str(exc)[:500]})


class _RedisDown(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause
