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
import contextlib
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, cast, runtime_checkable

from .._breaker import Breaker
from .._errors import SpendStoreUnavailable
from .._redis import RedisConnection, redacted_url
from ._claims import AlertClaims

__all__ = [
    "FailoverSpendStore",
    "InProcessSpendStore",
    "RedisSpendStore",
    "ReserveOutcome",
    "SpendJournal",
    "SpendStore",
    "SpendStoreUnavailable",
]

logger = logging.getLogger("llm_cost_hooks.budget")


@dataclass(frozen=True)
class ReserveOutcome:
    """``ok``; otherwise ``failed`` is the index of the first key that has no room, with
    its ``spent`` and ``reserved`` units.

    >>> store = InProcessSpendStore()
    >>> store.reserve("r1", ["acme:day"], [100], [60], [3600], 60)
    ReserveOutcome(ok=True, failed=None, spent=0, reserved=0)
    >>> store.reserve("r2", ["acme:day"], [100], [60], [3600], 60)
    ReserveOutcome(ok=False, failed=0, spent=0, reserved=60)
    """

    ok: bool
    failed: int | None = None
    spent: int = 0
    reserved: int = 0


#: A granted reservation (immutable, so one instance serves every grant).
_RESERVED = ReserveOutcome(True)

# This process's id, kept current across forks without a system call per operation.
_PID = [os.getpid()]
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))


class _SyncSpendStore(Protocol):
    def reserve(
        self,
        res_id: str,
        keys: Sequence[str],
        limits: Sequence[int],
        amounts: Sequence[int],
        ttls: Sequence[int],
        lease_seconds: float,
    ) -> ReserveOutcome: ...
    def settle(
        self, res_id: str, keys: Sequence[str], actual: Sequence[int], ttls: Sequence[int]
    ) -> list[int]: ...
    def release(self, res_id: str, keys: Sequence[str]) -> None: ...
    def usage(self, key: str) -> tuple[int, int]: ...
    def once(self, flag: str, ttl: int) -> bool: ...
    def add_hourly(self, key: str, hour: int, amount: int, ttl: int) -> None: ...
    def hourly(self, key: str, hours: Sequence[int]) -> list[int]: ...


@runtime_checkable
class SpendStore(_SyncSpendStore, Protocol):
    """The storage interface of :class:`~llm_cost_hooks.budget.SpendGuard`.

    ``keys``/``limits``/``amounts``/``ttls`` are parallel lists; amounts are integers.
    Implementations must make ``reserve`` all-or-nothing and atomic across callers.

    The stores shipped implement it (a usage example is under :class:`InProcessSpendStore`):

    >>> isinstance(InProcessSpendStore(), SpendStore)
    True
    >>> isinstance(RedisSpendStore("redis://127.0.0.1:6379"), SpendStore)  # connects lazily
    True
    """

    async def areserve(
        self,
        res_id: str,
        keys: Sequence[str],
        limits: Sequence[int],
        amounts: Sequence[int],
        ttls: Sequence[int],
        lease_seconds: float,
    ) -> ReserveOutcome: ...
    async def asettle(
        self, res_id: str, keys: Sequence[str], actual: Sequence[int], ttls: Sequence[int]
    ) -> list[int]: ...
    async def arelease(self, res_id: str, keys: Sequence[str]) -> None: ...
    async def aonce(self, flag: str, ttl: int) -> bool: ...
    async def aadd_hourly(self, key: str, hour: int, amount: int, ttl: int) -> None: ...
    async def ahourly(self, key: str, hours: Sequence[int]) -> list[int]: ...


class _AsyncFromSync:
    """Async methods that call the sync ones (for stores that do no I/O)."""

    async def areserve(
        self: _SyncSpendStore,
        res_id: str,
        keys: Sequence[str],
        limits: Sequence[int],
        amounts: Sequence[int],
        ttls: Sequence[int],
        lease_seconds: float,
    ) -> ReserveOutcome:
        return self.reserve(res_id, keys, limits, amounts, ttls, lease_seconds)

    async def asettle(
        self: _SyncSpendStore, res_id: str, keys: Sequence[str], actual: Sequence[int], ttls: Sequence[int]
    ) -> list[int]:
        return self.settle(res_id, keys, actual, ttls)

    async def arelease(self: _SyncSpendStore, res_id: str, keys: Sequence[str]) -> None:
        self.release(res_id, keys)

    async def aonce(self: _SyncSpendStore, flag: str, ttl: int) -> bool:
        return self.once(flag, ttl)

    async def aadd_hourly(self: _SyncSpendStore, key: str, hour: int, amount: int, ttl: int) -> None:
        self.add_hourly(key, hour, amount, ttl)

    async def ahourly(self: _SyncSpendStore, key: str, hours: Sequence[int]) -> list[int]:
        return self.hourly(key, hours)


