"""How the package connects to Redis (shared cache, shared budgets, cross-process
single-flight): one place that builds the clients.

Every client has bounded connect and socket timeouts and makes no silent retries: a
timed-out command may still have run on the server, and each caller has its own policy for
an unreachable server (a circuit breaker, a local fallback, a journal). The async side keeps
one client per event loop, because asyncio connections cannot cross loops, and bounds each
whole call (waiting for a free pooled connection included), because a server that accepted
the connection but is paused would otherwise hold the handshake forever.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ._errors import ConfigurationError, MissingExtraError

__all__ = ["RedisConnection", "check_redis_url", "redacted_url", "redis_module"]

T = TypeVar("T")

# Python 3.11+: cheaper than asyncio.wait_for (no extra task).
_asyncio_timeout = getattr(asyncio, "timeout", None)


def redacted_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for logs and error messages); a Redis
    URL often has a password and no user name (``redis://:secret@host:6379``)."""
    # Up to the last '@' before the path, as redis-py reads it: a password may hold an '@'.
    return re.sub(r"(://[^:/@]*):[^/?#]*@", r"\1:***@", url)


_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def check_redis_url(url: Any, feature: str = "Redis") -> str:
    """``url`` if redis-py can read it; else :class:`ConfigurationError` saying what to pass
    (the password is never repeated).

    >>> check_redis_url("redis://cache:6379/0")
    'redis://cache:6379/0'
    >>> check_redis_url("cache:6379")
    Traceback (most recent call last):
    ...
    llm_cost_hooks._errors.ConfigurationError: Redis: the Redis URL 'cache:6379' has no scheme; give redis://host:6379 (rediss:// for TLS, unix:///path/to/redis.sock for a socket).
    """
    from urllib.parse import urlsplit

    if not isinstance(url, str):
        raise ConfigurationError(
            f"{feature}: the Redis URL must be text such as redis://host:6379, got a {type(url).__name__}."
        )
    shown = redacted_url(url)
    if not url.lower().startswith(_REDIS_SCHEMES):
        raise ConfigurationError(
            f"{feature}: the Redis URL {shown!r} has no scheme; give redis://host:6379 "
            "(rediss:// for TLS, unix:///path/to/redis.sock for a socket)."
        )
    try:
        urlsplit(url).port  # noqa: B018 - raises for a port that is not a number or out of range
    except ValueError:
        raise ConfigurationError(
            f"{feature}: the Redis URL {shown!r} has a port that is not a number from 0 to 65535; "
            "give redis://host:6379."
        ) from None
    return url


def redis_module(feature: str) -> Any:
    """The ``redis`` package, or :class:`MissingExtraError` naming ``feature``."""
    try:
        import redis
    except ImportError as exc:
        raise MissingExtraError("redis", "redis", feature) from exc
    return redis


class RedisConnection:
    """Clients for one Redis URL (or the given sync ``client``), built on first use.

    >>> conn = RedisConnection("redis://127.0.0.1:6379", connect_timeout=0.5, socket_timeout=1.0)
    >>> conn.bound  # no connection is made until a client is used
    1.5
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 1.0,
        socket_timeout: float = 2.0,
        decode_responses: bool = True,
        client: Any = None,
        feature: str = "Redis",
    ) -> None:
        self.url = url if client is not None else check_redis_url(url, feature)
        self.connect_timeout = connect_timeout
        self.socket_timeout = socket_timeout
        self.decode_responses = decode_responses
        self.feature = feature
        self._client = client
        self._loop: asyncio.AbstractEventLoop | None = None
        self._aclient: Any = None
        self._errors: tuple[type[BaseException], ...] | None = None

    @property
    def bound(self) -> float:
        """Seconds one async call may take at most (connect plus reply)."""
        return self.connect_timeout + self.socket_timeout

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """The exceptions that mean "Redis is unreachable" (sync and async calls)."""
        if self._errors is None:
            redis = redis_module(self.feature)
            self._errors = (
                redis.exceptions.ConnectionError,
                redis.exceptions.TimeoutError,
                OSError,
                asyncio.TimeoutError,
            )
        return self._errors

    def _options(self) -> dict[str, Any]:
        # A blocking pool: more concurrent callers than connections wait (at most one
        # call's bound) for one to come free; a plain pool raised "too many connections",
        # which callers took for an unreachable server.
        return {
            "timeout": self.bound,
            "socket_connect_timeout": self.connect_timeout,
            "socket_timeout": self.socket_timeout,
            "decode_responses": self.decode_responses,
        }

    def sync(self) -> Any:
        """The blocking client."""
        if self._client is None:
            redis = redis_module(self.feature)
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            retry = Retry(NoBackoff(), 0)
            pool = redis.BlockingConnectionPool.from_url(self.url, retry=retry, **self._options())
            self._client = redis.Redis(connection_pool=pool, retry=retry)
            self._client.auto_close_connection_pool = True
        return self._client

    def aclient(self) -> Any:
        """The asyncio client of the running event loop."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a reference, not an id: a dead loop's id can be reused
            redis_module(self.feature)
            import redis.asyncio as aredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            retry = Retry(NoBackoff(), 0)
            pool = aredis.BlockingConnectionPool.from_url(self.url, retry=retry, **self._options())
            self._aclient = aredis.Redis(connection_pool=pool, retry=retry)
            self._aclient.auto_close_connection_pool = True
            self._loop = loop
        return self._aclient

    async def acall(self, make: Callable[[], Awaitable[T]]) -> T:
        """Await ``make()`` within :attr:`bound` seconds (``asyncio.TimeoutError`` past it)."""
        if _asyncio_timeout is not None:
            async with _asyncio_timeout(self.bound):
                return await make()
        return await asyncio.wait_for(make(), self.bound)  # pragma: no cover - Python 3.10

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
