"""Retry budgets: how many attempts and how many dollars a task may spend on retries."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from pydantic import ConfigDict, Field

from .._errors import RetryBudgetExhausted
from .._options import ConfigModel

__all__ = ["RetryBudget", "RetryBudgetExhausted", "RetryState"]


@dataclass
class RetryState:
    """Attempts and retry dollars of one task so far (attempt 1 is not a retry).

    >>> budget = RetryBudget(max_attempts=3)
    >>> state = budget.state("task-1")
    >>> budget.record(state, 0.002)  # first attempt
    >>> budget.record(state, 0.004)  # first retry
    >>> state
    RetryState(task_id='task-1', attempts=2, retry_usd=0.004, first_usd=0.002)
    >>> state.tags()
    {'retry.attempts': '2', 'retry.usd': '0.004000000'}
    """

    task_id: str
    attempts: int = 0
    retry_usd: float = 0.0
    first_usd: float = 0.0

    def tags(self) -> dict[str, str]:
        return {"retry.attempts": str(self.attempts), "retry.usd": f"{self.retry_usd:.9f}"}


class RetryBudget(ConfigModel):
    """At most ``max_attempts`` attempts per task and at most ``max_retry_usd`` dollars
    on attempts after the first (``None``: no dollar cap). States are kept per task id
    (the most recent ``max_tasks``).

    >>> budget = RetryBudget(max_attempts=3, max_retry_usd=0.01)
    >>> state = budget.state("task-1")
    >>> budget.record(state, 0.002)  # first attempt
    >>> budget.record(state, 0.004)  # first retry
    >>> budget.can_retry(state, next_cost_usd=0.009), state.retry_usd
    (False, 0.004)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    max_attempts: int = Field(3, ge=1)
    max_retry_usd: float | None = Field(None, ge=0)
    backoff_seconds: float = Field(0.0, ge=0)
    max_tasks: int = Field(10_000, ge=1)

    def model_post_init(self, __context: object) -> None:
        self._states: OrderedDict[str, RetryState] = OrderedDict()
        self._lock = threading.Lock()

    def state(self, task_id: str) -> RetryState:
        with self._lock:
            state = self._states.get(task_id)
            if state is None:
                state = self._states[task_id] = RetryState(task_id)
                while len(self._states) > self.max_tasks:
                    self._states.popitem(last=False)
            else:
                self._states.move_to_end(task_id)
            return state

    def record(self, state: RetryState, cost_usd: float) -> None:
        """Count one attempt and its cost (a failed attempt's billed input, if any)."""
        with self._lock:
            state.attempts += 1
            if state.attempts > 1:
                state.retry_usd += cost_usd
            else:
                state.first_usd += cost_usd

    def can_retry(self, state: RetryState, next_cost_usd: float = 0.0) -> bool:
        """Whether one more attempt (of at most ``next_cost_usd``) fits the budget."""
        if state.attempts >= self.max_attempts:
            return False
        if self.max_retry_usd is not None and state.attempts >= 1:
            return state.retry_usd + next_cost_usd <= self.max_retry_usd
        return True

    def delay(self, state: RetryState) -> float:
        return float(self.backoff_seconds * 2 ** max(state.attempts - 1, 0))
