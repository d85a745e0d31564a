"""Where period budgets live: reserve / settle / release, atomically.

A *budget key* holds ``spent`` (settled) and ``reserved`` (in flight) in integer units
(nano-dollars or tokens). A reservation holds an amount on several keys at once, all or
nothing, with a lease: a reservation that is neither settled nor released (the process
died) expires after ``lease_seconds`` and its amount is freed, so nothing leaks.

* :class:`InProcessSpendStore`: one process (a lock; async methods do no I/O).
* :class:`RedisSpendStore`: many processes and machines; each operation is one Lua script
  (atomic on the server, time from the server clock). All keys share one hash tag
  (``{prefix}``) so the scripts also run on Redis Cluster (on one shard).
* :class:`FailoverSpendStore`: Redis with a local fallback when Redis is unreachable
  (``fail_mode="open"``: logged warning, local limits) or a refusal (``"closed"``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from .._errors import LLMCostHooksError, MissingExtraError

__all__ = [
    "FailoverSpendStore",
    "InProcessSpendStore",
    "RedisSpendStore",
    "ReserveOutcome",
    "SpendStore",
    "SpendStoreUnavailable",
]

logger = logging.getLogger("llm_cost_hooks.budget")


class SpendStoreUnavailable(LLMCostHooksError):
    """The shared spend store cannot be reached and the guard is fail-closed."""


@dataclass(frozen=True)
class ReserveOutcome:
    """``ok``; otherwise ``failed`` is the index of the first key that has no room, with
    its ``spent`` and ``reserved`` units."""

    ok: bool
    failed: int | None = None
    spent: int = 0
    reserved: int = 0


@runtime_checkable
class SpendStore(Protocol):
    """The storage interface of :class:`~llm_cost_hooks.budget.SpendGuard`.

    ``keys``/``limits``/``amounts``/``ttls`` are parallel lists; amounts are integers.
    Implementations must make ``reserve`` all-or-nothing and atomic across callers.
    """

    def reserve(self, res_id: str, keys: Sequence[str], limits: Sequence[int], amounts: Sequence[int],
                ttls: Sequence[int], lease_seconds: float) -> ReserveOutcome: ...
    def settle(self, res_id: str, keys: Sequence[str], actual: Sequence[int], ttls: Sequence[int]) -> list[int]: ...
    def release(self, res_id: str, keys: Sequence[str]) -> None: ...
    def usage(self, key: str) -> tuple[int, int]: ...
    def once(self, flag: str, ttl: int) -> bool: ...
    def add_hourly(self, key: str, hour: int, amount: int, ttl: int) -> None: ...
    def hourly(self, key: str, hours: Sequence[int]) -> list[int]: ...

    async def areserve(self, res_id: str, keys: Sequence[str], limits: Sequence[int], amounts: Sequence[int],
                       ttls: Sequence[int], lease_seconds: float) -> ReserveOutcome: ...
    async def asettle(self, res_id: str, keys: Sequence[str], actual: Sequence[int], ttls: Sequence[int]) -> list[int]: ...
    async def arelease(self, res_id: str, keys: Sequence[str]) -> None: ...
    async def aonce(self, flag: str, ttl: int) -> bool: ...
    async def aadd_hourly(self, key: str, hour: int, amount: int, ttl: int) -> None: ...
    async def ahourly(self, key: str, hours: Sequence[int]) -> list[int]: ...


class _AsyncFromSync:
    """Async methods that call the sync ones (for stores that do no I/O)."""

    async def areserve(self, res_id, keys, limits, amounts, ttls, lease_seconds):  # type: ignore[no-untyped-def]
        return self.reserve(res_id, keys, limits, amounts, ttls, lease_seconds)  # type: ignore[attr-defined]

    async def asettle(self, res_id, keys, actual, ttls):  # type: ignore[no-untyped-def]
        return self.settle(res_id, keys, actual, ttls)  # type: ignore[attr-defined]

    async def arelease(self, res_id, keys):  # type: ignore[no-untyped-def]
        return self.release(res_id, keys)  # type: ignore[attr-defined]

    async def aonce(self, flag, ttl):  # type: ignore[no-untyped-def]
        return self.once(flag, ttl)  # type: ignore[attr-defined]

    async def aadd_hourly(self, key, hour, amount, ttl):  # type: ignore[no-untyped-def]
        return self.add_hourly(key, hour, amount, ttl)  # type: ignore[attr-defined]

    async def ahourly(self, key, hours):  # type: ignore[no-untyped-def]
        return self.hourly(key, hours)  # type: ignore[attr-defined]


class InProcessSpendStore(_AsyncFromSync):
    """Budgets of one process, in memory.

    >>> store = InProcessSpendStore()
    >>> store.reserve("r1", ["k"], [100], [60], [3600], 60).ok
    True
    >>> store.reserve("r2", ["k"], [100], [60], [3600], 60).ok
    False
    >>> store.settle("r1", ["k"], [50], [3600]), store.usage("k")
    ([50], (50, 0))
    """

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._spent: dict[str, int] = {}
        self._reserved: dict[str, int] = {}
        self._holds: dict[str, dict[str, tuple[int, float]]] = {}  # key -> res_id -> (amount, expiry)
        self._flags: dict[str, float] = {}
        self._hours: dict[tuple[str, int], int] = {}

    def _purge(self, key: str, now: float) -> None:
        holds = self._holds.get(key)
        if not holds:
            return
        expired = [rid for rid, (_, exp) in holds.items() if exp <= now]
        for rid in expired:
            amount, _ = holds.pop(rid)
            self._reserved[key] = self._reserved.get(key, 0) - amount

    def reserve(self, res_id: str, keys: Sequence[str], limits: Sequence[int], amounts: Sequence[int],
                ttls: Sequence[int], lease_seconds: float) -> ReserveOutcome:
        now = self._clock()
        with self._lock:
            for key in keys:
                self._purge(key, now)
            for i, key in enumerate(keys):
                spent, reserved = self._spent.get(key, 0), self._reserved.get(key, 0)
                if spent + reserved + amounts[i] > limits[i]:
                    return ReserveOutcome(False, i, spent, reserved)
            for i, key in enumerate(keys):
                self._reserved[key] = self._reserved.get(key, 0) + amounts[i]
                self._holds.setdefault(key, {})[res_id] = (amounts[i], now + lease_seconds)
        return ReserveOutcome(True)

    def settle(self, res_id: str, keys: Sequence[str], actual: Sequence[int], ttls: Sequence[int]) -> list[int]:
        with self._lock:
            out = []
            for i, key in enumerate(keys):
                hold = self._holds.get(key, {}).pop(res_id, None)
                if hold is not None:
                    self._reserved[key] -= hold[0]
                self._spent[key] = self._spent.get(key, 0) + actual[i]
                out.append(self._spent[key])
            return out

    def release(self, res_id: str, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                hold = self._holds.get(key, {}).pop(res_id, None)
                if hold is not None:
                    self._reserved[key] -= hold[0]

    def usage(self, key: str) -> tuple[int, int]:
        with self._lock:
            self._purge(key, self._clock())
            return self._spent.get(key, 0), self._reserved.get(key, 0)

    def once(self, flag: str, ttl: int) -> bool:
        now = self._clock()
        with self._lock:
            if self._flags.get(flag, 0) > now:
                return False
            self._flags[flag] = now + ttl
            return True

    def add_hourly(self, key: str, hour: int, amount: int, ttl: int) -> None:
        with self._lock:
            self._hours[(key, hour)] = self._hours.get((key, hour), 0) + amount

    def hourly(self, key: str, hours: Sequence[int]) -> list[int]:
        return [self._hours.get((key, h), 0) for h in hours]


# -- Redis ---------------------------------------------------------------------------------
# KEYS come in triples per budget: <key> (hash: spent, reserved), <key>:r (hash res->amount),
# <key>:e (zset res->expiry ms). Amounts travel as decimal strings (HINCRBY is exact).
_PURGE = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function purge(k, kr, ke, now)
  local expired = redis.call('ZRANGEBYSCORE', ke, '-inf', now)
  for _, id in ipairs(expired) do
    local amt = redis.call('HGET', kr, id)
    if amt then
      redis.call('HINCRBY', k, 'reserved', -tonumber(amt))
      redis.call('HDEL', kr, id)
    end
  end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', ke, '-inf', now) end
end
"""

