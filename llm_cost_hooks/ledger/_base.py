"""Ledger interface, the background writer, and the record <-> row mapping."""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .._records import CacheStatus, CostBreakdown, CostRecord

__all__ = ["Ledger", "LedgerStats", "TaskOutcome"]

logger = logging.getLogger("llm_cost_hooks.ledger")


class TaskOutcome(BaseModel):
    """How a task (a root run) ended, as seen by the tracker or marked by the user."""

    model_config = ConfigDict(extra="forbid")

    task_id: str
    success: bool
    source: str = Field(
        default="run", description="'run' (the root run ended) or 'user' (marked via API)."
    )
    reason: str | None = None
    timestamp: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


class LedgerStats(BaseModel):
    """Counters of a ledger's writer. ``dropped`` stays 0 unless the buffer overflowed."""

    written: int = 0
    pending: int = 0
    dropped: int = 0
    write_failures: int = 0
    last_error: str | None = None


RECORD_COLUMNS: tuple[str, ...] = (
    "request_id",
    "task_id",
    "parent_id",
    "timestamp",
    "tenant",
    "user",
    "feature",
    "route",
    "prompt_version",
    "provider",
    "model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "cost_input",
    "cost_cache_read",
    "cost_cache_write",
    "cost_output",
    "cost_reasoning",
    "currency",
    "saved_usd",
    "cache_status",
    "latency_ms",
    "success",
    "error_type",
    "attempt",
    "tags",
    "tokens_estimated",
    "price_estimated",
)


def record_to_row(r: CostRecord) -> tuple[Any, ...]:
    b = r.cost_breakdown
    return (
        r.request_id,
        r.task_id,
        r.parent_id,
        r.timestamp.astimezone(timezone.utc).isoformat(),
        r.tenant,
        r.user,
        r.feature,
        r.route,
        r.prompt_version,
        r.provider,
        r.model,
        r.input_tokens,
        r.output_tokens,
        r.cache_read_tokens,
        r.cache_write_tokens,
        r.reasoning_tokens,
        r.cost_usd,
        b.input,
        b.cache_read,
        b.cache_write,
        b.output,
        b.reasoning,
        b.currency,
        r.saved_usd,
        r.cache_status.value if isinstance(r.cache_status, CacheStatus) else str(r.cache_status),
        r.latency_ms,
        1 if r.success else 0,
        r.error_type,
        r.attempt,
        json.dumps(r.tags, sort_keys=True) if r.tags else None,
        1 if r.tokens_estimated else 0,
        1 if r.price_estimated else 0,
    )


def row_to_record(row: Sequence[Any]) -> CostRecord:
    d = dict(zip(RECORD_COLUMNS, row))
    return CostRecord(
        request_id=d["request_id"],
        task_id=d["task_id"],
        parent_id=d["parent_id"],
        timestamp=datetime.fromisoformat(d["timestamp"]),
        tenant=d["tenant"],
        user=d["user"],
        feature=d["feature"],
        route=d["route"],
        prompt_version=d["prompt_version"],
        provider=d["provider"],
        model=d["model"],
        input_tokens=d["input_tokens"],
        output_tokens=d["output_tokens"],
        cache_read_tokens=d["cache_read_tokens"],
        cache_write_tokens=d["cache_write_tokens"],
        reasoning_tokens=d["reasoning_tokens"],
        cost_usd=d["cost_usd"],
        cost_breakdown=CostBreakdown(
            input=d["cost_input"],
            cache_read=d["cost_cache_read"],
            cache_write=d["cost_cache_write"],
            output=d["cost_output"],
            reasoning=d["cost_reasoning"],
            currency=d["currency"] or "USD",
        ),
        saved_usd=d["saved_usd"],
        cache_status=CacheStatus(d["cache_status"]),
        latency_ms=d["latency_ms"],
        success=bool(d["success"]),
        error_type=d["error_type"],
        attempt=d["attempt"],
        tags=json.loads(d["tags"]) if d["tags"] else {},
        tokens_estimated=bool(d["tokens_estimated"]),
        price_estimated=bool(d["price_estimated"]),
    )


