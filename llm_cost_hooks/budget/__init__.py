"""Context budgets and spend guardrails (framework-free).

* :class:`ContextBudget` fits a chat request (OpenAI-format dicts) into per-segment token
  budgets by transforming it, keeping the facts of dropped user turns
  (:func:`extract_facts`); :class:`TrimResult` says what was dropped and kept.
* :class:`SpendGuard` reserves a call's worst-case cost on :class:`Limit` s before it,
  settles the real cost after, releases on error; in-process or on Redis (Lua, atomic).
* :class:`AlertManager` delivers threshold, refused and anomaly :class:`AlertEvent` s to sinks.

>>> from llm_cost_hooks.budget import ContextBudget, SegmentBudgets
>>> ContextBudget(SegmentBudgets(output=800)).apply([{"role": "user", "content": "hi"}], max_tokens=2000).max_tokens
800
"""

from .._errors import BudgetExceeded, DowngradeRequired, SpendStoreUnavailable
from ._alerts import (
    AlertEvent,
    AlertKind,
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
from ._facts import Fact, extract_facts, fact_clauses
from ._guard import Reservation, SpendGuard
from ._limits import Downgrade, Limit, SpendRequest
from ._store import (
    FailoverSpendStore,
    InProcessSpendStore,
    RedisSpendStore,
    ReserveOutcome,
    SpendJournal,
    SpendStore,
)

__all__ = [
    "SEGMENTS",
    "AlertEvent",
    "AlertKind",
    "AlertManager",
    "AlertSink",
    "AnomalyRule",
    "BudgetExceeded",
    "CallbackSink",
    "ContextBudget",
    "Downgrade",
    "DowngradeRequired",
    "Fact",
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
    "extract_facts",
    "fact_clauses",
    "segment_of",
]