_RESERVE = _PURGE + """
local now = now_ms()
local n = #KEYS / 3
local res_id = ARGV[1]
local lease = tonumber(ARGV[2])
for i = 1, n do purge(KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i], now) end
for i = 1, n do
  local k = KEYS[3*i-2]
  local limit = tonumber(ARGV[3*i])
  local amount = tonumber(ARGV[3*i+1])
  local spent = tonumber(redis.call('HGET', k, 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', k, 'reserved') or '0')
  if spent + reserved + amount > limit then
    return {i, tostring(spent), tostring(reserved)}
  end
end
for i = 1, n do
  local k, kr, ke = KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i]
  local ttl = tonumber(ARGV[3*i+2])
  redis.call('HINCRBY', k, 'reserved', ARGV[3*i+1])
  redis.call('HSET', kr, res_id, ARGV[3*i+1])
  redis.call('ZADD', ke, now + lease, res_id)
  redis.call('EXPIRE', k, ttl)
  redis.call('EXPIRE', kr, ttl)
  redis.call('EXPIRE', ke, ttl)
end
return {0, '0', '0'}
"""

_SETTLE = """
local n = #KEYS / 3
local res_id = ARGV[1]
local out = {}
for i = 1, n do
  local k, kr, ke = KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i]
  local amt = redis.call('HGET', kr, res_id)
  if amt then
    redis.call('HINCRBY', k, 'reserved', -tonumber(amt))
    redis.call('HDEL', kr, res_id)
    redis.call('ZREM', ke, res_id)
  end
  out[i] = redis.call('HINCRBY', k, 'spent', ARGV[2*i])
  redis.call('EXPIRE', k, tonumber(ARGV[2*i+1]))
end
return out
"""