class Ledger(ABC):
    """Where cost records go. ``write`` never blocks on I/O and never raises.

    Subclasses implement :meth:`_write_batch`; a background thread calls it with
    batches of records and task outcomes. A failed batch is kept and retried with
    back-off; only when the bounded buffer is full are new records dropped (counted in
    :attr:`stats`).
    """

    def __init__(
        self,
        *,
        max_buffer: int = 100_000,
        flush_interval: float = 0.05,
        batch_size: int = 5_000,
        background: bool = True,
    ) -> None:
        self._max_buffer = max_buffer
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        # Records queued before the writer is woken early (it wakes every flush_interval anyway).
        self._wake_at = max(1, min(batch_size // 4, 256))
        # CostRecords, and builders of deferred ones (see write_deferred).
        self._buffer: list[Any] = []
        self._outcomes: list[TaskOutcome] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._stats = LedgerStats()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._background = background
        if background:
            self._thread = threading.Thread(
                target=self._run, name=f"llm-cost-hooks-{type(self).__name__}", daemon=True
            )
            self._thread.start()
            ref = weakref.ref(self)
            atexit.register(_close_ref, ref)

    # -- request path ----------------------------------------------------------------
    def write(self, record: CostRecord) -> None:
        """Queue a record. Cheap; never raises, never does I/O on the caller's thread."""
        buffer = self._buffer
        with self._lock:
            if len(buffer) >= self._max_buffer:
                self._stats.dropped += 1
                return
            buffer.append(record)
        if not self._background:
            self._drain_once()
        elif len(buffer) >= self._wake_at and not self._wake.is_set():
            # The writer also wakes every ``flush_interval`` on its own: waking it per
            # record made it write one-record transactions and take the GIL from the
            # caller once per model call.
            self._wake.set()

    @property
    def defers_writes(self) -> bool:
        """Whether :meth:`write_deferred` builds records on the background writer (a
        background ledger whose ``write`` is not overridden)."""
        return self._background and type(self).write is Ledger.write

    def write_deferred(self, build: Callable[[], CostRecord]) -> None:
        """Queue a record that ``build()`` makes on the writer thread, just before it is
        written (a tracker defers pricing off the caller's thread this way). Without a
        background writer it is built here. Never raises."""
        if not self.defers_writes:
            try:
                record = build()
            except Exception:  # noqa: BLE001 - a builder bug must not break the caller
                logger.exception("llm-cost-hooks: building a cost record failed; record lost")
                with self._lock:
                    self._stats.dropped += 1
                return
            self.write(record)
            return
        self.write(build)  # type: ignore[arg-type] - built in _drain_once

    def run_deferred(self, fn: Callable[[], None]) -> None:
        """Run ``fn()`` on the writer thread, after everything queued before it (a
        tracker tells deferrable observers that a run ended this way). Runs it here when
        there is no background writer or the buffer is full. Never raises."""
        if self.defers_writes:
            with self._lock:
                if len(self._buffer) < self._max_buffer:
                    self._buffer.append(_Task(fn))
                    return
        try:
            fn()
        except Exception:  # noqa: BLE001
            logger.exception("llm-cost-hooks: a deferred observer call failed")

    def _materialize(self, records: list[Any]) -> list[CostRecord]:
        """Build the deferred records of a batch (on the writer thread)."""
        out: list[CostRecord] = []
        for r in records:
            if not isinstance(r, CostRecord):
                if type(r) is _Task:
                    try:
                        r.fn()
                    except Exception:  # noqa: BLE001 - never kills the writer
                        logger.exception("llm-cost-hooks: a deferred observer call failed")
                    continue
                try:
                    r = r()
                except Exception:  # noqa: BLE001 - counted, never kills the writer
                    logger.exception("llm-cost-hooks: building a cost record failed; record lost")
                    with self._lock:
                        self._stats.dropped += 1
                    continue
            out.append(r)
        return out

    def write_task(self, outcome: TaskOutcome) -> None:
        """Queue a task outcome (root run ended, or marked by the user)."""
        with self._lock:
            if len(self._outcomes) >= self._max_buffer:
                self._stats.dropped += 1
                return
            self._outcomes.append(outcome)
        if not self._background:
            self._drain_once()
        elif len(self._outcomes) >= self._wake_at and not self._wake.is_set():
            self._wake.set()

    @property
    def stats(self) -> LedgerStats:
        with self._lock:
            s = self._stats.model_copy()
            s.pending = len(self._buffer) + len(self._outcomes) + self._in_flight
        return s

    @property
    def dropped(self) -> int:
        """Records lost because the buffer was full (0 in a healthy system)."""
        return self._stats.dropped

    # -- writer ------------------------------------------------------------------------
    @abstractmethod
    def _write_batch(self, records: Sequence[CostRecord], outcomes: Sequence[TaskOutcome]) -> None:
        """Persist a batch; raise on failure (the batch is retried)."""

    def _drain_once(self) -> bool:
        """Write one batch. Returns False when a write failed."""
        with self._lock:
            records = self._buffer[: self._batch_size]
            del self._buffer[: self._batch_size]
            outcomes = self._outcomes[: self._batch_size]
            del self._outcomes[: self._batch_size]
            self._in_flight = len(records) + len(outcomes)
        if not records and not outcomes:
            return True
        # Deferred records are built here, once: a failed batch goes back built.
        records = self._materialize(records)
        try:
            self._write_batch(records, outcomes)
        except Exception as exc:  # noqa: BLE001 - any storage failure is retried
            with self._lock:
                # Put the batch back in front; the newest records are the ones dropped
                # if the buffer overflows meanwhile.
                self._buffer[:0] = records
                self._outcomes[:0] = outcomes
                overflow = len(self._buffer) - self._max_buffer
                if overflow > 0:
                    del self._buffer[-overflow:]
                    self._stats.dropped += overflow
                self._in_flight = 0
                self._stats.write_failures += 1
                self._stats.last_error = f"{type(exc).__name__}: {exc}"
                self._idle.notify_all()
            if self._stats.write_failures in (1, 10, 100) or self._stats.write_failures % 1000 == 0:
                logger.warning(
                    "llm-cost-hooks ledger write failed (%s); %d records kept for retry",
                    exc,
                    len(records),
                )
            return False
        with self._lock:
            self._stats.written += len(records)
            self._in_flight = 0
            self._idle.notify_all()
        return True

    def _run(self) -> None:
        backoff = self._flush_interval
        while True:
            self._wake.wait(timeout=backoff)
            self._wake.clear()
            closing = self._closed
            ok = True
            while ok:
                with self._lock:
                    has_work = bool(self._buffer or self._outcomes)
                if not has_work:
                    break
                ok = self._drain_once()
            backoff = self._flush_interval if ok else min(max(backoff * 2, 0.05), 5.0)
            if closing:
                return

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written. Returns False on timeout."""
        if not self._background:
            while True:
                with self._lock:
                    if not (self._buffer or self._outcomes):
                        return True
                if not self._drain_once():
                    return False
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._lock:
            while self._buffer or self._outcomes or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wake.set()
                self._idle.wait(timeout=min(remaining, 0.05))
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Flush and stop the writer thread. Safe to call twice."""
        if self._closed:
            return
        self.flush(timeout)
        self._closed = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._close_storage()

    def _close_storage(self) -> None:  # noqa: B027 - optional hook
        """Release files or connections."""

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------
    @abstractmethod
    def records(self) -> Iterable[CostRecord]:
        """All records written so far (flush first to include queued ones)."""

    @abstractmethod
    def task_outcomes(self) -> Iterable[TaskOutcome]:
        """All task outcomes written so far."""

    def reports(self) -> Any:
        """A :class:`~llm_cost_hooks.ledger.LedgerReports` over this ledger's data."""
        from ._reports import LedgerReports

        self.flush()
        return LedgerReports.from_ledger(self)


class _Task:
    """A call queued among the records that makes no record (see Ledger.run_deferred)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn


def _close_ref(ref: weakref.ReferenceType[Ledger]) -> None:
    ledger = ref()
    if ledger is not None:
        try:
            ledger.close(timeout=5.0)
        except Exception:  # noqa: BLE001 - never fail interpreter exit
            logger.exception("llm-cost-hooks ledger failed to flush at exit")
