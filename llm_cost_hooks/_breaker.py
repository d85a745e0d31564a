"""The circuit breaker every part of the package uses (cache backend, shared spend store,
cross-process single-flight, per-model breakers): framework-free and thread-safe.

A closed breaker is checked with one attribute read, so it can sit on every call's path.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from enum import Enum

__all__ = ["Breaker", "BreakerState"]


class BreakerState(str, Enum):
    """State of a circuit breaker: closed (calls pass), open (skipped), half-open (probing).

    >>> from llm_cost_hooks import CircuitBreaker
    >>> breaker = CircuitBreaker(failure_threshold=1, reset_seconds=10, clock=lambda: 0.0)
    >>> breaker.state("gpt-4o") is BreakerState.CLOSED
    True
    >>> breaker.record_failure("gpt-4o")
    >>> breaker.state("gpt-4o")
    <BreakerState.OPEN: 'open'>
    """

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breaker:
    """One circuit: ``failure_threshold`` failures within ``window_seconds`` (a success
    clears them) open it; after ``reset_seconds`` it lets ``half_open_probes`` calls through;
    a probe's success closes it, a failure opens it again. A probe that reports neither
    within ``reset_seconds`` (its caller was cancelled) is presumed lost and another is let
    through, so a breaker can never stay half-open for good.

    ``opens`` counts how many times it opened (for tests and metrics).

    >>> now = [0.0]
    >>> b = Breaker(failure_threshold=2, reset_seconds=10, clock=lambda: now[0])
    >>> b.record_failure(), b.record_failure(), b.allow()
    (False, True, False)
    >>> now[0] = 10; b.state.value, b.allow(), b.allow()
    ('half_open', True, False)
    >>> b.record_success(), b.state.value
    (True, 'closed')
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        window_seconds: float = float("inf"),
        reset_seconds: float = 30.0,
        half_open_probes: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or half_open_probes < 1:
            from ._errors import ConfigurationError

            raise ConfigurationError("failure_threshold and half_open_probes must be at least 1.")
        from ._options import check_number

        check_number(
            "Breaker", "window_seconds", window_seconds, above=0, hint="seconds in which failures count"
        )
        check_number(
            "Breaker", "reset_seconds", reset_seconds, at_least=0, hint="seconds open before a probe"
        )
        self.failure_threshold = failure_threshold
        self.window_seconds = window_seconds
        self.reset_seconds = reset_seconds
        self.half_open_probes = half_open_probes
        self.clock = clock
        self.opens = 0
        # None while closed: the hot-path check reads only this.
        self._opened_at: float | None = None
        self._failures: deque[float] = deque()
        self._probes = 0
        self._probe_at = 0.0
        self._lock = threading.Lock()

    @property
    def state(self) -> BreakerState:
        opened_at = self._opened_at
        if opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - opened_at < self.reset_seconds:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    @property
    def is_closed(self) -> bool:
        return self._opened_at is None

    def retry_in(self) -> float:
        """Seconds until a probe is allowed (0 when closed or half-open)."""
        opened_at = self._opened_at
        if opened_at is None:
            return 0.0
        return max(self.reset_seconds - (self.clock() - opened_at), 0.0)

    def allow(self) -> bool:
        """Whether a call may go ahead now (takes a probe slot when half-open)."""
        if self._opened_at is None:
            return True
        now = self.clock()
        with self._lock:
            opened_at = self._opened_at
            if opened_at is None:
                return True
            if now - opened_at < self.reset_seconds:
                return False
            if self._probes >= self.half_open_probes:
                if now - self._probe_at < self.reset_seconds:
                    return False
                self._probes = 0  # the probes never reported: presumed lost
            self._probes += 1
            self._probe_at = now
            return True

    def release_probe(self) -> None:
        """Give back a probe slot taken by :meth:`allow` for a call that was then not made."""
        with self._lock:
            if self._probes > 0:
                self._probes -= 1

    def record_success(self) -> bool:
        """The protected call worked: close. True if this closed an open circuit."""
        if self._opened_at is None and not self._failures:
            return False
        with self._lock:
            was_open = self._opened_at is not None
            self._opened_at = None
            self._failures.clear()
            self._probes = 0
            return was_open

    def record_failure(self) -> bool:
        """The protected call failed. True if this opened a closed circuit."""
        now = self.clock()
        with self._lock:
            opened_at = self._opened_at
            if opened_at is not None:
                if now - opened_at >= self.reset_seconds:  # a probe failed: open again
                    self._opened_at, self._probes = now, 0
                return False
            failures = self._failures
            failures.append(now)
            while failures and now - failures[0] > self.window_seconds:
                failures.popleft()
            if len(failures) < self.failure_threshold:
                return False
            self._opened_at, self._probes = now, 0
            failures.clear()
            self.opens += 1
            return True