_RELEASE = """
local n = #KEYS / 3
for i = 1, n do
  local k, kr, ke = KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i]
  local amt = redis.call('HGET', kr, ARGV[1])
  if amt then
    redis.call('HINCRBY', k, 'reserved', -tonumber(amt))
    redis.call('HDEL', kr, ARGV[1])
    redis.call('ZREM', ke, ARGV[1])
  end
end
return 1
"""

_USAGE = _PURGE + """
purge(KEYS[1], KEYS[2], KEYS[3], now_ms())
return {redis.call('HGET', KEYS[1], 'spent') or '0', redis.call('HGET', KEYS[1], 'reserved') or '0'}
"""


def _redis_module() -> Any:
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - redis is a dev dependency here
        raise MissingExtraError("redis", "redis", "RedisSpendStore") from exc
    return redis


class RedisSpendStore:
    """Budgets shared by every process that uses the same Redis.

    Raises :class:`SpendStoreUnavailable` when Redis cannot be reached; wrap it in
    :class:`FailoverSpendStore` (``SpendGuard`` does) for the fail-open policy.

    >>> store = RedisSpendStore("redis://127.0.0.1:6379", prefix="myapp")  # connects lazily
    >>> store.prefix
    'myapp'
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "llm_cost_hooks",
        connect_timeout: float = 1.0,
        socket_timeout: float = 2.0,
        client: Any = None,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self._connect_timeout = connect_timeout
        self._socket_timeout = socket_timeout
        self._client = client
        self._aclients: dict[int, Any] = {}
        self._scripts: dict[str, Any] = {}
        self._ascripts: dict[tuple[int, str], Any] = {}

    # -- clients ------------------------------------------------------------------------
    def _sync(self) -> Any:
        if self._client is None:
            redis = _redis_module()
            self._client = redis.Redis.from_url(
                self.url, socket_connect_timeout=self._connect_timeout,
                socket_timeout=self._socket_timeout, decode_responses=True,
            )
        return self._client

    def _async(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._aclients.get(id(loop))
        if client is None:
            _redis_module()
            import redis.asyncio as aredis

            client = aredis.Redis.from_url(
                self.url, socket_connect_timeout=self._connect_timeout,
                socket_timeout=self._socket_timeout, decode_responses=True,
            )
            # One client per event loop: asyncio connections cannot cross loops.
            self._aclients = {k: v for k, v in self._aclients.items() if k == id(loop)}
            self._aclients[id(loop)] = client
            self._ascripts = {}
        return client

    def _script(self, name: str, source: str) -> Any:
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self._sync().register_script(source)
        return script

    def _ascript(self, name: str, source: str) -> Any:
        client = self._async()
        key = (id(client), name)
        script = self._ascripts.get(key)
        if script is None:
            script = self._ascripts[key] = client.register_script(source)
        return script

    def _k(self, key: str) -> str:
        return f"{{{self.prefix}}}:{key}"

    def _triples(self, keys: Sequence[str]) -> list[str]:
        out: list[str] = []
        for key in keys:
            k = self._k(key)
            out += [k, k + ":r", k + ":e"]
        return out

    def _errors(self) -> tuple[type[BaseException], ...]:
        redis = _redis_module()
        return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

    def _unavailable(self, exc: BaseException) -> SpendStoreUnavailable:
        return SpendStoreUnavailable(f"Redis spend store at {self.url} is unreachable: {type(exc).__name__}: {exc}")

    # -- argument packing -----------------------------------------------------------------
    @staticmethod
    def _reserve_args(res_id: str, limits: Sequence[int], amounts: Sequence[int], ttls: Sequence[int],
                      lease_seconds: float) -> list[str]:
        args = [res_id, str(int(lease_seconds * 1000))]
        for limit, amount, ttl in zip(limits, amounts, ttls):
            args += [str(int(limit)), str(int(amount)), str(int(ttl))]
        return args

    @staticmethod
    def _outcome(reply: Sequence[Any]) -> ReserveOutcome:
        index = int(reply[0])
        if index == 0:
            return ReserveOutcome(True)
        return ReserveOutcome(False, index - 1, int(float(reply[1])), int(float(reply[2])))

    @staticmethod
    def _settle_args(res_id: str, actual: Sequence[int], ttls: Sequence[int]) -> list[str]:
        args = [res_id]
        for amount, ttl in zip(actual, ttls):
            args += [str(int(amount)), str(int(ttl))]
        return args

    # -- sync -----------------------------------------------------------------------------
    def _call(self, fn: Any) -> Any:
        try:
            return fn()
        except self._errors() as exc:
            raise self._unavailable(exc) from exc

    def reserve(self, res_id: str, keys: Sequence[str], limits: Sequence[int], amounts: Sequence[int],
                ttls: Sequence[int], lease_seconds: float) -> ReserveOutcome:
        script = self._script("reserve", _RESERVE)
        args = self._reserve_args(res_id, limits, amounts, ttls, lease_seconds)
        return self._outcome(self._call(lambda: script(keys=self._triples(keys), args=args)))

    def settle(self, res_id: str, keys: Sequence[str], actual: Sequence[int], ttls: Sequence[int]) -> list[int]:
        script = self._script("settle", _SETTLE)
        reply = self._call(lambda: script(keys=self._triples(keys), args=self._settle_args(res_id, actual, ttls)))
        return [int(x) for x in reply]

    def release(self, res_id: str, keys: Sequence[str]) -> None:
        script = self._script("release", _RELEASE)
        self._call(lambda: script(keys=self._triples(keys), args=[res_id]))

    def usage(self, key: str) -> tuple[int, int]:
        script = self._script("usage", _USAGE)
        reply = self._call(lambda: script(keys=self._triples([key]), args=[]))
        return int(reply[0]), int(reply[1])

    def once(self, flag: str, ttl: int) -> bool:
        return bool(self._call(lambda: self._sync().set(self._k("once:" + flag), "1", nx=True, ex=max(int(ttl), 1))))

    def add_hourly(self, key: str, hour: int, amount: int, ttl: int) -> None:
        k = self._k(f"h:{key}:{hour}")

        def op() -> None:
            pipe = self._sync().pipeline(transaction=False)
            pipe.incrby(k, int(amount))
            pipe.expire(k, int(ttl))
            pipe.execute()

        self._call(op)

    def hourly(self, key: str, hours: Sequence[int]) -> list[int]:
        reply = self._call(lambda: self._sync().mget([self._k(f"h:{key}:{h}") for h in hours]))
        return [int(x or 0) for x in reply]

    # -- async ----------------------------------------------------------------------------
    async def _acall(self, coro_fn: Any) -> Any:
        try:
            return await coro_fn()
        except self._errors() as exc:
            raise self._unavailable(exc) from exc

    async def areserve(self, res_id: str, keys: Sequence[str], limits: Sequence[int], amounts: Sequence[int],
                       ttls: Sequence[int], lease_seconds: float) -> ReserveOutcome:
        args = self._reserve_args(res_id, limits, amounts, ttls, lease_seconds)
        reply = await self._acall(lambda: self._ascript("reserve", _RESERVE)(keys=self._triples(keys), args=args))
        return self._outcome(reply)

    async def asettle(self, res_id: str, keys: Sequence[str], actual: Sequence[int], ttls: Sequence[int]) -> list[int]:
        args = self._settle_args(res_id, actual, ttls)
        reply = await self._acall(lambda: self._ascript("settle", _SETTLE)(keys=self._triples(keys), args=args))
        return [int(x) for x in reply]

    async def arelease(self, res_id: str, keys: Sequence[str]) -> None:
        await self._acall(lambda: self._ascript("release", _RELEASE)(keys=self._triples(keys), args=[res_id]))

    async def aonce(self, flag: str, ttl: int) -> bool:
        return bool(await self._acall(
            lambda: self._async().set(self._k("once:" + flag), "1", nx=True, ex=max(int(ttl), 1))))

    async def aadd_hourly(self, key: str, hour: int, amount: int, ttl: int) -> None:
        k = self._k(f"h:{key}:{hour}")

        async def op() -> None:
            pipe = self._async().pipeline(transaction=False)
            pipe.incrby(k, int(amount))
            pipe.expire(k, int(ttl))
            await pipe.execute()

        await self._acall(op)

    async def ahourly(self, key: str, hours: Sequence[int]) -> list[int]:
        reply = await self._acall(lambda: self._async().mget([self._k(f"h:{key}:{h}") for h in hours]))
        return [int(x or 0) for x in reply]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class FailoverSpendStore:
    """A shared store with a documented policy for when it is unreachable.

    ``fail_mode="open"`` (default): the request goes on against a local
    :class:`InProcessSpendStore` (same limits, this process's view only) and a warning is
    logged once per outage; Redis is tried again after ``retry_after`` seconds.
    Settlements of reservations made on Redis that fail during the outage are queued
    (bounded) and replayed when Redis is back; unreplayed ones expire by their lease.
    ``fail_mode="closed"``: :class:`SpendStoreUnavailable` is raised, the call is not made.
    """

    def __init__(self, primary: Any, *, fail_mode: Literal["open", "closed"] = "open",
                 fallback: Any = None, retry_after: float = 1.0, max_pending: int = 10_000) -> None:
        if fail_mode not in ("open", "closed"):
            from .._errors import ConfigurationError

            raise ConfigurationError(f"fail_mode must be 'open' or 'closed', got {fail_mode!r}.")
        self.primary = primary
        self.fallback = fallback or InProcessSpendStore()
        self.fail_mode = fail_mode
        self.retry_after = retry_after
        self._down_until = 0.0
        self._outage = False
        self.outages = 0  # how many times the primary went down (for tests and metrics)
        self._local: set[str] = set()  # reservations held by the fallback
        self._pending: deque[tuple[str, tuple[Any, ...]]] = deque(maxlen=max_pending)
        self._lock = threading.Lock()

    @property
    def degraded(self) -> bool:
        """True while the primary is considered down."""
        return self._outage

    def _mark_down(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + self.retry_after
        if not self._outage:
            self._outage = True
            self.outages += 1
            if self.fail_mode == "open":
                logger.warning(
                    "llm-cost-hooks: %s; budgets fail OPEN: enforcing them per process with a local "
                    "store until it is back (fail_mode='closed' refuses calls instead).", exc)
            else:
                logger.warning("llm-cost-hooks: %s; budgets fail CLOSED: refusing calls.", exc)

    def _mark_up(self) -> None:
        if self._outage:
            self._outage = False
            logger.warning("llm-cost-hooks: the spend store is reachable again; shared budgets resumed.")

    def _primary_ok(self) -> bool:
        return time.monotonic() >= self._down_until

    def _refuse(self) -> SpendStoreUnavailable:
        return SpendStoreUnavailable(
            "the shared spend store is unreachable and fail_mode='closed'; no call is made.")

    def _replay(self) -> None:
        while self._pending:
            op, args = self._pending.popleft()
            try:
                getattr(self.primary, op)(*args)
            except SpendStoreUnavailable:
                self._pending.appendleft((op, args))
                raise

    async def _areplay(self) -> None:
        while self._pending:
            op, args = self._pending.popleft()
            try:
                await getattr(self.primary, "a" + op)(*args)
            except SpendStoreUnavailable:
                self._pending.appendleft((op, args))
                raise

    # Generic routing: ``op`` is the sync method name; ``is_async`` picks the a-variant.
    def _run(self, op: str, args: tuple[Any, ...], res_id: str | None = None) -> Any:
        if res_id is not None and res_id in self._local:
            if op != "reserve":
                self._local.discard(res_id)
            return getattr(self.fallback, op)(*args)
        if self._primary_ok():
            try:
                if self._pending:
                    self._replay()
                result = getattr(self.primary, op)(*args)
                self._mark_up()
                return result
            except SpendStoreUnavailable as exc:
                self._mark_down(exc)
        return self._degraded(op, args, res_id)

    async def _arun(self, op: str, args: tuple[Any, ...], res_id: str | None = None) -> Any:
        if res_id is not None and res_id in self._local:
            if op != "reserve":
                self._local.discard(res_id)
            return await getattr(self.fallback, "a" + op)(*args)
        if self._primary_ok():
            try:
                if self._pending:
                    await self._areplay()
                result = await getattr(self.primary, "a" + op)(*args)
                self._mark_up()
                return result
            except SpendStoreUnavailable as exc:
                self._mark_down(exc)
        return self._degraded(op, args, res_id)

    def _degraded(self, op: str, args: tuple[Any, ...], res_id: str | None) -> Any:
        if op in ("settle", "release"):
            # A reservation made on the primary: replay later; its lease covers a loss.
            self._pending.append((op, args))
            return [0] * len(args[1]) if op == "settle" else None
        if self.fail_mode == "closed":
            raise self._refuse()
        if op == "reserve":
            assert res_id is not None
            self._local.add(res_id)
        return getattr(self.fallback, op)(*args)

    # -- SpendStore -----------------------------------------------------------------------
    def reserve(self, res_id, keys, limits, amounts, ttls, lease_seconds):  # type: ignore[no-untyped-def]
        return self._run("reserve", (res_id, keys, limits, amounts, ttls, lease_seconds), res_id)

    def settle(self, res_id, keys, actual, ttls):  # type: ignore[no-untyped-def]
        return self._run("settle", (res_id, keys, actual, ttls), res_id)

    def release(self, res_id, keys):  # type: ignore[no-untyped-def]
        return self._run("release", (res_id, keys), res_id)

    def usage(self, key):  # type: ignore[no-untyped-def]
        return self._run("usage", (key,))

    def once(self, flag, ttl):  # type: ignore[no-untyped-def]
        return self._safe("once", (flag, ttl))

    def add_hourly(self, key, hour, amount, ttl):  # type: ignore[no-untyped-def]
        return self._safe("add_hourly", (key, hour, amount, ttl))

    def hourly(self, key, hours):  # type: ignore[no-untyped-def]
        return self._safe("hourly", (key, hours))

    def _safe(self, op: str, args: tuple[Any, ...]) -> Any:
        # Alert bookkeeping never refuses a call, whatever the fail mode.
        if self._primary_ok():
            try:
                return getattr(self.primary, op)(*args)
            except SpendStoreUnavailable as exc:
                self._mark_down(exc)
        return getattr(self.fallback, op)(*args)

    async def _asafe(self, op: str, args: tuple[Any, ...]) -> Any:
        if self._primary_ok():
            try:
                return await getattr(self.primary, "a" + op)(*args)
            except SpendStoreUnavailable as exc:
                self._mark_down(exc)
        return getattr(self.fallback, op)(*args)

    async def areserve(self, res_id, keys, limits, amounts, ttls, lease_seconds):  # type: ignore[no-untyped-def]
        return await self._arun("reserve", (res_id, keys, limits, amounts, ttls, lease_seconds), res_id)

    async def asettle(self, res_id, keys, actual, ttls):  # type: ignore[no-untyped-def]
        return await self._arun("settle", (res_id, keys, actual, ttls), res_id)

    async def arelease(self, res_id, keys):  # type: ignore[no-untyped-def]
        return await self._arun("release", (res_id, keys), res_id)

    async def aonce(self, flag, ttl):  # type: ignore[no-untyped-def]
        return await self._asafe("once", (flag, ttl))

    async def aadd_hourly(self, key, hour, amount, ttl):  # type: ignore[no-untyped-def]
        return await self._asafe("add_hourly", (key, hour, amount, ttl))

    async def ahourly(self, key, hours):  # type: ignore[no-untyped-def]
        return await self._asafe("hourly", (key, hours))
