"""Context budgets and spend guardrails (framework-free).

* :class:`ContextBudget` fits a chat request (OpenAI-format dicts) into per-segment token
  budgets by transforming it; :class:`TrimResult` says what was removed.
* :class:`SpendGuard` reserves a call's worst-case cost on :class:`Limit` s before it,
  settles the real cost after, releases on error; in-process or on Redis (Lua, atomic).
* :class:`AlertManager` delivers threshold and anomaly :class:`AlertEvent` s to sinks.

>>> from llm_cost_hooks.budget import ContextBudget, SegmentBudgets
>>> ContextBudget(SegmentBudgets(output=800)).apply([{"role": "user", "content": "hi"}], max_tokens=2000).max_tokens
800
"""

from .._errors import BudgetExceeded
from ._alerts import (
    AlertEvent,
    AlertManager,
    AlertSink,
    AnomalyRule,
    CallbackSink,
    LoggingSink,
    MetricHook,
    SpanEventSink,
    WebhookSink,
)
from ._context import SEGMENTS, ContextBudget, SegmentBudgets, TrimResult, segment_of
from ._guard import Reservation, SpendGuard
from ._limits import Downgrade, DowngradeRequired, Limit, SpendRequest, period_bounds
from ._store import (
    FailoverSpendStore,
    InProcessSpendStore,
    RedisSpendStore,
    ReserveOutcome,
    SpendJournal,
    SpendStore,
    SpendStoreUnavailable,
)

__all__ = [
    "SEGMENTS",
    "AlertEvent",
    "AlertManager",
    "AlertSink",
    "AnomalyRule",
    "BudgetExceeded",
    "CallbackSink",
    "ContextBudget",
    "Downgrade",
    "DowngradeRequired",
    "FailoverSpendStore",
    "InProcessSpendStore",
    "Limit",
    "LoggingSink",
    "MetricHook",
    "RedisSpendStore",
    "Reservation",
    "ReserveOutcome",
    "SegmentBudgets",
    "SpanEventSink",
    "SpendGuard",
    "SpendJournal",
    "SpendRequest",
    "SpendStore",
    "SpendStoreUnavailable",
    "TrimResult",
    "WebhookSink",
    "period_bounds",
    "segment_of",
]
