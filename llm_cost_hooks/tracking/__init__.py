"""The tracker: runs, tasks, attribution and the records of model calls.

Adapters feed a :class:`CostTracker` run starts and ends; it attributes each model
call, prices it (:mod:`._pricing`) and builds its record (:mod:`._builder`), on the
caller's thread or deferred to the ledger's writer (:mod:`._deferred`), then writes it
to the ledger and tells the :class:`RunObserver` objects.
"""

from __future__ import annotations

from ._runs import Attribution, RunInfo, RunKind, RunObserver, TaskState
from ._tracker import CostTracker

__all__ = ["Attribution", "CostTracker", "RunInfo", "RunKind", "RunObserver", "TaskState"]
