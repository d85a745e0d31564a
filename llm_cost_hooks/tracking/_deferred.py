"""Deferred record building: the work a call's end leaves for the ledger's writer.

With a background ledger (and only deferrable observers), a model call's end queues a
:class:`PendingRecord` with :meth:`Ledger.write_deferred`; the writer thread calls it
just before the write: the builder prices the raw call, the record counts in its task,
the observers are told (spans end), and the record goes to the store. A store that
writes rows (SQLite) takes the row straight from the raw call when no observer needs
the record (observers that read rows are told with it). Nothing here
calls the tracker, so the path reads one way: callback, tracker, builder, ledger and
observers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from .._records import CacheStatus, CostRecord, Counts, TokenUsage
from ._builder import RawCall, RecordBuilder
from ._runs import RunInfo, RunObserver, TaskState, notify_end, notify_row, reads_rows

__all__ = ["PendingEnd", "PendingRecord"]

logger = logging.getLogger("llm_cost_hooks")


class PendingRecord(RawCall):
    """A successful model call's raw numbers, priced and recorded on the ledger's writer.
    The tracker fills its fields without ``__init__`` (a frame less per call), after taking
    the only observer's digest (``RunObserver.digests_calls``)."""

    __slots__ = ("builder", "finished", "observers", "outputs", "task")

    def __init__(
        self,
        builder: RecordBuilder,
        task: TaskState | None,
        finished: TaskState | None,
        observers: Sequence[RunObserver],
        outputs: Any,
        run: RunInfo,
        usage: TokenUsage | Counts,
        model: str,
        end_ns: int,
        cache_status: CacheStatus,
        saved_usd: float | None,
        batch: bool,
        billed_usd: float | None,
        tokens_estimated: bool,
    ) -> None:
        # RawCall's fields set here: one call frame less per model call.
        self.run, self.usage, self.model, self.end_ns = run, usage, model, end_ns
        self.cache_status, self.saved_usd, self.batch = cache_status, saved_usd, batch
        self.billed_usd, self.tokens_estimated, self.error_type = billed_usd, tokens_estimated, None
        self.builder = builder
        self.task = task
        self.finished = finished  # the task, when this run was its root
        self.observers = observers
        self.outputs = outputs

    def __call__(self) -> CostRecord:
        record = self.builder.build(self)
        if self.task is not None:
            self.task.add(record)
        if self.observers:
            notify_end(self.observers, self.run, record, None, self.finished, self.outputs)
        self.outputs = None
        return record

    def ledger_row(self) -> tuple[Any, ...] | CostRecord:
        """For a ledger that stores rows: the call's row, built without a record object
        when no observer needs the record (none, or all read rows: they are told with the
        row), else with it, priced once, observers told."""
        observers = self.observers
        if not observers:
            return self.builder._row(self, self.task, False)[0]
        if len(observers) == 1 and getattr(observers[0], "reads_rows", False):
            # The usual single observer reading rows: told here, no notify_row frame and loop.
            obs = observers[0]
            row = self.builder._row(self, self.task, False)[0]
            try:
                obs.on_model_row(self.run, row=row, task=self.finished, outputs=self.outputs)
            except Exception:
                logger.exception("llm-cost-hooks observer %r failed on run end", obs)
            self.outputs = None
            return row
        if reads_rows(observers):
            row = self.builder._row(self, self.task, False)[0]
            notify_row(observers, self.run, row, self.finished, self.outputs)
        else:
            row, record = self.builder.row_and_record(self, self.task)
            notify_end(observers, self.run, record, None, self.finished, self.outputs)
        self.outputs = None
        return row


class PendingEnd:
    """A non-model run's end, told to deferrable observers on the ledger's writer."""

    __slots__ = ("error", "observers", "outputs", "run", "task")

    def __init__(
        self,
        observers: Sequence[RunObserver],
        run: RunInfo,
        error: BaseException | None,
        task: TaskState | None,
        outputs: Any,
    ) -> None:
        self.observers, self.run, self.error, self.task, self.outputs = observers, run, error, task, outputs

    def __call__(self) -> None:
        notify_end(self.observers, self.run, None, self.error, self.task, self.outputs)
