"""What every adapter (LangChain handler, LiteLLM logger) offers over its tracker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._records import CostRecord
from .ledger import Ledger
from .tracking import CostTracker

__all__ = ["TrackerAdapterMixin"]


class TrackerAdapterMixin:
    """The adapters' shared user API: the ledger, its records, reports and task verdicts."""

    tracker: CostTracker

    @property
    def ledger(self) -> Ledger:
        return self.tracker.ledger

    def records(self) -> list[CostRecord]:
        """All records so far (flushes the ledger first)."""
        self.tracker.flush()
        return list(self.tracker.ledger.records())

    def report(self, by: Sequence[str] | str | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        """Totals grouped by ``by`` (see :class:`~llm_cost_hooks.ledger.LedgerReports`)."""
        rows: list[dict[str, Any]] = self.tracker.ledger.reports().totals(by=by, **kwargs)
        return rows

    def mark_task(self, task_id: Any, *, success: bool, reason: str | None = None) -> None:
        """Record that a task (its root run id, a str or UUID) succeeded or failed."""
        self.tracker.mark_task(str(task_id), success=success, reason=reason)