class InProcessSpendStore(_AsyncFromSync):
    """Budgets of one process, in memory.

    A key is dropped once its ``ttl`` has passed (the period is over), so memory stays
    bounded by the keys of live periods.

    >>> store = InProcessSpendStore()
    >>> store.reserve("r1", ["k"], [100], [60], [3600], 60).ok
    True
    >>> store.reserve("r2", ["k"], [100], [60], [3600], 60).ok
    False
    >>> store.settle("r1", ["k"], [50], [3600]), store.usage("k")
    ([50], (50, 0))
    """

    #: Expired keys are swept at most this often (seconds).
    sweep_interval = 60.0

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._spent: dict[str, int] = {}
        self._reserved: dict[str, int] = {}
        self._holds: dict[str, dict[str, tuple[int, float]]] = {}  # key -> res_id -> (amount, expiry)
        self._expires: dict[str, float] = {}  # key -> when its period's counters may go
        self._flags: dict[str, float] = {}
        self._hours: dict[tuple[str, int], tuple[int, float]] = {}
        self._next_sweep = clock() + self.sweep_interval

    def _purge(self, key: str, now: float) -> None:
        holds = self._holds.get(key)
        if not holds:
            return
        expired = [rid for rid, (_, exp) in holds.items() if exp <= now]
        for rid in expired:
            amount, _ = holds.pop(rid)
            self._reserved[key] = self._reserved.get(key, 0) - amount

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self.sweep_interval
        for key in [k for k, exp in self._expires.items() if exp <= now]:
            if any(e > now for _, e in self._holds.get(key, {}).values()):
                continue  # a live hold keeps its key
            for table in (self._expires, self._spent, self._reserved, self._holds):
                table.pop(key, None)
        for flag in [f for f, exp in self._flags.items() if exp <= now]:
            del self._flags[flag]
        for hk in [h for h, (_, exp) in self._hours.items() if exp <= now]:
            del self._hours[hk]

    def __len__(self) -> int:
        """Budget keys held in memory."""
        return len(self._spent.keys() | self._reserved.keys())

    def seed(self, key: str, spent: int, ttl: int) -> None:
        """Start ``key`` at ``spent`` units (the shared total last seen), keeping holds."""
        with self._lock:
            self._spent[key] = int(spent)
            self._expires.setdefault(key, self._clock() + ttl)

    def reserve(
        self,
        res_id: str,
        keys: Sequence[str],
        limits: Sequence[int],
        amounts: Sequence[int],
        ttls: Sequence[int],
        lease_seconds: float,
    ) -> ReserveOutcome:
        now = self._clock()
        spent_of, reserved_of, holds_of = self._spent, self._reserved, self._holds
        with self._lock:
            for key in keys:
                if holds_of.get(key):  # no holds (the common case): nothing to purge
                    self._purge(key, now)
            for i, key in enumerate(keys):
                spent, reserved = spent_of.get(key, 0), reserved_of.get(key, 0)
                if spent + reserved + amounts[i] > limits[i]:
                    return ReserveOutcome(False, i, spent, reserved)
            until = now + lease_seconds
            for i, key in enumerate(keys):
                amount = amounts[i]
                reserved_of[key] = reserved_of.get(key, 0) + amount
                holds = holds_of.get(key)
                if holds is None:
                    holds = holds_of[key] = {}
                holds[res_id] = (amount, until)
                # A key's period ends at a fixed time: its expiry is set once.
                if key not in self._expires:
                    self._expires[key] = now + ttls[i]
            if now >= self._next_sweep:
                self._sweep(now)
        return _RESERVED

    def settle(
        self, res_id: str, keys: Sequence[str], actual: Sequence[int], ttls: Sequence[int]
    ) -> list[int]:
        spent_of, holds_of = self._spent, self._holds
        with self._lock:
            out = []
            for i, key in enumerate(keys):
                holds = holds_of.get(key)
                hold = holds.pop(res_id, None) if holds else None
                if hold is not None:
                    self._reserved[key] -= hold[0]
                spent = spent_of[key] = spent_of.get(key, 0) + actual[i]
                if key not in self._expires:
                    self._expires[key] = self._clock() + ttls[i]
                out.append(spent)
            return out

    def release(self, res_id: str, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                hold = self._holds.get(key, {}).pop(res_id, None)
                if hold is not None:
                    self._reserved[key] -= hold[0]

    def renew(self, holds: Sequence[tuple[str, Sequence[str]]], lease_seconds: float) -> None:
        """Extend the lease of live reservations ``[(res_id, keys), ...]``."""
        now = self._clock()
        with self._lock:
            for res_id, keys in holds:
                for key in keys:
                    hold = self._holds.get(key, {}).get(res_id)
                    if hold is not None and hold[1] > now:
                        self._holds[key][res_id] = (hold[0], now + lease_seconds)

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
            old = self._hours.get((key, hour), (0, 0.0))[0]
            self._hours[(key, hour)] = (old + amount, self._clock() + ttl)

    def hourly(self, key: str, hours: Sequence[int]) -> list[int]:
        return [self._hours.get((key, h), (0, 0.0))[0] for h in hours]


# -- Redis ---------------------------------------------------------------------------------
# KEYS come in triples per budget: <key> (hash: spent, reserved), <key>:r (hash res->amount),
# <key>:e (zset res->expiry ms), then one last key: the server's epoch (an id set on first
# use from the server clock and the reservation id; a new one means Redis lost its data).
# Amounts travel as decimal strings (HINCRBY is exact). <first key>:d:<bucket> (a set with
# a TTL) holds the reservations settled in that time bucket, so a settlement replayed
# after an outage is counted once (the script is atomic: one marker covers all its keys).
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

_EPOCH = """
local function epoch()
  local ep = redis.call('GET', KEYS[#KEYS])
  if not ep then
    local t = redis.call('TIME')
    ep = t[1] .. '.' .. t[2] .. '-' .. ARGV[1]
    redis.call('SET', KEYS[#KEYS], ep)
  end
  return ep
end
"""

_RESERVE = (
    _PURGE
    + _EPOCH
    + """
local now = now_ms()
local n = (#KEYS - 1) / 3
local res_id = ARGV[1]
local lease = tonumber(ARGV[2])
local ep = epoch()
-- A client that knew another epoch puts its spend back before it may reserve.
if ARGV[3] ~= '' and ARGV[3] ~= ep then return {-1, ep} end
for i = 1, n do purge(KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i], now) end
local seen = {0, ep}
-- A retry (ARGV after the triples is '1') of a reserve whose reply was lost: if the first
-- attempt ran, its hold stands and is not taken twice.
if ARGV[3*n+4] == '1' and redis.call('HEXISTS', KEYS[2], res_id) == 1 then
  for i = 1, n do
    local sr = redis.call('HMGET', KEYS[3*i-2], 'spent', 'reserved')
    seen[2*i+1] = sr[1] or '0'
    seen[2*i+2] = sr[2] or '0'
  end
  return seen
end
local fresh = {}
for i = 1, n do
  local k = KEYS[3*i-2]
  local limit = tonumber(ARGV[3*i+1])
  local amount = tonumber(ARGV[3*i+2])
  local sr = redis.call('HMGET', k, 'spent', 'reserved')
  local spent, reserved = sr[1] or '0', sr[2] or '0'
  if tonumber(spent) + tonumber(reserved) + amount > limit then
    return {i, ep, spent, reserved}
  end
  seen[2*i+1] = spent
  seen[2*i+2] = reserved
  fresh[i] = {not sr[1], tonumber(reserved) <= 0}
end
-- A period's expiry is fixed (its end plus a day), so each key's TTL is set once: <key>
-- when its spent field is first written (here or by the settle), <key>:r and <key>:e
-- when they are created (no hold was left on the key).
for i = 1, n do
  local k, kr, ke = KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i]
  local ttl = tonumber(ARGV[3*i+3])
  redis.call('HINCRBY', k, 'reserved', ARGV[3*i+2])
  redis.call('HSET', kr, res_id, ARGV[3*i+2])
  redis.call('ZADD', ke, now + lease, res_id)
  if fresh[i][1] then redis.call('EXPIRE', k, ttl) end
  if fresh[i][2] then
    redis.call('EXPIRE', kr, ttl)
    redis.call('EXPIRE', ke, ttl)
  end
end
return seen
"""
)

_SETTLE = (
    _EPOCH
    + """
local n = (#KEYS - 1) / 3
local res_id = ARGV[1]
local out = {}
local kd = KEYS[1] .. ':d:' .. ARGV[2]
local dup = 0
-- A hold of this reservation means Redis kept its data since the reserve read the
-- epoch: the epoch is read (one command) only when there is none ('' = unchanged).
local ep = ''
if redis.call('SADD', kd, res_id) == 0 then
  dup = 1
else
  redis.call('EXPIRE', kd, ARGV[3])
end
for i = 1, n do
  local k, kr, ke = KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i]
  if dup == 1 then
    out[i] = redis.call('HGET', k, 'spent') or '0'
  else
    local amt = redis.call('HGET', kr, res_id)
    if not amt and ep == '' then ep = epoch() end
    if amt then
      redis.call('HINCRBY', k, 'reserved', -tonumber(amt))
      redis.call('HDEL', kr, res_id)
      redis.call('ZREM', ke, res_id)
    end
    out[i] = redis.call('HINCRBY', k, 'spent', ARGV[2*i+2])
    -- Without a live hold this may create the key; spent equal to this amount means the
    -- field was just created (the reserve leaves a key's TTL to its first spend).
    if not amt or out[i] == tonumber(ARGV[2*i+2]) then redis.call('EXPIRE', k, tonumber(ARGV[2*i+3])) end
  end
end
if ep == '' and dup == 1 then ep = epoch() end
out[n+1] = ep
out[n+2] = dup
return out
"""
)

_RELEASE = """
local n = (#KEYS - 1) / 3
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

# KEYS: <key>:e of each hold; ARGV: lease ms, then one res_id per key.
_RENEW = (
    _PURGE
    + """
local until_ms = now_ms() + tonumber(ARGV[1])
local renewed = 0
for i = 1, #KEYS do
  if redis.call('ZSCORE', KEYS[i], ARGV[i+1]) then
    redis.call('ZADD', KEYS[i], 'XX', until_ms, ARGV[i+1])
    renewed = renewed + 1
  end
end
return renewed
"""
)

# After Redis came back empty: put back this client's settled spend of live periods,
# once per client and epoch, and read the totals it leaves. KEYS: the budget keys to put
# back, then other budget keys whose totals are wanted, then the marker; ARGV: marker
# ttl, how many keys to put back, then (units, ttl) per key put back. Returns
# {1 if put back now (0: already done), spent of every budget key}.
_RESTORE = """
local marker = KEYS[#KEYS]
local n = tonumber(ARGV[2])
local done = 0
if redis.call('SET', marker, '1', 'NX', 'EX', tonumber(ARGV[1])) then
  done = 1
  for i = 1, n do
    redis.call('HINCRBY', KEYS[i], 'spent', ARGV[2*i+1])
    redis.call('EXPIRE', KEYS[i], tonumber(ARGV[2*i+2]))
  end
end
local out = {done}
for i = 1, #KEYS - 1 do out[i+1] = redis.call('HGET', KEYS[i], 'spent') or '0' end
return out
"""

# KEYS: one budget triple, then the epoch; ARGV: an id (to start an epoch). Returns
# {spent, reserved, epoch}: the epoch tells the client whether Redis lost its data.
_USAGE = (
    _PURGE
    + _EPOCH
    + """
purge(KEYS[1], KEYS[2], KEYS[3], now_ms())
local sr = redis.call('HMGET', KEYS[1], 'spent', 'reserved')
return {sr[1] or '0', sr[2] or '0', epoch()}
"""
)


class _Expiring:
    """``key -> (units, expiry)`` that forgets a key when its period's counters expire."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[int, float]] = {}
        self._next_sweep = 0.0

    def set(self, key: str, units: int, ttl: int, now: float) -> None:
        self.items[key] = (units, now + ttl)
        if now >= self._next_sweep:
            self._next_sweep = now + 60.0
            for k in [k for k, (_, exp) in self.items.items() if exp <= now]:
                del self.items[k]

    def add(self, key: str, units: int, ttl: int, now: float) -> None:
        self.set(key, self.items.get(key, (0, 0.0))[0] + units, ttl, now)

    def get(self, key: str, now: float) -> int | None:
        item = self.items.get(key)
        return item[0] if item is not None and item[1] > now else None


def _put_back_later(spent: list[int]) -> list[int]:
    # The settlement itself is counted (raising would journal it again): only the put-back
    # waits, and the next reserve, settle or usage read tries it again.
    logger.warning("llm-cost-hooks: putting back spend after a Redis restart failed; it is tried again")
    return spent


class RedisSpendStore:
    """Budgets shared by every process that uses the same Redis.

    Raises :class:`SpendStoreUnavailable` when Redis cannot be reached; wrap it in
    :class:`FailoverSpendStore` (``SpendGuard`` does) for the fail-open policy.

    Every key carries a TTL (its period plus a day). Each settlement is marked for
    ``replay_window`` seconds, so replaying it (after a timeout whose reply was lost) never
    counts it twice. If Redis comes back empty (restarted without persistence), the store
    notices (a new server epoch) at its next reserve, settle or usage read and puts back
    the spend this process settled in the live periods, once; a put-back that fails is
    tried again at the next of these calls. ``on_restore(keys, totals)``, when set, is
    called with the totals a put-back left (the guard raises the alerts they cross).

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
        replay_window: float = 6 * 3600.0,
        client: Any = None,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.replay_window = replay_window
        # No silent retries: a timed-out script may still run, and the failover policy
        # (journal, replay) is what handles an unreachable server.
        self._conn = RedisConnection(
            url,
            connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
            client=client,
            feature="RedisSpendStore",
        )
        self._scripts: dict[str, Any] = {}
        self._ascripts: dict[str, Any] = {}
        self._ascripts_client: Any = None
        self.restarts = 0  # times Redis was seen to come back empty
        self.on_restore: Any = None
        self._fork_reset()

    def _fork_reset(self) -> None:
        # Per process: what it settled (put back if Redis loses it) and last seen totals.
        self._pid = _PID[0]
        self._client_id = uuid.uuid4().hex
        self._epoch: str | None = None
        self.mine = _Expiring()  # settled in the current epoch
        self.seen = _Expiring()
        self._owed: _Expiring | None = None  # settled before a restart, not yet put back

    # -- clients ------------------------------------------------------------------------
    def _script(self, name: str, source: str) -> Any:
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self._conn.sync().register_script(source)
        return script

    def _ascript(self, name: str, source: str) -> Any:
        client = self._conn.aclient()
        if client is not self._ascripts_client:  # a new event loop: a new client
            self._ascripts, self._ascripts_client = {}, client
        script = self._ascripts.get(name)
        if script is None:
            script = self._ascripts[name] = client.register_script(source)
        return script

    def _k(self, key: str) -> str:
        return f"{{{self.prefix}}}:{key}"

    def _triples(self, keys: Sequence[str], epoch: bool = True) -> list[str]:
        out: list[str] = []
        for key in keys:
            k = self._k(key)
            out += [k, k + ":r", k + ":e"]
        if epoch:
            out.append(self._k("epoch"))
        return out

    def _unavailable(self, exc: BaseException) -> SpendStoreUnavailable:
        return SpendStoreUnavailable(
            f"Redis spend store at {redacted_url(self.url)} is unreachable: {type(exc).__name__}: {exc}"
        )

    # -- argument packing and replies -----------------------------------------------------
    def _reserve_args(
        self,
        res_id: str,
        limits: Sequence[int],
        amounts: Sequence[int],
        ttls: Sequence[int],
        lease_seconds: float,
        retry: bool = False,
    ) -> list[str]:
        args = [res_id, str(int(lease_seconds * 1000)), self._epoch or ""]
        for limit, amount, ttl in zip(limits, amounts, ttls):
            args += [str(int(limit)), str(int(amount)), str(int(ttl))]
        if retry:
            args.append("1")
        return args

    def _reserve_reply(
        self, keys: Sequence[str], ttls: Sequence[int], reply: Sequence[Any]
    ) -> ReserveOutcome | None:
        """None: not reserved, Redis came back empty (its spend is now owed)."""
        if _PID[0] != self._pid:
            self._fork_reset()
        index = int(reply[0])
        self._new_epoch(str(reply[1]))
        if index < 0:
            return None
        now = time.monotonic()
        if index:
            # The refused key's total is news too: a later outage seeds from it.
            self.seen.set(keys[index - 1], int(reply[2]), ttls[index - 1], now)
            return ReserveOutcome(False, index - 1, int(reply[2]), int(reply[3]))
        for i, key in enumerate(keys):
            self.seen.set(key, int(reply[2 * i + 2]), ttls[i], now)
        return _RESERVED

    def bucket(self) -> int:
        """The settlement-marker bucket of now (journalled with each fallback settlement)."""
        return int(time.time() // self.replay_window)

    def _settle_args(
        self, res_id: str, actual: Sequence[int], ttls: Sequence[int], bucket: int | None
    ) -> list[str]:
        args = [res_id, str(self.bucket() if bucket is None else bucket), str(int(2 * self.replay_window))]
        for amount, ttl in zip(actual, ttls):
            args += [str(int(amount)), str(int(ttl))]
        return args

    def _settle_reply(
        self, keys: Sequence[str], actual: Sequence[int], ttls: Sequence[int], reply: Sequence[Any]
    ) -> list[int]:
        if _PID[0] != self._pid:
            self._fork_reset()
        n = len(keys)
        spent = [int(x) for x in reply[:n]]
        self._new_epoch(str(reply[n]))
        # Already counted (a replay of an attempt whose reply was lost) still counts as
        # this epoch's spend of this process: a journalled settlement is only replayed
        # when no reply came, so it is not in ``mine`` yet, and a later restart must put it
        # back. After a restart it is spend of the new epoch (``mine`` was moved to owed).
        now = time.monotonic()
        for i, key in enumerate(keys):
            self.mine.add(key, int(actual[i]), ttls[i], now)
            self.seen.set(key, spent[i], ttls[i], now)
        return spent

    def _new_epoch(self, epoch: str) -> bool:
        if not epoch:  # settle of a live hold: the epoch cannot have changed
            return False
        if self._epoch is None or epoch == self._epoch:
            self._epoch = epoch
            return False
        self._epoch = epoch
        self.restarts += 1
        # What this process counted on the lost server is owed to the new one (put back
        # before its next reserve, or right after the settle or read that found out); what
        # it counts from now on is the new epoch's.
        now = time.monotonic()
        owed = self._owed or _Expiring()
        for key, (units, exp) in self.mine.items.items():
            if exp > now and units:
                owed.add(key, units, int(exp - now), now)
        self._owed, self.mine = owed, _Expiring()
        logger.warning(
            "llm-cost-hooks: Redis at %s came back without its budget counters; putting back the "
            "spend this process settled on %d live budget key(s).",
            redacted_url(self.url),
            len(owed.items),
        )
        return True

    def _restore_plan(
        self, read: Sequence[str], ttls: Sequence[int]
    ) -> tuple[list[tuple[str, int]], list[str], list[str]] | None:
        """``(budget keys with their ttl, script keys, script args)`` of the put-back owed,
        also reading the totals of ``read``; None when nothing is owed."""
        now = time.monotonic()
        owed = self._owed.items if self._owed is not None else {}
        live = [(k, units, max(int(exp - now), 1)) for k, (units, exp) in owed.items() if exp > now]
        if not live:
            self._owed = None
            return None
        names = [(k, ttl) for k, _, ttl in live] + [(k, int(t)) for k, t in zip(read, ttls) if k not in owed]
        keys = [self._k(k) for k, _ in names] + [self._k(f"restored:{self._epoch}:{self._client_id}")]
        args = [str(int(2 * self.replay_window)), str(len(live))]
        for _, units, ttl in live:
            args += [str(units), str(ttl)]
        return names, keys, args

    def _restored(self, names: Sequence[tuple[str, int]], reply: Sequence[Any]) -> dict[str, int]:
        """Record the totals a put-back left (a later outage seeds from them) and report them."""
        self._owed = None
        now = time.monotonic()
        totals = {}
        for (key, ttl), units in zip(names, reply[1:]):
            totals[key] = int(units)
            self.seen.set(key, int(units), ttl, now)
        if self.on_restore is not None:
            try:
                self.on_restore(list(totals), list(totals.values()))
            except Exception:
                logger.exception("llm-cost-hooks: alerting on put-back spend failed")
        return totals

    def _put_back(self, read: Sequence[str] = (), ttls: Sequence[int] = ()) -> dict[str, int]:
        """Put back what is owed (nothing to do when nothing is); the totals left, by key."""
        plan = self._restore_plan(read, ttls)
        if plan is None:
            return {}
        names, keys, args = plan
        return self._restored(
            names, self._call(lambda: self._script("restore", _RESTORE)(keys=keys, args=args))
        )

    async def _aput_back(self, read: Sequence[str] = (), ttls: Sequence[int] = ()) -> dict[str, int]:
        plan = self._restore_plan(read, ttls)
        if plan is None:
            return {}
        names, keys, args = plan
        reply = await self._acall(lambda: self._ascript("restore", _RESTORE)(keys=keys, args=args))
        return self._restored(names, reply)

    def _renew_args(
        self, holds: Sequence[tuple[str, Sequence[str]]], lease_seconds: float
    ) -> tuple[list[str], list[str]]:
        keys, args = [], [str(int(lease_seconds * 1000))]
        for res_id, budget_keys in holds:
            for key in budget_keys:
                keys.append(self._k(key) + ":e")
                args.append(res_id)
        return keys, args

    # -- sync -----------------------------------------------------------------------------
    def _call(self, fn: Any) -> Any:
        try:
            return fn()
        except self._conn.errors as exc:
            raise self._unavailable(exc) from exc

    def reserve(
        self,
        res_id: str,
        keys: Sequence[str],
        limits: Sequence[int],
        amounts: Sequence[int],
        ttls: Sequence[int],
        lease_seconds: float,
        *,
        retry: bool = False,
    ) -> ReserveOutcome:
        """Hold ``amounts`` on every key, or none; ``retry``: this ``res_id`` was sent
        before without a reply, and a hold it already has stands (not taken twice)."""
        script = self._script("reserve", _RESERVE)
        for _ in range(2):
            if self._owed is not None:  # a process puts back its spend before it may reserve
                self._put_back()
            args = self._reserve_args(res_id, limits, amounts, ttls, lease_seconds, retry)
            outcome = self._reserve_reply(
                keys, ttls, self._call(lambda args=args: script(keys=self._triples(keys), args=args))
            )
            if outcome is not None:
                return outcome
        raise self._unavailable(RuntimeError("Redis restarted twice during one reservation"))

    def settle(
        self,
        res_id: str,
        keys: Sequence[str],
        actual: Sequence[int],
        ttls: Sequence[int],
        *,
        bucket: int | None = None,
    ) -> list[int]:
        """Count ``actual`` on each key and drop the hold; ``bucket`` (a replay) is the
        marker bucket of the first attempt, so a settlement already counted is skipped."""
        script = self._script("settle", _SETTLE)
        args = self._settle_args(res_id, actual, ttls, bucket)
        spent = self._settle_reply(
            keys, actual, ttls, self._call(lambda: script(keys=self._triples(keys), args=args))
        )
        if self._owed is None:
            return spent
        try:
            totals = self._put_back(keys, ttls)
        except SpendStoreUnavailable:
            return _put_back_later(spent)
        # The put-back can take a total past its limit: report the totals after it.
        return [totals.get(key, units) for key, units in zip(keys, spent)]

    def release(self, res_id: str, keys: Sequence[str]) -> None:
        script = self._script("release", _RELEASE)
        self._call(lambda: script(keys=self._triples(keys), args=[res_id]))

    def renew(self, holds: Sequence[tuple[str, Sequence[str]]], lease_seconds: float) -> None:
        """Extend the lease of live reservations ``[(res_id, keys), ...]`` (one round trip)."""
        if not holds:
            return
        keys, args = self._renew_args(holds, lease_seconds)
        script = self._script("renew", _RENEW)
        self._call(lambda: script(keys=keys, args=args))

    def usage(self, key: str) -> tuple[int, int]:
        script = self._script("usage", _USAGE)
        reply = self._call(lambda: script(keys=self._triples([key]), args=[self._client_id]))
        if _PID[0] != self._pid:
            self._fork_reset()
        self._new_epoch(str(reply[2]))
        if self._owed is not None:  # Redis lost its data: the total is right after the put-back
            return self._put_back([key], [86_400]).get(key, int(reply[0])), int(reply[1])
        return int(reply[0]), int(reply[1])

    def once(self, flag: str, ttl: int) -> bool:
        return bool(
            self._call(
                lambda: self._conn.sync().set(self._k("once:" + flag), "1", nx=True, ex=max(int(ttl), 1))
            )
        )

    def add_hourly(self, key: str, hour: int, amount: int, ttl: int) -> None:
        k = self._k(f"h:{key}:{hour}")

        def op() -> None:
            pipe = self._conn.sync().pipeline(transaction=False)
            pipe.incrby(k, int(amount))
            pipe.expire(k, int(ttl))
            pipe.execute()

        self._call(op)

    def hourly(self, key: str, hours: Sequence[int]) -> list[int]:
        reply = self._call(lambda: self._conn.sync().mget([self._k(f"h:{key}:{h}") for h in hours]))
        return [int(x or 0) for x in reply]

    # -- async ----------------------------------------------------------------------------
    async def _acall(self, coro_fn: Any) -> Any:
        try:
            return await self._conn.acall(coro_fn)
        except self._conn.errors as exc:
            raise self._unavailable(exc) from exc

    async def areserve(
        self,
        res_id: str,
        keys: Sequence[str],
        limits: Sequence[int],
        amounts: Sequence[int],
        ttls: Sequence[int],
        lease_seconds: float,
        *,
        retry: bool = False,
    ) -> ReserveOutcome:
        for _ in range(2):
            if self._owed is not None:
                await self._aput_back()
            args = self._reserve_args(res_id, limits, amounts, ttls, lease_seconds, retry)
            reply = await self._acall(
                lambda args=args: self._ascript("reserve", _RESERVE)(keys=self._triples(keys), args=args)
            )
            outcome = self._reserve_reply(keys, ttls, reply)
            if outcome is not None:
                return outcome
        raise self._unavailable(RuntimeError("Redis restarted twice during one reservation"))

    async def asettle(
        self,
        res_id: str,
        keys: Sequence[str],
        actual: Sequence[int],
        ttls: Sequence[int],
        *,
        bucket: int | None = None,
    ) -> list[int]:
        args = self._settle_args(res_id, actual, ttls, bucket)
        reply = await self._acall(
            lambda: self._ascript("settle", _SETTLE)(keys=self._triples(keys), args=args)
        )
        spent = self._settle_reply(keys, actual, ttls, reply)
        if self._owed is None:
            return spent
        try:
            totals = await self._aput_back(keys, ttls)
        except SpendStoreUnavailable:
            return _put_back_later(spent)
        return [totals.get(key, units) for key, units in zip(keys, spent)]

    async def arelease(self, res_id: str, keys: Sequence[str]) -> None:
        await self._acall(lambda: self._ascript("release", _RELEASE)(keys=self._triples(keys), args=[res_id]))

    async def aonce(self, flag: str, ttl: int) -> bool:
        return bool(
            await self._acall(
                lambda: self._conn.aclient().set(self._k("once:" + flag), "1", nx=True, ex=max(int(ttl), 1))
            )
        )

    async def aadd_hourly(self, key: str, hour: int, amount: int, ttl: int) -> None:
        k = self._k(f"h:{key}:{hour}")

        async def op() -> None:
            pipe = self._conn.aclient().pipeline(transaction=False)
            pipe.incrby(k, int(amount))
            pipe.expire(k, int(ttl))
            await pipe.execute()

        await self._acall(op)

    async def ahourly(self, key: str, hours: Sequence[int]) -> list[int]:
        reply = await self._acall(lambda: self._conn.aclient().mget([self._k(f"h:{key}:{h}") for h in hours]))
        return [int(x or 0) for x in reply]

    def close(self) -> None:
        self._conn.close()


def _default_journal_dir() -> Path | None:
    """``$LLM_COST_HOOKS_SPEND_JOURNAL``, else ``spend-journal`` in the user state directory
    (``$LLM_COST_HOOKS_STATE_DIR``, else ``~/.local/state/llm-cost-hooks``): the journal is
    state to replay, not a cache to clear. ``None`` (memory only, with an error logged by
    the store) when there is no home to put it in."""
    env = os.environ.get("LLM_COST_HOOKS_SPEND_JOURNAL", "").strip()
    if env:
        return Path(env).expanduser()
    from ..ledger._killcount import user_state_dir

    state = user_state_dir()
    return state / "spend-journal" if state is not None else None


def _legacy_journal_dirs() -> tuple[Path, ...]:
    """Where earlier releases wrote the journal by default: a dead process's file there is
    still adopted and replayed."""
    try:
        return (Path.home() / ".cache" / "llm_cost_hooks" / "spend-journal",)
    except (RuntimeError, KeyError):  # no home
        return ()


class SpendJournal:
    """What a process did on the local fallback while the shared store was unreachable.

    Each fallback reservation, settlement and release is appended to a file of its own
    (one JSON line, flushed: it survives a crash of the process) and settlements are kept
    in memory until :class:`FailoverSpendStore` has replayed them. At most
    ``max_entries`` settlements wait; beyond that the oldest is set aside: counted in
    ``set_aside`` / ``set_aside_units`` and logged. A file left by a process that died
    (its lock is free) is adopted by the next store that uses the same directory and
    namespace; its unsettled reservations are counted in ``orphaned_holds`` (their lease
    has ended, as it would have on Redis).

    ``directory=None``: memory only (lost if the process dies).

    >>> journal = SpendJournal(None)
    >>> journal.append({"op": "settle", "id": "r1", "keys": ["k"], "actual": [5], "ttls": [60], "bucket": 0})
    >>> journal.pending
    1
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None,
        *,
        namespace: str = "spend",
        max_entries: int = 100_000,
        adopt_from: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        self.directory = Path(directory) if directory is not None else None
        # Other directories whose dead processes' files are adopted too (an earlier default).
        self.adopt_from = tuple(Path(d) for d in adopt_from)
        self.namespace = namespace
        self.max_entries = max_entries
        self.set_aside = 0
        self.set_aside_units = 0
        self.orphaned_holds = 0
        self.adopted = 0
        self._entries: deque[dict[str, Any]] = deque()
        self._file: Any = None
        self._path: Path | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._warned = False

    @property
    def pending(self) -> int:
        """Settlements and releases not yet replayed."""
        return len(self._entries)

    @property
    def path(self) -> Path | None:
        """This process's journal file (created at the first entry)."""
        return self._path

    def _open(self) -> Any:
        if self.directory is None:
            return None
        if self._file is not None and self._pid == os.getpid():
            return self._file
        try:
            import fcntl

            self.directory.mkdir(parents=True, exist_ok=True)
            self._pid = os.getpid()
            self._path = self.directory / f"{self.namespace}-{self._pid}-{uuid.uuid4().hex[:8]}.jsonl"
            self._file = open(self._path, "a", encoding="utf-8")  # noqa: SIM115 - held for the process
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                logger.error(
                    "llm-cost-hooks: cannot write the spend journal in %s (%s); fallback settlements "
                    "are kept in memory only until the shared store is back.",
                    self.directory,
                    exc,
                )
            self.directory, self._file = None, None
        return self._file

    def append(self, entry: dict[str, Any]) -> None:
        """Record one fallback operation (``op`` = ``reserve``, ``settle`` or ``release``)."""
        with self._lock:
            f = self._open()
            if f is not None:
                try:
                    f.write(json.dumps(entry, separators=(",", ":")) + "\n")
                    f.flush()
                except OSError as exc:  # a full disk: never a reason to fail the call
                    self._file_failed(exc)
            if entry["op"] == "reserve":
                return
            if len(self._entries) >= self.max_entries:
                dropped = self._entries.popleft()
                self.set_aside += 1
                self.set_aside_units += sum(dropped.get("actual", ()))
                logger.error(
                    "llm-cost-hooks: spend journal full (%d entries); set aside a settlement of %s "
                    "units (%d set aside so far): the shared total will miss it.",
                    self.max_entries,
                    dropped.get("actual"),
                    self.set_aside,
                )
            self._entries.append(entry)

    def _file_failed(self, exc: OSError) -> None:
        """The journal file stopped taking lines (no space left, a file size limit): keep
        the entries in memory only, as when it cannot be opened, and say so once."""
        f, self._file = self._file, None
        self.directory = None
        with contextlib.suppress(OSError, ValueError):
            f.close()  # its unwritten buffer fails again: dropped, the entries are in memory
        if not self._warned:
            self._warned = True
            logger.error(
                "llm-cost-hooks: writing the spend journal %s failed (%s); fallback settlements "
                "are kept in memory only until the shared store is back (a crash of this "
                "process before then would lose them).",
                self._path,
                exc,
            )

    def peek(self) -> dict[str, Any] | None:
        return self._entries[0] if self._entries else None

    def done(self, entry: dict[str, Any]) -> None:
        """``entry`` was replayed; once nothing waits, the file is emptied."""
        with self._lock:
            if self._entries and self._entries[0] is entry:
                self._entries.popleft()
            if not self._entries and self._file is not None and self._pid == os.getpid():
                self._file.truncate(0)
                self._file.flush()

    def adopt_orphans(self) -> int:
        """Take over the files of dead processes in this namespace; returns entries adopted."""
        folders = [d for d in (self.directory, *self.adopt_from) if d is not None and d.is_dir()]
        if self.directory is None or not folders:
            return 0
        import fcntl

        adopted = 0
        paths = [p for d in dict.fromkeys(folders) for p in sorted(d.glob(f"{self.namespace}-*.jsonl"))]
        for path in paths:
            if path == self._path:
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    try:
                        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        continue  # its process is alive
                    lines = f.read().splitlines()
                    entries = []
                    for line in lines:
                        try:
                            entries.append(json.loads(line))
                        except ValueError:
                            continue  # a line cut short by the crash
                    held = {e["id"] for e in entries if e.get("op") == "reserve"}
                    for e in entries:
                        if e.get("op") in ("settle", "release"):
                            held.discard(e["id"])
                            self.append(e)
                            adopted += 1
                    self.orphaned_holds += len(held)
                    path.unlink()
                    if entries:
                        logger.warning(
                            "llm-cost-hooks: adopted the spend journal of a dead process (%s): %d "
                            "settlement(s) to replay, %d reservation(s) never settled.",
                            path.name,
                            adopted,
                            len(held),
                        )
            except OSError:
                continue
        self.adopted += adopted
        return adopted


#: A fail-over operation's body: yields the primary's calls ``(method, args, kwargs)``.
_Keys = Sequence[str]
_Units = Sequence[int]
_Steps = Generator[tuple[str, tuple[Any, ...], dict[str, Any]], Any, Any]


class FailoverSpendStore:
    """A shared store with a documented policy for when it is unreachable.

    ``fail_mode="open"`` (default): once the primary has given no answer for
    ``outage_after`` seconds (3 s, from the start of a failed call or the last answer,
    whichever is later, to a failure), it is down: requests go on against a local
    :class:`InProcessSpendStore`, a warning is logged once per outage, and after
    ``retry_after`` seconds one call tries Redis again (``breaker``) while the others
    stay local until it answers. A shorter failure is not an outage: a reservation asks
    again (after 0.05 s, doubling up to 0.5 s) until the primary answers or is declared
    down, so one slow reply under load lets no call through unchecked; other operations
    use the local store and the journal for that one call. The local store starts each
    key at the shared total this process last saw, so a process never spends more than
    what was left when it lost Redis (plus what it had in flight). Every operation made
    meanwhile is written to the :class:`SpendJournal` (``journal``: a directory, ``None``
    for memory only, or a ``SpendJournal``; default ``$LLM_COST_HOOKS_SPEND_JOURNAL`` or
    ``spend-journal`` in the state directory, ``$LLM_COST_HOOKS_STATE_DIR`` or
    ``~/.local/state/llm-cost-hooks``) and replayed to Redis, idempotently, as
    soon as it answers again: the shared total is right afterwards. ``on_replay(keys,
    spent)`` is called after each replayed settlement (the guard raises its alerts).
    ``fail_mode="closed"``: :class:`SpendStoreUnavailable` is raised at the first failure,
    the call is not made; settlements of calls already made are still journalled and
    replayed.
    """

    def __init__(
        self,
        primary: Any,
        *,
        fail_mode: Literal["open", "closed"] = "open",
        fallback: Any = None,
        retry_after: float = 1.0,
        max_pending: int = 100_000,
        journal: Any = "auto",
        outage_after: float = 3.0,
    ) -> None:
        if fail_mode not in ("open", "closed"):
            from .._errors import ConfigurationError

            raise ConfigurationError(f"fail_mode must be 'open' or 'closed', got {fail_mode!r}.")
        self.primary = primary
        self.fallback = fallback or InProcessSpendStore()
        self.fail_mode = fail_mode
        self.retry_after = retry_after
        # Opened when an outage is declared (``_failed``); after ``retry_after`` one call
        # probes the primary while the others stay on the fallback (no pile-up of timeouts
        # on a dead server).
        self.breaker = Breaker(failure_threshold=1, reset_seconds=retry_after)
        self.outage_after = outage_after
        self._failing_since: float | None = None  # since when the primary has not answered
        self._answered_at = 0.0  # the primary's last answer
        self.replayed = 0  # journal entries replayed to the primary
        self._local: set[str] = set()  # reservations held by the fallback
        self._seeded: set[str] = set()  # keys the fallback started from the shared total, this outage
        if isinstance(journal, SpendJournal):
            self.journal = journal
        else:
            namespace = (
                "spend-"
                + hashlib.sha1(
                    f"{getattr(primary, 'url', '')}|{getattr(primary, 'prefix', '')}".encode()
                ).hexdigest()[:12]
            )
            directory: str | os.PathLike[str] | None = journal
            legacy: tuple[Path, ...] = ()
            if journal == "auto":
                directory = _default_journal_dir()
                legacy = _legacy_journal_dirs() if directory is not None else ()
                if directory is None:
                    logger.error(
                        "llm-cost-hooks: no home directory for the spend journal; fallback settlements "
                        "are kept in memory only: set LLM_COST_HOOKS_STATE_DIR (or "
                        "LLM_COST_HOOKS_SPEND_JOURNAL) to keep them across a crash."
                    )
            self.journal = SpendJournal(
                directory, namespace=namespace, max_entries=max_pending, adopt_from=legacy
            )
        self._orphans_checked = False
        self._replaying = False
        # Alert flags set on the fallback during an outage (flag -> expiry, monotonic): written
        # to the primary with the replay, so a process that did not alert then does not send
        # the same alert again once the primary answers.
        self._local_flags: dict[str, float] = {}
        # One sender per machine for an alert raised during an outage (``_claims``): a
        # claim file next to the journal, shared by the workers that share the journal.
        where = getattr(self.journal, "directory", None)
        self.claims = AlertClaims(
            Path(where) / "alert-claims.sqlite3" if where is not None else None,
            getattr(self.journal, "namespace", "spend"),
        )
        self._claimed: set[str] = set()  # claimed by this process, not yet marked sent
        self._claim_waits: set[str] = set()  # claimed by another process, not yet sent
        self.on_replay: Any = None
        self._lock = threading.Lock()

    @property
    def degraded(self) -> bool:
        """True while the primary is considered down."""
        return not self.breaker.is_closed

    @property
    def outages(self) -> int:
        """How many times the primary went down."""
        return self.breaker.opens

    def _failed(self, exc: BaseException, started: float) -> bool:
        """A call to the primary begun at ``started`` found it unreachable; True when this
        is an outage (the breaker opened, or stays open)."""
        if self.fail_mode == "open" and self.breaker.is_closed:
            # Silent since this call began, or since the last answer another call got.
            began = max(started, self._answered_at)
            since = self._failing_since
            if since is None or began < since:
                self._failing_since = since = began
            if time.monotonic() - since < self.outage_after:
                return False
        self._mark_down(exc)
        return True

    def _mark_down(self, exc: BaseException) -> None:
        self._failing_since = None
        if self.breaker.record_failure():
            self._seeded.clear()
            if self.fail_mode == "open":
                logger.warning(
                    "llm-cost-hooks: %s; budgets fail OPEN: enforcing them per process with a local "
                    "store from the last shared totals seen, journalling every settlement for replay "
                    "(fail_mode='closed' refuses calls instead).",
                    exc,
                )
            else:
                logger.warning("llm-cost-hooks: %s; budgets fail CLOSED: refusing calls.", exc)

    def _mark_up(self) -> None:
        self._answered_at = time.monotonic()
        if self._failing_since is not None:
            self._failing_since = None
        if self.breaker.record_success():
            logger.warning(
                "llm-cost-hooks: the spend store is reachable again; shared budgets resumed "
                "(%d journalled operation(s) replayed so far).",
                self.replayed,
            )

    def _refuse(self) -> SpendStoreUnavailable:
        return SpendStoreUnavailable(
            "the shared spend store is unreachable and fail_mode='closed'; no call is made."
        )

    def _needs_replay(self) -> bool:
        if not self._orphans_checked:
            self._orphans_checked = True
            self.journal.adopt_orphans()
        return self.journal.pending > 0 and not self._replaying

    def _replayed_one(self, entry: dict[str, Any], spent: Any) -> None:
        # Alerts first: an entry leaves the journal (file) only once the totals its replay
        # produced were checked, so a process that dies in between has it replayed (counted
        # once, by its marker) and checked again by whoever adopts its journal.
        if entry["op"] == "settle" and self.on_replay is not None:
            try:
                self.on_replay(entry["keys"], spent)
            except Exception:
                logger.exception("llm-cost-hooks: alerting on replayed spend failed")
        self.journal.done(entry)
        self.replayed += 1

    # One body per operation, written as a generator of the primary's calls: it yields
    # ``(method, args, kwargs)`` and gets the result back (or the error thrown in), so the
    # sync and async shells only differ in how they make that call.
    def _replay_steps(self) -> _Steps:
        self._replaying = True
        try:
            while (entry := self.journal.peek()) is not None:
                if entry["op"] == "settle":
                    bucket = {"bucket": entry["bucket"]} if isinstance(self.primary, RedisSpendStore) else {}
                    args: tuple[Any, ...] = (entry["id"], entry["keys"], entry["actual"], entry["ttls"])
                    spent = yield "settle", args, bucket
                else:
                    spent = yield "release", (entry["id"], entry["keys"]), {}
                self._replayed_one(entry, spent)
            # The alerts this process raised alone: a flag that fails to be written stays
            # for the next replay.
            for flag, expires in list(self._local_flags.items()):
                left = int(expires - time.monotonic())
                if left > 0:
                    yield "once", (flag, left), {}
                self._local_flags.pop(flag, None)
        finally:
            self._replaying = False

    def _run_steps(self, op: str, args: tuple[Any, ...], res_id: str | None) -> _Steps:
        if res_id is not None and res_id in self._local and op != "reserve":
            return self._degraded(op, args, res_id)
        kwargs: dict[str, Any] = {}
        pause = 0.05
        while self.breaker.allow():
            started = time.monotonic()
            try:
                if (self.journal._entries or not self._orphans_checked) and self._needs_replay():
                    yield from self._replay_steps()
                result = yield op, args, kwargs
            except SpendStoreUnavailable as exc:
                if self._failed(exc, started) or op != "reserve":
                    break
                # Not an outage yet: a reservation waits for an answer rather than going
                # through unchecked. The next attempt uses a new connection (a timed-out
                # one is dropped) and does not hold twice if the last one ran.
                yield "_pause", (pause,), {}
                pause = min(pause * 2, 0.5)
                if isinstance(self.primary, RedisSpendStore):
                    kwargs = {"retry": True}
                continue
            except BaseException:
                self.breaker.release_probe()  # the server answered (or the caller left)
                raise
            self._mark_up()
            return result
        return self._degraded(op, args, res_id)

    def _safe_steps(self, op: str, args: tuple[Any, ...], fallback: bool = True) -> _Steps:
        # Alert bookkeeping and lease renewal never refuse a call, whatever the fail mode.
        if self._replaying:
            # The replay holds the breaker's one probe and the primary is answering it: the
            # alert flags its settlements raise go there too, or each process of a fleet
            # would keep them locally and send the same alert.
            try:
                return (yield op, args, {})
            except SpendStoreUnavailable:
                return self._on_fallback(op, args) if fallback else None
        if self.breaker.allow():
            started = time.monotonic()
            try:
                result = yield op, args, {}
            except SpendStoreUnavailable as exc:
                self._failed(exc, started)
            except BaseException:
                self.breaker.release_probe()
                raise
            else:
                self._mark_up()
                return result
        return self._on_fallback(op, args) if fallback else None

    def _on_fallback(self, op: str, args: tuple[Any, ...]) -> Any:
        if op != "once":
            return getattr(self.fallback, op)(*args)
        flag, ttl = args
        # Every worker of this machine crosses the threshold on its local total: the first
        # to claim it sends it.
        state = self.claims.claim(flag, ttl)
        if state != "mine":
            if state == "claimed":
                with self._lock:
                    self._claim_waits.add(flag)
            return False
        if not self.fallback.once(flag, ttl):  # this process raised it before
            self.claims.sent(flag)
            return False
        with self._lock:
            self._claimed.add(flag)
            self._local_flags[flag] = time.monotonic() + ttl
        return True

    def _known_here(self, flag: str) -> Literal["sent", "claimed"] | None:
        """``sent`` when a process of this machine sent ``flag`` during an outage,
        ``claimed`` when one is sending it now (then ``claim_waiting(flag)`` is True)."""
        state = self.claims.peek(flag)
        if state == "claimed":
            with self._lock:
                self._claim_waits.add(flag)
        return state if state != "mine" else None

    def claim_waiting(self, flag: str) -> bool:
        """True (once) when ``once(flag)`` answered False only because another process of
        this machine claimed the alert and has not sent it yet: ask again later."""
        with self._lock:
            if flag in self._claim_waits:
                self._claim_waits.discard(flag)
                return True
            return False

    def alert_sent(self, flag: str) -> None:
        """The sinks are done with the alert of ``flag``: its machine claim is marked sent."""
        with self._lock:
            if flag not in self._claimed:
                return
            self._claimed.discard(flag)
        self.claims.sent(flag)

    def _drive(self, steps: _Steps) -> Any:
        """Run ``steps`` with blocking calls to the primary."""
        try:
            step = next(steps)
            while True:
                op, args, kwargs = step
                if op == "_pause":
                    time.sleep(args[0])
                    step = steps.send(None)
                    continue
                try:
                    result = getattr(self.primary, op)(*args, **kwargs)
                except BaseException as exc:
                    step = steps.throw(exc)
                else:
                    step = steps.send(result)
        except StopIteration as done:
            return done.value

    async def _adrive(self, steps: _Steps) -> Any:
        """Run ``steps`` awaiting the primary's async methods (``a`` + name)."""
        try:
            step = next(steps)
            while True:
                name, params, named = step
                if name == "_pause":
                    await asyncio.sleep(params[0])
                    step = steps.send(None)
                    continue
                call = getattr(self.primary, "a" + name)
                try:
                    value = await call(*params, **named)
                except BaseException as exc:
                    step = steps.throw(exc)
                    continue
                step = steps.send(value)
        except StopIteration as finished:
            return finished.value

    def _run(self, op: str, args: tuple[Any, ...], res_id: str | None = None) -> Any:
        return self._drive(self._run_steps(op, args, res_id))

    async def _arun(self, op: str, args: tuple[Any, ...], res_id: str | None = None) -> Any:
        return await self._adrive(self._run_steps(op, args, res_id))

    def _seed(self, keys: Sequence[str], ttls: Sequence[int]) -> None:
        # Start the local view of a key from the shared total this process last saw.
        seen = getattr(self.primary, "seen", None)
        seed = getattr(self.fallback, "seed", None)
        if not isinstance(seen, _Expiring) or seed is None:
            return
        now = time.monotonic()
        for key, ttl in zip(keys, ttls):
            if key in self._seeded:
                continue
            self._seeded.add(key)
            units = seen.get(key, now)
            if units is not None:
                seed(key, units, ttl)

    def _degraded(self, op: str, args: tuple[Any, ...], res_id: str | None) -> Any:
        bucket = self.primary.bucket() if isinstance(self.primary, RedisSpendStore) else 0
        if op == "settle":
            # Counted locally (this process's limits) and journalled for the shared total.
            rid, keys, actual, ttls = args
            self._local.discard(rid)
            self._seed(keys, ttls)
            self.journal.append(
                {
                    "op": "settle",
                    "id": rid,
                    "keys": list(keys),
                    "actual": [int(a) for a in actual],
                    "ttls": [int(t) for t in ttls],
                    "bucket": bucket,
                    "at": time.time(),
                }
            )
            return self.fallback.settle(*args)
        if op == "release":
            rid, keys = args
            self._local.discard(rid)
            # A reserve that timed out may still have reached Redis: release it there too.
            self.journal.append({"op": "release", "id": rid, "keys": list(keys), "at": time.time()})
            return self.fallback.release(*args)
        if self.fail_mode == "closed":
            raise self._refuse()
        if op == "reserve":
            assert res_id is not None
            rid, keys, limits, amounts, ttls, lease = args
            self._seed(keys, ttls)
            outcome = self.fallback.reserve(*args)
            if outcome.ok:
                self._local.add(res_id)
                self.journal.append(
                    {
                        "op": "reserve",
                        "id": rid,
                        "keys": list(keys),
                        "amounts": [int(a) for a in amounts],
                        "at": time.time(),
                    }
                )
            return outcome
        if op == "usage":
            self._seed(args[:1], [86_400])
        return getattr(self.fallback, op)(*args)

    # -- SpendStore -----------------------------------------------------------------------
    def reserve(
        self, res_id: str, keys: _Keys, limits: _Units, amounts: _Units, ttls: _Units, lease_seconds: float
    ) -> ReserveOutcome:
        args = (res_id, keys, limits, amounts, ttls, lease_seconds)
        return cast("ReserveOutcome", self._run("reserve", args, res_id))

    def settle(
        self, res_id: str, keys: Sequence[str], actual: Sequence[int], ttls: Sequence[int]
    ) -> list[int]:
        return cast("list[int]", self._run("settle", (res_id, keys, actual, ttls), res_id))

    def release(self, res_id: str, keys: Sequence[str]) -> None:
        self._run("release", (res_id, keys), res_id)

    def renew(self, holds: Sequence[tuple[str, Sequence[str]]], lease_seconds: float) -> None:
        local = [h for h in holds if h[0] in self._local]
        shared = [h for h in holds if h[0] not in self._local]
        if local and hasattr(self.fallback, "renew"):
            self.fallback.renew(local, lease_seconds)
        if shared and hasattr(self.primary, "renew"):
            self._safe("renew", (shared, lease_seconds), fallback=False)

    def usage(self, key: str) -> tuple[int, int]:
        return cast("tuple[int, int]", self._run("usage", (key,)))

    def once(self, flag: str, ttl: int) -> bool:
        known = self._known_here(flag)
        if known is not None:
            # Sent by this machine during an outage: the other machines' processes learn it
            # (a claim not yet sent is left alone: if its sender dies, another one sends it).
            if known == "sent" and self.breaker.is_closed:
                self._safe("once", (flag, ttl), fallback=False)
            return False
        return cast("bool", self._safe("once", (flag, ttl)))

    def add_hourly(self, key: str, hour: int, amount: int, ttl: int) -> None:
        self._safe("add_hourly", (key, hour, amount, ttl))

    def hourly(self, key: str, hours: Sequence[int]) -> list[int]:
        return cast("list[int]", self._safe("hourly", (key, hours)))

    def _safe(self, op: str, args: tuple[Any, ...], fallback: bool = True) -> Any:
        return self._drive(self._safe_steps(op, args, fallback))

    async def _asafe(self, op: str, args: tuple[Any, ...], fallback: bool = True) -> Any:
        return await self._adrive(self._safe_steps(op, args, fallback))

    async def areserve(
        self, res_id: str, keys: _Keys, limits: _Units, amounts: _Units, ttls: _Units, lease_seconds: float
    ) -> ReserveOutcome:
        args = (res_id, keys, limits, amounts, ttls, lease_seconds)
        return cast("ReserveOutcome", await self._arun("reserve", args, res_id))

    async def asettle(
        self, res_id: str, keys: Sequence[str], actual: Sequence[int], ttls: Sequence[int]
    ) -> list[int]:
        return cast("list[int]", await self._arun("settle", (res_id, keys, actual, ttls), res_id))

    async def arelease(self, res_id: str, keys: Sequence[str]) -> None:
        await self._arun("release", (res_id, keys), res_id)

    async def aonce(self, flag: str, ttl: int) -> bool:
        known = self._known_here(flag)
        if known is not None:
            # Sent by this machine during an outage: the other machines' processes learn it
            # (a claim not yet sent is left alone: if its sender dies, another one sends it).
            if known == "sent" and self.breaker.is_closed:
                await self._asafe("once", (flag, ttl), fallback=False)
            return False
        return cast("bool", await self._asafe("once", (flag, ttl)))

    async def aadd_hourly(self, key: str, hour: int, amount: int, ttl: int) -> None:
        await self._asafe("add_hourly", (key, hour, amount, ttl))

    async def ahourly(self, key: str, hours: Sequence[int]) -> list[int]:
        return cast("list[int]", await self._asafe("hourly", (key, hours)))
