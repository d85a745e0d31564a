"""Circuit breakers per model: a dead tier is skipped instead of retried on every request."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .._breaker import Breaker, BreakerState
from .._errors import CircuitOpenError
from .._options import check_number

__all__ = ["BreakerState", "CircuitBreaker", "CircuitOpenError"]

logger = logging.getLogger("llm_cost_hooks.dedup")


class CircuitBreaker:
    """Per-model breaker: ``failure_threshold`` failures within ``window_seconds`` open it;
    after ``reset_seconds`` it lets ``half_open_probes`` calls through (half-open); a
    probe's success closes it, a failure opens it again. State is per process; each model
    has its own :class:`~llm_cost_hooks._breaker.Breaker` (:meth:`circuit`).

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
        # Validates the settings once, at construction.
        check_number(
            "CircuitBreaker",
            "window_seconds",
            window_seconds,
            above=0,
            hint="seconds in which failures count, e.g. 60",
        )
        check_number(
            "CircuitBreaker",
            "reset_seconds",
            reset_seconds,
            at_least=0,
            hint="seconds open before a probe, e.g. 30",
        )
        Breaker(failure_threshold=failure_threshold, half_open_probes=half_open_probes)
        self.failure_threshold = failure_threshold
        self.window_seconds = window_seconds
        self.reset_seconds = reset_seconds
        self.half_open_probes = half_open_probes
        self.clock = clock
        self._circuits: dict[str, Breaker] = {}
        self._lock = threading.Lock()

    def circuit(self, model: str) -> Breaker:
        """The breaker of ``model`` (created closed on first use)."""
        circuit = self._circuits.get(model)
        if circuit is None:
            with self._lock:
                circuit = self._circuits.get(model)
                if circuit is None:
                    circuit = self._circuits[model] = Breaker(
                        failure_threshold=self.failure_threshold,
                        window_seconds=self.window_seconds,
                        reset_seconds=self.reset_seconds,
                        half_open_probes=self.half_open_probes,
                        clock=self.clock,
                    )
        return circuit

    def state(self, model: str) -> BreakerState:
        return self.circuit(model).state

    def allow(self, model: str) -> bool:
        """Whether a call to ``model`` may go ahead now (takes a probe slot when half-open)."""
        return self.circuit(model).allow()

    def check(self, model: str) -> BreakerState:
        """Raise :class:`CircuitOpenError` unless a call may go ahead; returns the state."""
        circuit = self.circuit(model)
        if not circuit.allow():
            raise CircuitOpenError(model, circuit.retry_in())
        return circuit.state

    def release_probe(self, model: str) -> None:
        """Give back a half-open probe slot taken by :meth:`check` for a call that was
        then not made (refused for another reason), so the circuit can still be probed."""
        self.circuit(model).release_probe()

    def record_success(self, model: str) -> None:
        if self.circuit(model).record_success():
            logger.info("llm-cost-hooks: circuit for model %r closed: a probe call succeeded.", model)

    def record_failure(self, model: str) -> None:
        # One line per change of state: opened (WARNING), a failed probe (INFO, once per
        # reset_seconds while the model stays down), closed again (INFO: good news).
        circuit = self.circuit(model)
        was_probe = circuit.state is BreakerState.HALF_OPEN
        if circuit.record_failure():
            logger.warning(
                "llm-cost-hooks: circuit for model %r opened after %d failures within %gs; "
                "calls to it raise CircuitOpenError for %gs, then a probe call is let through.",
                model,
                self.failure_threshold,
                self.window_seconds,
                self.reset_seconds,
            )
        elif was_probe:
            logger.info(
                "llm-cost-hooks: circuit for model %r: the probe call failed; open again for %gs.",
                model,
                self.reset_seconds,
            )
