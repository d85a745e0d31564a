"""Circuit breakers per model: a dead tier is skipped instead of retried on every request."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from .._errors import CircuitOpenError

__all__ = ["BreakerState", "CircuitBreaker", "CircuitOpenError"]


class BreakerState(str, Enum):
    """State of a circuit breaker: closed (calls pass), open (skipped), half-open (probing)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class _Circuit:
    state: BreakerState = BreakerState.CLOSED
    failures: deque[float] = field(default_factory=deque)
    opened_at: float = 0.0
    probes: int = 0


class CircuitBreaker:
    """Per-model breaker: ``failure_threshold`` failures within ``window_seconds`` open it;
    after ``reset_seconds`` it lets ``half_open_probes`` calls through (half-open); a
    probe's success closes it, a failure opens it again. State is per process.

    >>> breaker = CircuitBreaker(failure_threshold=2, window_seconds=60, reset_seconds=10, clock=lambda: 0.0)
    >>> breaker.record_failure("gpt-4o"); breaker.record_failure("gpt-4o")
    >>> breaker.state("gpt-4o").value, breaker.allow("gpt-4o")
    ('open', False)
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        window_seconds: float = 60.0,
        reset_seconds: float = 30.0,
        half_open_probes: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or half_open_probes < 1:
            from .._errors import ConfigurationError

            raise ConfigurationError("failure_threshold and half_open_probes must be at least 1.")
        self.failure_threshold = failure_threshold
        self.window_seconds = window_seconds
        self.reset_seconds = reset_seconds
        self.half_open_probes = half_open_probes
        self.clock = clock
        self._circuits: dict[str, _Circuit] = {}
        self._lock = threading.Lock()

    def _get(self, model: str) -> _Circuit:
        circuit = self._circuits.get(model)
        if circuit is None:
            circuit = self._circuits[model] = _Circuit()
        return circuit

    def state(self, model: str) -> BreakerState:
        with self._lock:
            circuit = self._get(model)
            if circuit.state is BreakerState.OPEN and self.clock() - circuit.opened_at >= self.reset_seconds:
                circuit.state, circuit.probes = BreakerState.HALF_OPEN, 0
            return circuit.state

    def allow(self, model: str) -> bool:
        """Whether a call to ``model`` may go ahead now (takes a probe slot when half-open)."""
        state = self.state(model)
        with self._lock:
            circuit = self._get(model)
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.HALF_OPEN and circuit.probes < self.half_open_probes:
                circuit.probes += 1
                return True
            return False

    def check(self, model: str) -> BreakerState:
        """Raise :class:`CircuitOpenError` unless a call may go ahead; returns the state."""
        if not self.allow(model):
            with self._lock:
                circuit = self._get(model)
                retry_in = self.reset_seconds - (self.clock() - circuit.opened_at)
            raise CircuitOpenError(model, retry_in)
        return self.state(model)

    def release_probe(self, model: str) -> None:
        """Give back a half-open probe slot taken by :meth:`check` for a call that was
        then not made (refused for another reason), so the circuit can still be probed."""
        with self._lock:
            circuit = self._get(model)
            if circuit.state is BreakerState.HALF_OPEN and circuit.probes > 0:
                circuit.probes -= 1

    def record_success(self, model: str) -> None:
        with self._lock:
            circuit = self._get(model)
            circuit.state, circuit.probes = BreakerState.CLOSED, 0
            circuit.failures.clear()

    def record_failure(self, model: str) -> None:
        now = self.clock()
        with self._lock:
            circuit = self._get(model)
            if circuit.state is BreakerState.HALF_OPEN:
                circuit.state, circuit.opened_at = BreakerState.OPEN, now
                return
            circuit.failures.append(now)
            while circuit.failures and now - circuit.failures[0] > self.window_seconds:
                circuit.failures.popleft()
            if len(circuit.failures) >= self.failure_threshold:
                circuit.state, circuit.opened_at = BreakerState.OPEN, now
                circuit.failures.clear()
