"""Dedup, retry budgets and circuit breakers (framework-free).

* :func:`idempotency_key` / :func:`request_key`: explicit key from metadata or derived
  from the exact request.
* :class:`SingleFlight` (in-process) and :class:`RedisSingleFlight` (across processes):
  concurrent identical requests share one upstream call; finished results are served
  again for a TTL.
* :class:`RetryBudget`: max attempts and max dollars on retries per task.
* :class:`CircuitBreaker`: per-model open / half-open / closed.
"""

from .._errors import CircuitOpenError, DeduplicatedCallFailed, RetryBudgetExhausted
from ._breaker import BreakerState, CircuitBreaker
from ._keys import IDEMPOTENCY_KEY, idempotency_key, request_key
from ._retry import RetryBudget, RetryState
from ._singleflight import Flight, RedisSingleFlight, SingleFlight

__all__ = [
    "IDEMPOTENCY_KEY",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
    "DeduplicatedCallFailed",
    "Flight",
    "RedisSingleFlight",
    "RetryBudget",
    "RetryBudgetExhausted",
    "RetryState",
    "SingleFlight",
    "idempotency_key",
    "request_key",
]
