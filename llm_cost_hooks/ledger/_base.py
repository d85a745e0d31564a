"""Ledger interface, the background writer, and the record <-> row mapping."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import tempfile
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

try:
    import fcntl
except ImportError:  # Windows: no advisory locks
    fcntl = None  # type: ignore[assignment]

from .. import _shutdown
from .._errors import ConfigurationError, LedgerError
from .._records import CacheStatus, CostBreakdown, CostRecord, utc_isoformat
from . import _killcount

__all__ = ["Ledger", "LedgerStats", "TaskOutcome", "replay_dead_letters"]

logger = logging.getLogger("llm_cost_hooks.ledger")


class TaskOutcome(BaseModel):
    """How a task (a root run) ended, as seen by the tracker or marked by the user.

    >>> from llm_cost_hooks import CostTracker, MemoryLedger
    >>> ledger = MemoryLedger()
    >>> CostTracker(ledger=ledger).mark_task("ticket-42", success=False, reason="escalated")
    >>> [(o.task_id, o.success, o.source, o.reason) for o in ledger.task_outcomes()]
    [('ticket-42', False, 'user', 'escalated')]
    """

    model_config = ConfigDict(extra="forbid")

    task_id: str
    success: bool
    source: str = Field(default="run", description="'run' (the root run ended) or 'user' (marked via API).")
    reason: str | None = None
    timestamp: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


class LedgerStats(BaseModel):
    """Counters of a ledger's writer. Every record queued is ``written``, one of the
    ``duplicates`` (the store held it already and skipped it, as PostgreSQL does: a
    replayed dead-letter file, a batch retried after a lost commit; nothing added),
    ``pending``, ``dead_lettered`` (set aside in the file at ``dead_letter_path``: records
    the store rejected, records still queued at exit, records that arrived while the queue
    was full) or ``dropped`` (lost; logged as an error; 0 unless the dead-letter file could
    not be written either). The ``*_outcomes`` counters are the same for task outcomes
    (``duplicate_outcomes``: task outcomes the store held already and skipped).

    ``unwritten`` is about other processes: the records that processes killed outright
    (SIGKILL, the OOM killer, ``os._exit()``) had accepted and never written or set aside,
    found in their counts when this ledger started (see ``docs/reliability.md``).

    >>> from llm_cost_hooks import CostRecord, MemoryLedger
    >>> ledger = MemoryLedger()
    >>> ledger.write(CostRecord(model="gpt-4o-mini", cost_usd=0.0002))
    >>> stats = ledger.stats
    >>> stats.written, stats.pending, stats.dead_lettered, stats.dropped
    (1, 0, 0, 0)
    """

    written: int = 0
    duplicates: int = 0
    pending: int = 0
    dead_lettered: int = 0
    dropped: int = 0
    dead_lettered_outcomes: int = 0
    dropped_outcomes: int = 0
    duplicate_outcomes: int = 0
    write_failures: int = 0
    last_error: str | None = None
    dead_letter_path: str | None = None
    unwritten: int = 0


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


_UTC = timezone.utc

#: A store call running this long when the queue fills is named as the cause.
_SLOW_STORE_SECONDS = 5.0


def record_to_row(r: CostRecord) -> tuple[Any, ...]:
    """A record as a row of ``RECORD_COLUMNS`` values (the write path of every store).

    Reads the fields from the model's ``__dict__`` once (an attribute read of a pydantic
    model goes through its descriptor machinery): a third of the per-record CPU of the
    SQLite writer was this conversion."""
    v = r.__dict__
    b = v["cost_breakdown"].__dict__
    ts = v["timestamp"]
    if ts.tzinfo is not _UTC:
        ts = ts.astimezone(_UTC)
    status = v["cache_status"]
    tags = v["tags"]
    return (
        v["request_id"],
        v["task_id"],
        v["parent_id"],
        utc_isoformat(ts),
        v["tenant"],
        v["user"],
        v["feature"],
        v["route"],
        v["prompt_version"],
        v["provider"],
        v["model"],
        v["input_tokens"],
        v["output_tokens"],
        v["cache_read_tokens"],
        v["cache_write_tokens"],
        v["reasoning_tokens"],
        v["cost_usd"],
        b["input"],
        b["cache_read"],
        b["cache_write"],
        b["output"],
        b["reasoning"],
        b["currency"],
        v["saved_usd"],
        # _value_: the member's value without the enum's property machinery (~0.3 us)
        status._value_ if type(status) is CacheStatus else str(status),
        v["latency_ms"],
        1 if v["success"] else 0,
        v["error_type"],
        v["attempt"],
        json.dumps(tags, sort_keys=True) if tags else None,
        1 if v["tokens_estimated"] else 0,
        1 if v["price_estimated"] else 0,
    )


def outcome_to_row(o: TaskOutcome) -> tuple[object, ...]:
    """A task outcome as a ``(task_id, success, source, reason, timestamp)`` row of any store.

    The time in UTC, as records keep theirs: SQLite compares it as text (the latest user mark
    wins, the outcome key skips copies), so an offset of +01:00 would sort it wrongly."""
    ts = o.timestamp
    return (o.task_id, 1 if o.success else 0, o.source, o.reason, utc_isoformat(ts.astimezone(_UTC)))


def rows_to_outcomes(rows: Iterable[Sequence[Any]]) -> list[TaskOutcome]:
    """Task outcomes from ``(task_id, success, source, reason, timestamp)`` rows of any store."""
    return [
        TaskOutcome(task_id=t, success=bool(s), source=src, reason=r, timestamp=ts)
        for t, s, src, r, ts in rows
    ]


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

    Subclasses implement :meth:`_write_batch`; a background thread calls it with batches
    of records and task outcomes. Every record queued ends up written, set aside in the
    dead-letter file (a JSON line per record, beside the ledger; see
    :func:`replay_dead_letters`), or counted as ``dropped`` and logged as an error:

    - a batch the store rejects because of a value in it (:meth:`_is_record_error`) is
      split until only the records it rejects are left; those are set aside;
    - any other failure (disk full, file read-only, database locked or corrupt) keeps the
      batch and retries it with exponential back-off;
    - a record that arrives while the queue holds ``max_buffer`` records is set aside at
      once, on the caller's thread;
    - at exit (or :meth:`close`) the writer has until ``LLM_COST_HOOKS_EXIT_TIMEOUT``
      (5 s by default); what is still queued then is set aside;
    - after ``os.fork()`` the child gets its own writer thread and storage connection.

    A store of your own (here one that prints) implements three methods:

    >>> from llm_cost_hooks import CostRecord
    >>> class PrintLedger(Ledger):
    ...     def _write_batch(self, records, outcomes):
    ...         for record in records:
    ...             print("wrote", record.model, record.tenant, record.cost_usd)
    ...         return None  # None: no record was skipped as already stored
    ...     def records(self):
    ...         return []
    ...     def task_outcomes(self):
    ...         return []
    >>> with PrintLedger() as ledger:
    ...     ledger.write(CostRecord(model="gpt-4o-mini", tenant="acme", cost_usd=0.0002))
    ...     ledger.flush()
    wrote gpt-4o-mini acme 0.0002
    True
    >>> ledger.stats.written
    1
    """

    #: Whether ``_write_batch`` also takes rows (tuples of ``RECORD_COLUMNS`` values, as
    #: :func:`record_to_row` makes) among the records: deferred calls are then written
    #: without building a record object.
    _writes_rows = False

    #: Back-off of a failing store: the first retry after this many seconds, doubling.
    retry_initial = 0.1
    retry_max = 2.0

    def __init__(
        self,
        *,
        max_buffer: int = 100_000,
        flush_interval: float = 0.25,
        batch_size: int = 5_000,
        background: bool = True,
        dead_letter: str | os.PathLike[str] | None = None,
    ) -> None:
        self._max_buffer = max_buffer
        # A wake-up of the writer while the caller runs costs far more than its
        # instructions (a ~50-row SQLite batch: 14 us a row there, 5 us alone): waking every
        # 0.25 s (or at _wake_at queued) rather than 0.05 s cut ~14 us of process CPU per
        # LangChain call. Records reach the file up to that much later; flush() and exit
        # still write everything.
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        # Records queued before the writer is woken early (it wakes every flush_interval anyway).
        self._wake_at = max(1, min(batch_size // 4, 256))
        # A ledger without a file (PostgreSQL) keeps its counts, and by default its
        # dead-letter file, in a per-user state directory of its own (see _killcount).
        self._state_dir = None if isinstance(getattr(self, "path", None), Path) else self._ledger_state_dir()
        self.dead_letter_path: Path = (
            Path(dead_letter) if dead_letter is not None else self._default_dead_letter_path()
        ).absolute()
        self._background = background
        # defers_writes, read per model call by the tracker: a plain attribute (a property
        # call costs ~1,500 instructions); a class's write() does not change after this.
        self._defers = background and type(self).write is Ledger.write
        self._closed = False
        self._counts_file: _killcount.CountsFile | None = None
        self._init_writer_state()
        _LIVE_LEDGERS.add(self)
        # Counts of records a kill would lose live beside a ledger file or a dead-letter
        # file chosen for it, else in the ledger's state directory: never in whatever
        # directory the process happens to run in.
        self._counts_anchor: Path | None = (
            self.dead_letter_path
            if dead_letter is not None or isinstance(getattr(self, "path", None), Path)
            else None
            if self._state_dir is None
            else self._state_dir / _STATE_DEAD_LETTER
        )
        self._keeps_counts = background and self._counts_anchor is not None
        if background:
            if self._keeps_counts:
                self._open_counts()
            self._start_thread()
            _shutdown.register(_shutdown.LEDGERS, self, Ledger._close_until)
            # The handler first: a spawned child's SIGTERM watch starts only if it is ours.
            _shutdown.install_sigterm_handler()
            _shutdown.watch_multiprocessing_children()

    def _init_writer_state(self) -> None:
        # CostRecords, and builders of deferred ones (see write_deferred).
        self._buffer: list[Any] = []
        self._outcomes: list[TaskOutcome] = []
        self._lock = threading.Lock()
        # Held while the writer is inside the store: a fork waits for it, so no child
        # inherits a store library (SQLite) locked mid-call by a thread it does not have.
        self._io_lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        # A batch is being written (records, task outcomes or deferred calls): flush() waits
        # for it; _in_flight counts only its records, 0 for a batch of task outcomes.
        self._batch_open = False
        # The batch the writer holds right now (set aside at close if the writer is stuck).
        self._in_flight_batch: tuple[list[CostRecord], list[TaskOutcome]] | None = None
        self._stats = LedgerStats(dead_letter_path=str(self.dead_letter_path))
        self._retry_at = 0.0
        self._backoff = self.retry_initial
        self._warned_dead_letter = False
        # Every file records were set aside in, in the order first used (a nearly full disk
        # can spread one set-aside over the dead-letter file and the temp folder's).
        self._dead_letter_files: list[str] = []
        # Records and outcomes set aside (or lost) because the queue was full, for its error
        # lines; and why the last set-aside failed.
        self._overflow_kept = 0
        self._overflow_lost = 0
        self._set_aside_error: str | None = None
        # Whether the last batch failed, and since when the writer has been inside the store
        # (0.0: not now): the queue-full error says which of these filled the queue.
        self._store_failing = False
        self._io_started = 0.0
        self._thread: threading.Thread | None = None
        # Records accepted and accounted for, in this process's counts file once it has one
        # (see _killcount): slot 3 accepted, 4 accounted, 5 in the store, 6 when accounted.
        self._counts = _killcount.scratch()

    def _open_counts(self) -> None:
        """Keep this process's counts in a file beside the ledger, and count the records of
        processes that were killed before writing theirs. Never raises."""
        try:
            anchor = self._counts_anchor
            assert anchor is not None
            counts = _killcount.CountsFile.create(_killcount.writers_dir(anchor))
            if counts is not None:
                self._counts_file, self._counts = counts, counts.view
            found = _killcount.collect_dead(anchor, counts.path if counts else None)
            if found:
                with self._lock:
                    self._stats.unwritten += sum(e["unwritten"] for e in found)
        except Exception:
            logger.exception("llm-cost-hooks: counting the records of killed processes failed")

    def _account_locked(self) -> None:
        # Called with self._lock held, whenever records are written, set aside or dropped.
        s = self._stats
        counts = self._counts
        counts[4] = s.written + s.duplicates + s.dead_lettered + s.dropped
        counts[6] = time.time_ns()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"llm-cost-hooks-{type(self).__name__}", daemon=True
        )
        self._thread.start()

    def _state_identity(self) -> tuple[str, dict[str, str], dict[str, str]] | None:
        """What names a ledger without a file (its kind, and e.g. host, port, database,
        user; never a password), and the identity earlier releases named it by (its state
        directory is moved to the new name): None for a ledger that keeps no state of its own."""
        return None

    def _ledger_state_dir(self) -> Path | None:
        try:
            identity = self._state_identity()
        except Exception:
            logger.debug("llm-cost-hooks: the identity of the ledger is unknown", exc_info=True)
            return None
        if identity is None:
            return None
        state = _killcount.ledger_state_dir(*identity)
        if state is None and not _warned_no_state_dir:
            _warned_no_state_dir.append(True)
            logger.warning(
                "llm-cost-hooks ledger %s: no home directory to keep its state in (set "
                "LLM_COST_HOOKS_STATE_DIR): records this process still holds if it is killed "
                "outright (SIGKILL, OOM) will not be counted, and records that cannot be written "
                "go to %s. Calls and records are not affected.",
                self._describe(),
                Path(_OLD_DEAD_LETTER).absolute(),
            )
        return state

    def _default_dead_letter_path(self) -> Path:
        """Where records that cannot be written go: beside the store's file, else in the
        ledger's state directory (or, when there is none, here)."""
        path = getattr(self, "path", None)
        if isinstance(path, Path):
            return path.with_name(path.name + ".dead-letter.jsonl")
        old = Path(_OLD_DEAD_LETTER)
        state = self._state_dir
        if state is None:
            return old
        if old.is_file():
            # Left by an earlier version, which set records aside in the working directory:
            # kept, so what is set aside stays in one file (replay it to move on).
            logger.info(
                "llm-cost-hooks ledger %s: records that cannot be written go to %s, which holds "
                "records set aside before; once it is replayed (and renamed), they go to %s.",
                self._describe(),
                old.absolute(),
                state / _STATE_DEAD_LETTER,
            )
            return old
        return state / _STATE_DEAD_LETTER

    # -- request path ----------------------------------------------------------------
    def write(self, record: CostRecord) -> None:
        """Queue a record. Cheap; never raises, never does I/O on the caller's thread
        (except when the queue is full, or after :meth:`close`: the record then goes
        straight to the dead-letter file). Anything but one :class:`CostRecord` (a dict, a
        list of records, None) raises :class:`ConfigurationError` here, where the mistake is,
        rather than being dropped later on the writer thread."""
        if type(record) is not CostRecord and not callable(record) and not isinstance(record, CostRecord):
            raise ConfigurationError(_not_a_record(record))
        buffer = self._buffer
        with self._lock:
            self._counts[3] += 1  # accepted: one memory write (see _killcount)
            if len(buffer) >= self._max_buffer:
                overflow = True
            else:
                buffer.append(record)
                overflow = False
        if overflow:
            self._overflow([record], [])
            return
        if not self._background:
            self._drain_once()
        elif len(buffer) >= self._wake_at and not self._wake.is_set():
            # The writer also wakes every ``flush_interval`` on its own: waking it per
            # record made it write one-record transactions and take the GIL from the
            # caller once per model call.
            self._wake.set()

    def _overflow(self, records: list[Any], outcomes: list[TaskOutcome]) -> None:
        """Set aside what arrives while the queue is full, on the caller's thread (the
        writer is behind or stuck). Never raises: what no dead-letter file takes is lost,
        counted in ``dropped`` and logged as an error."""
        built: list[Any] = []
        for r in records:
            if type(r) is CostRecord or isinstance(r, CostRecord):
                built.append(r)
                continue
            try:  # a deferred record: built here, as a ledger without a writer builds it
                built.append(r())
            except Exception:
                logger.exception("llm-cost-hooks: building a cost record failed; record lost")
                with self._lock:
                    self._stats.dropped += 1
                    self._account_locked()
        if not built and not outcomes:
            return
        reason = f"the ledger's queue was full (max_buffer={self._max_buffer})"
        try:
            kept = self._set_aside(built, outcomes, reason=reason, quiet=True)
        except Exception as exc:  # e.g. a value that makes no dead-letter line: lost, not raised
            with self._lock:
                self._stats.dropped += len(built)
                self._stats.dropped_outcomes += len(outcomes)
                self._set_aside_error = f"{type(exc).__name__}: {exc}"
                self._account_locked()
            kept = False
        n = len(built) + len(outcomes)
        with self._lock:
            if kept:
                self._overflow_kept += n
            else:
                self._overflow_lost += n
            count = self._overflow_kept if kept else self._overflow_lost
        if count - n < _last_mark(count):
            with contextlib.suppress(Exception):  # logging must not break the caller either
                self._report_overflow(kept, count)

    def _report_overflow(self, kept: bool, count: int) -> None:
        queued = len(self._buffer) + self._in_flight
        # Say why the queue is full: the fix differs (the store vs. max_buffer).
        started = self._io_started
        waiting = time.monotonic() - started if started else 0.0
        if self._store_failing:
            why = (
                f"because the store is failing (last error: {self._stats.last_error}); the writer "
                "retries with back-off and sets the oldest queued records aside"
            )
            fix = "Fix the store or raise max_buffer."
        elif waiting >= _SLOW_STORE_SECONDS:
            why = f"the writer has been waiting {waiting:.0f} s for the store to answer (no error yet)"
            fix = "Check the store or raise max_buffer."
        else:
            why = "the writer fell behind a burst of records (no write to the store has failed)"
            fix = "Raise max_buffer for such bursts."
        head = f"llm-cost-hooks ledger: the queue is full ({queued} records queued, max_buffer={self._max_buffer}): {why}."
        if kept:
            path = self._stats.dead_letter_path
            logger.error(
                "%s Records that arrive while the queue is full are set aside in %s: %d so far "
                "(counted in ledger.stats.dead_lettered); load them with "
                "llm_cost_hooks.ledger.replay_dead_letters(%r, ledger) once the ledger keeps up. %s",
                head,
                path,
                count,
                path,
                fix,
            )
            return
        logger.error(
            "%s Records that arrive while the queue is full could not be set aside either (%s) "
            "and are LOST: %d so far (ledger.stats.dropped). %s",
            head,
            self._set_aside_error,
            count,
            fix,
        )

    def _write_after_close(self, record: CostRecord) -> None:
        # Installed as ``self.write`` by close(): no writer is left to take the record.
        self._set_aside(self._materialize([record]), [], reason="written after the ledger was closed")

    @property
    def defers_writes(self) -> bool:
        """Whether :meth:`write_deferred` builds records on the background writer (a
        background ledger whose ``write`` is not overridden)."""
        return self._defers

    def write_deferred(self, build: Callable[[], CostRecord]) -> None:
        """Queue a record that ``build()`` makes on the writer thread, just before it is
        written (a tracker defers pricing off the caller's thread this way). Without a
        background writer it is built here. Never raises.

        A store that writes rows calls ``build.ledger_row()`` instead when ``build`` has
        one: it returns the row (or a record)."""
        if not self.defers_writes:
            try:
                record = build()
            except Exception:
                logger.exception("llm-cost-hooks: building a cost record failed; record lost")
                with self._lock:
                    self._counts[3] += 1  # accepted and lost here, never through write()
                    self._stats.dropped += 1
                    self._account_locked()
                return
            if not isinstance(record, CostRecord):
                logger.error(
                    "llm-cost-hooks: a deferred cost record's builder returned %s, not a CostRecord; record lost",
                    type(record).__name__,
                )
                with self._lock:
                    self._counts[3] += 1
                    self._stats.dropped += 1
                    self._account_locked()
                return
            self.write(record)
            return
        self.write(build)  # type: ignore[arg-type]  # built on the writer, in _materialize

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
        except Exception:
            logger.exception("llm-cost-hooks: a deferred observer call failed")

    def _materialize(self, records: list[Any]) -> list[Any]:
        """Build the deferred records of a batch (on the writer thread). A store that
        writes rows (``_writes_rows``) gets a deferred call's row without its record when
        the builder offers one (``ledger_row``); such rows are tuples of
        ``RECORD_COLUMNS``, and :meth:`_set_aside` turns them back into records."""
        out: list[Any] = []
        rows = self._writes_rows
        for r in records:
            kind = type(r)
            if kind is not tuple and kind is not CostRecord:
                if kind is _Task:
                    try:
                        r.fn()
                    except Exception:
                        logger.exception("llm-cost-hooks: a deferred observer call failed")
                    continue
                # A builder's ledger_row is looked up before the isinstance() check of a
                # record (a pydantic class's isinstance goes through ABCMeta: ~1,000
                # instructions a queued call).
                as_row = getattr(r, "ledger_row", None) if rows else None
                if as_row is None and isinstance(r, CostRecord):
                    out.append(r)
                    continue
                try:
                    r = r() if as_row is None else as_row()
                except Exception:
                    logger.exception("llm-cost-hooks: building a cost record failed; record lost")
                    with self._lock:
                        self._stats.dropped += 1
                        self._account_locked()
                    continue
                if type(r) is not CostRecord and type(r) is not tuple and not isinstance(r, CostRecord):
                    # Not written: it would fail the whole batch and hold the good records back.
                    logger.error(
                        "llm-cost-hooks: a deferred cost record's builder returned %s, not a CostRecord; record lost",
                        type(r).__name__,
                    )
                    with self._lock:
                        self._stats.dropped += 1
                        self._account_locked()
                    continue
            out.append(r)
        return out

    def write_task(self, outcome: TaskOutcome) -> None:
        """Queue a task outcome (root run ended, or marked by the user)."""
        with self._lock:
            overflow = len(self._outcomes) >= self._max_buffer
            if not overflow:
                self._outcomes.append(outcome)
        if overflow:
            self._overflow([], [outcome])
            return
        if not self._background:
            self._drain_once()
        elif len(self._outcomes) >= self._wake_at and not self._wake.is_set():
            self._wake.set()

    @property
    def stats(self) -> LedgerStats:
        with self._lock:
            s = self._stats.model_copy()
            s.pending = sum(1 for r in self._buffer if type(r) is not _Task) + self._in_flight
        return s

    @property
    def dropped(self) -> int:
        """Records lost: neither written nor set aside (0 unless the dead-letter file could
        not be written either, or a deferred record could not be built; each is logged)."""
        return self._stats.dropped

    # -- writer ------------------------------------------------------------------------
    @abstractmethod
    def _write_batch(self, records: Sequence[CostRecord], outcomes: Sequence[TaskOutcome]) -> int | None:
        """Persist a batch, all or nothing; raise on failure. Returns how many of the
        records the store skipped as already there (None: none, or the store cannot tell).

        A batch that raises an error :meth:`_is_record_error` accepts is split and its
        halves written again, down to single records; any other error keeps the whole
        batch queued and retries it later with back-off."""

    def _is_record_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` is about a value in the batch (the batch is split to set only
        the bad records aside) rather than about the store (the batch is retried)."""
        return isinstance(exc, (ValueError, TypeError, OverflowError)) and not isinstance(exc, OSError)

    def _drain_once(self) -> bool:
        """Write one batch. Returns False when the store failed (the batch is kept)."""
        with self._lock:
            records = self._buffer[: self._batch_size]
            del self._buffer[: self._batch_size]
            outcomes = self._outcomes[: self._batch_size]
            del self._outcomes[: self._batch_size]
            self._in_flight = sum(1 for r in records if type(r) is not _Task)
            self._counts[5] = self._in_flight
            self._batch_open = bool(records or outcomes)
        if not records and not outcomes:
            return True
        with self._io_lock:
            # Deferred records are built here, once: a failed batch goes back built.
            records = self._materialize(records)
            self._in_flight_batch = (records, outcomes)
            self._io_started = time.monotonic()
            try:
                written, duplicates, rejected, kept, exc = self._write_splitting(records, outcomes)
            finally:
                self._in_flight_batch = None
                self._io_started = 0.0
        if rejected:
            self._set_aside(
                [r for r, _ in rejected if isinstance(r, (CostRecord, tuple))],
                [o for o, _ in rejected if isinstance(o, TaskOutcome)],
                reason=f"rejected by the store: {type(rejected[0][1]).__name__}: {rejected[0][1]}",
            )
        with self._lock:
            self._stats.written += written
            self._stats.duplicates += duplicates
            self._in_flight = 0
            self._account_locked()
            self._counts[5] = 0
            self._batch_open = False
            self._store_failing = exc is not None
            if exc is None:
                self._backoff = self.retry_initial
                self._retry_at = 0.0
                self._idle.notify_all()
                return True
            kept_records, kept_outcomes = kept
            # Back in front, in order; the store is failing, so wait before the next try.
            self._buffer[:0] = kept_records
            self._outcomes[:0] = kept_outcomes
            self._stats.write_failures += 1
            self._stats.last_error = f"{type(exc).__name__}: {exc}"
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, self.retry_max)
            failures = self._stats.write_failures
            queued = sum(1 for r in self._buffer if type(r) is not _Task)
            # Past half the queue, the oldest records go to the dead-letter file rather
            # than let the queue fill up and new records be lost.
            spill = len(self._buffer) - self._max_buffer // 2
            spilled = self._buffer[:spill] if spill > 0 else []
            if spilled:
                del self._buffer[:spill]
            self._idle.notify_all()
        if failures in (1, 10, 100) or failures % 1000 == 0:
            logger.warning(
                "llm-cost-hooks ledger write failed (%s: %s); %d records queued, retrying with "
                "back-off (failure %d)",
                type(exc).__name__,
                exc,
                queued,
                failures,
            )
        if spilled:
            self._set_aside(
                self._materialize(spilled), [], reason=f"queue full while the store failed: {exc}"
            )
        return False

    def _write_splitting(
        self, records: list[CostRecord], outcomes: list[TaskOutcome]
    ) -> tuple[
        int,
        int,
        list[tuple[Any, BaseException]],
        tuple[list[CostRecord], list[TaskOutcome]],
        BaseException | None,
    ]:
        """Write a batch, splitting it when the store rejects a value in it.

        Returns (records written, records the store held already, rejected items with their
        error, items kept for a retry, the store error that stopped the writing or None)."""
        written = duplicates = 0
        rejected: list[tuple[Any, BaseException]] = []
        todo: list[tuple[list[CostRecord], list[TaskOutcome]]] = [(records, outcomes)]
        while todo:
            recs, outs = todo.pop()
            if not recs and not outs:
                continue
            try:
                skipped = self._write_batch(recs, outs) or 0
            except Exception as exc:
                if not self._is_record_error(exc):
                    kept_r = list(recs) + [r for part, _ in reversed(todo) for r in part]
                    kept_o = list(outs) + [o for _, part in reversed(todo) for o in part]
                    return written, duplicates, rejected, (kept_r, kept_o), exc
                if len(recs) + len(outs) == 1:
                    rejected.append(((recs or outs)[0], exc))
                    continue
                # Second halves pushed first: the batch is written in its order.
                hr, ho = len(recs) // 2, len(outs) // 2
                if outs:
                    todo.append(([], outs[ho:]))
                    todo.append(([], outs[:ho]))
                todo.append((recs[hr:], []))
                todo.append((recs[:hr], []))
                continue
            written += len(recs) - skipped
            duplicates += skipped
        return written, duplicates, rejected, ([], []), None

    def _set_aside(
        self,
        records: Sequence[CostRecord | tuple[Any, ...]],
        outcomes: Sequence[TaskOutcome],
        *,
        reason: str,
        quiet: bool = False,
    ) -> bool:
        """Append records and outcomes to the dead-letter file (a JSON object per line);
        if that fails too, to one in the temp folder; if both fail they are counted as
        dropped and logged as an error. Returns whether they were set aside. ``quiet``:
        the caller logs instead (the queue-full error, once in a while)."""
        if not records and not outcomes:
            return True
        records = [_as_record(r) for r in records]
        at = datetime.now(timezone.utc).isoformat()
        lines = [_dead_letter_line("record", r, reason, at) for r in records]
        lines += [_dead_letter_line("task_outcome", o, reason, at) for o in outcomes]
        errors: list[str] = []
        recs_left, outs_left = len(records), len(outcomes)  # lines[:recs_left] are records
        for path in (self.dead_letter_path, _fallback_dead_letter_path()):
            if not lines:
                break
            # A disk with room for part of them (quiet: one record, all or nothing) keeps
            # those that fit, whole lines in their order; the rest go on to the next file.
            kept, exc = _append_what_fits(path, lines, split=not quiet)
            if exc is not None:
                errors.append(f"{path}: {exc.strerror or exc}")
            if not kept:
                continue
            n_recs = min(kept, recs_left)
            n_outs = kept - n_recs
            lines = lines[kept:]
            recs_left -= n_recs
            outs_left -= n_outs
            with self._lock:
                self._stats.dead_lettered += n_recs
                self._stats.dead_lettered_outcomes += n_outs
                self._stats.dead_letter_path = str(path)
                self._account_locked()
                new_file = str(path) not in self._dead_letter_files
                if new_file:
                    self._dead_letter_files.append(str(path))
                # Said once per file: records spread over two files are named in both.
                first = (not self._warned_dead_letter or new_file) and not quiet
                if not quiet:
                    self._warned_dead_letter = True
            if first:
                logger.warning(
                    "llm-cost-hooks ledger: %d record(s) and %d task outcome(s) could not be written "
                    "to the ledger (%s); they were set aside in %s. Fix the cause, then load them "
                    "with llm_cost_hooks.ledger.replay_dead_letters(%r, ledger). Further records "
                    "set aside are counted in ledger.stats.dead_lettered.",
                    n_recs,
                    n_outs,
                    reason,
                    path,
                    str(path),
                )
        if not lines:
            return True
        with self._lock:
            self._stats.dropped += recs_left
            self._stats.dropped_outcomes += outs_left
            self._set_aside_error = "; ".join(errors)
            self._account_locked()
        if quiet:
            return False
        logger.error(
            "llm-cost-hooks ledger: %d record(s) and %d task outcome(s) LOST: the ledger failed "
            "(%s) and no dead-letter file could take them (%s).",
            recs_left,
            outs_left,
            reason,
            "; ".join(errors),
        )
        return False

    def _run(self) -> None:
        while True:
            now = time.monotonic()
            self._wake.wait(timeout=max(self._retry_at - now, self._flush_interval))
            self._wake.clear()
            closing = self._closed
            # A failing store is retried on its back-off schedule, not on every wake-up
            # (a flush waiting on it wakes the writer every few milliseconds).
            if not closing and time.monotonic() < self._retry_at:
                continue
            while True:
                with self._lock:
                    has_work = bool(self._buffer or self._outcomes)
                if not has_work or not self._drain_once():
                    break
            if closing:
                return

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written. Returns False on timeout (the
        records stay queued; a failing store is retried with back-off)."""
        if not self._background:
            while True:
                with self._lock:
                    if not (self._buffer or self._outcomes):
                        return True
                if not self._drain_once():
                    return False
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                return not (self._buffer or self._outcomes or self._in_flight or self._batch_open)
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._lock:
            while self._buffer or self._outcomes or self._in_flight or self._batch_open:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wake.set()
                self._idle.wait(timeout=min(remaining, 0.05))
        return True

    def close(self, timeout: float | None = None) -> None:
        """Write what is queued (within ``timeout`` seconds; default
        ``LLM_COST_HOOKS_EXIT_TIMEOUT``, 5 s), set aside what could not be written, stop
        the writer. Safe to call twice. Logs where every record went."""
        if self._closed:
            return
        if timeout is None:
            timeout = _shutdown.exit_timeout()
        self._close_until(time.monotonic() + timeout)

    def _close_until(self, deadline: float) -> None:
        if self._closed:
            return
        self.flush(max(deadline - time.monotonic(), 0.0))
        self._closed = True
        if self._background:
            # An instance attribute, so the open ledger's write() pays no "closed?" check.
            self.write = self._write_after_close  # type: ignore[method-assign]
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            # A little past the deadline if need be: a writer ending its last loop is not stuck.
            thread.join(max(deadline - time.monotonic(), 0.1))
        stuck = thread is not None and thread.is_alive()
        with self._lock:
            records, outcomes = self._buffer, self._outcomes
            self._buffer, self._outcomes = [], []
            in_flight = self._in_flight_batch if stuck else None
        if in_flight is not None:
            # Still being written: it may also land in the ledger (replaying it is
            # idempotent for the SQLite store: same request id and timestamp, same row;
            # an outcome equal in every field is skipped).
            records = list(in_flight[0]) + records
            outcomes = list(in_flight[1]) + outcomes
        built = self._materialize(records) if records else []
        if built or outcomes:
            error = self._stats.last_error
            if error is not None:
                why = f"last error: {error}"
            elif stuck:  # e.g. waiting for a connection to a database that is down
                why = "the writer was still inside a call to the store"
            else:
                why = "the store raised no error"
            self._set_aside(built, outcomes, reason=f"not written by the exit deadline ({why})")
        if not stuck:
            try:
                self._close_storage()
            except Exception:
                logger.debug("llm-cost-hooks: closing the ledger store failed", exc_info=True)
        self._close_counts()
        s = self.stats
        level = logging.ERROR if s.dropped else logging.WARNING if s.dead_lettered else logging.INFO
        # Duplicates named only when there were some: the usual line stays as it was.
        already = f", {s.duplicates} already in the ledger (skipped)" if s.duplicates else ""
        others = [f for f in self._dead_letter_files if f != s.dead_letter_path]
        also = f"; set aside also in {', '.join(others)}" if others else ""
        logger.log(
            level,
            "llm-cost-hooks ledger %s closed: %d records written%s, %d set aside in %s, %d lost%s",
            self._describe(),
            s.written,
            already,
            s.dead_lettered,
            s.dead_letter_path,
            s.dropped,
            also,
        )

    def _close_counts(self) -> None:
        counts = self._counts_file
        if counts is None:
            return
        with self._lock:
            self._counts_file = None
            accepted, accounted = self._counts[3], self._counts[4]
            # Records set aside after close (written after it) count into plain memory.
            self._counts = _killcount.scratch()
        # Every record accounted for: nothing to report. Otherwise (a write that raced the
        # close) the file stays and is counted once this process has ended.
        counts.close(remove=accepted <= accounted)

    def _describe(self) -> str:
        path = getattr(self, "path", None)
        return f"{type(self).__name__}({str(path)!r})" if path is not None else type(self).__name__

    def _close_storage(self) -> None:  # noqa: B027 - optional hook
        """Release files or connections."""

    def _after_fork_in_child(self) -> None:  # noqa: B027 - optional hook
        """Drop connections inherited from the parent (never close them: the parent owns
        them); the child opens its own on its next write."""

    def _restart_after_fork(self) -> None:
        # The parent's queue is the parent's to write; the child starts empty, with its
        # own locks (a lock held by a parent thread at fork time would never be released)
        # and its own writer thread. The parent's counts file stays the parent's (closing
        # our copy keeps its lock the parent's alone); the child counts in its own.
        inherited, self._counts_file = self._counts_file, None
        if inherited is not None:
            inherited.close(remove=False)
        self._init_writer_state()
        self._after_fork_in_child()
        if self._background and not self._closed:
            if self._keeps_counts:
                self._open_counts()
            self._start_thread()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the salt of user hashes ---------------------------------------------------------
    #: Whether reading the salt goes over the network (the tracker then asks in the
    #: background as soon as it is made, and a call waits for the answer a bounded time).
    _salt_is_remote = False

    def _user_salt(self, new: str | None = None, *, create: bool = True) -> str | None:
        """The salt user ids are hashed with for this ledger, kept with it: made by the first
        writer that asks (at random, or ``new``), then read by every writer (so a fleet hashes
        alike). ``""`` for a ledger that already held hashes made without a salt (a user keeps
        one hash across the upgrade); None when the store keeps no salt (a store of your own),
        or with ``create=False`` when it has none yet and holds no user hash."""
        return None

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

    # -- retention ---------------------------------------------------------------------
    def prune(
        self,
        before: datetime | date | str | None = None,
        *,
        older_than: str | timedelta | None = None,
        dry_run: bool = False,
        batch_size: int = 10_000,
    ) -> dict[str, int]:
        """Delete the records and task outcomes older than ``before`` (an ISO date, taken
        as midnight UTC, or datetime) or ``older_than`` (``"90d"``, ``"12w"``, ``"36h"`` or
        a timedelta), in transactions of at most ``batch_size`` rows: writers go on
        meanwhile. Queued records are flushed first. Returns the counts deleted (with
        ``dry_run``, that would be deleted; nothing changes): ``records``, ``outcomes``
        and, for SQLite, ``free_bytes`` (space new records reuse; ``VACUUM`` returns it to
        the disk). A bad or future date raises :class:`ConfigurationError`."""
        from ._prune import cutoff_from

        cutoff = cutoff_from(before, older_than)
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be at least 1, got {batch_size}.")
        self.flush()
        return self._prune(cutoff, dry_run=dry_run, batch_size=batch_size)

    def _prune(self, cutoff: datetime, *, dry_run: bool, batch_size: int) -> dict[str, int]:
        raise ConfigurationError(f"{type(self).__name__} cannot prune records.")


def _last_mark(count: int) -> int:
    """The count at which the error for ``count`` was last logged: 1, 100, 10,000, then
    every 100,000 (a full queue logs a few lines, not one per call)."""
    for mark in (100_000, 10_000, 100, 1):
        if count >= mark:
            return count - count % 100_000 if mark == 100_000 else mark
    return 1


class _Task:
    """A call queued among the records that makes no record (see Ledger.run_deferred)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn


def _as_record(item: Any) -> Any:
    """A row a store took in place of a record, as the record again (for the dead-letter
    file); a row that makes no valid record stays as it is (its line holds its repr)."""
    if type(item) is not tuple:
        return item
    try:
        return row_to_record(item)
    except Exception:
        return item


def _dead_letter_line(kind: str, item: Any, reason: str, at: str) -> str:
    try:
        body: Any = item.model_dump(mode="json")
    except Exception:
        body = {"repr": repr(item)}
    # ensure_ascii: a value the store rejected (e.g. a lone surrogate) still makes a line.
    return json.dumps({kind: body, "reason": reason, "set_aside_at": at}, ensure_ascii=True, default=str)


# A file that cannot grow: no space left, over the file size limit, over the disk quota.
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)})


def _append_what_fits(path: Path, lines: Sequence[str], *, split: bool = True) -> tuple[int, OSError | None]:
    """Append ``lines`` to ``path``, each whole; on a full disk, as many of the first ones
    as fit (halving the part written until it fits). Returns how many were written and
    the error that stopped the rest (``None``: all written)."""
    done, chunk = 0, len(lines)
    while done < len(lines):
        part = lines[done : done + chunk]
        try:
            _append_durably(path, "".join(line + "\n" for line in part))
        except OSError as exc:
            if not split or chunk == 1 or exc.errno not in _FULL_ERRNOS:
                return done, exc
            chunk = (chunk + 1) // 2
            continue
        done += len(part)
    return done, None


def _append_durably(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:  # other processes may set records aside in the same file
            fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        data = text.encode("ascii")
        if size and os.pread(fd, 1, size - 1) != b"\n":
            # A process killed mid-write left half a line: these lines start on a new one
            # instead of merging into it.
            data = b"\n" + data
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        except BaseException:
            # A write cut short (a full disk) leaves no half line: the caller counts these
            # records as not set aside, and a fragment would break the next line appended.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)  # releases the lock


# The default dead-letter file of a ledger without a file: in its state directory; before
# 2026-12 in the working directory (still used while one is there).
_STATE_DEAD_LETTER = "llm_costs.dead-letter.jsonl"
# Where a database ledger keeps its user-hash salt: one row of this key-value table.
USER_SALT_KEY = "user_hash_salt"
CREATE_META = "CREATE TABLE IF NOT EXISTS llm_cost_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


def new_user_salt() -> str:
    """A random salt for a ledger's user hashes (128 bits)."""
    import secrets

    return secrets.token_hex(16)


_OLD_DEAD_LETTER = "llm_costs.dead-letter.jsonl"
_warned_no_state_dir: list[bool] = []


def _fallback_dead_letter_path() -> Path:
    return (
        Path(tempfile.gettempdir())
        / f"llm-cost-hooks-dead-letter-{os.getuid() if hasattr(os, 'getuid') else 0}.jsonl"
    )


def read_json_lines(
    path: str | os.PathLike[str], parse: Callable[[Any], CostRecord | TaskOutcome]
) -> tuple[list[CostRecord | TaskOutcome], list[int]]:
    """``parse`` of each JSON line of a file, and the numbers of the lines that are not
    whole (cut short by a crash, not UTF-8, or rejected by ``parse``)."""
    damaged: list[int] = []
    items = list(iter_json_lines(path, parse, damaged))
    return items, damaged


def iter_json_lines(
    path: str | os.PathLike[str], parse: Callable[[Any], CostRecord | TaskOutcome], damaged: list[int]
) -> Iterator[CostRecord | TaskOutcome]:
    """:func:`read_json_lines` one item at a time (a large file is never all in memory);
    the numbers of damaged lines are appended to ``damaged``."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line:
                continue
            try:
                item = parse(json.loads(line))
            except (ValueError, TypeError):  # JSON, UTF-8 and pydantic errors
                damaged.append(number)
                continue
            yield item


def _dead_letter_item(data: Any) -> CostRecord | TaskOutcome:
    if "record" in data:
        return CostRecord.model_validate(data["record"])
    if "task_outcome" in data:
        return TaskOutcome.model_validate(data["task_outcome"])
    raise ValueError("neither a record nor a task outcome")


def replay_dead_letters(path: str | os.PathLike[str], ledger: Ledger) -> int:
    """Write the records and task outcomes of a dead-letter file into ``ledger``; returns
    how many records were queued. The file is renamed ``*.replayed`` once the ledger has
    written them (left in place if the flush times out, so it can be replayed again). No
    more than the ledger's queue holds is queued at a time.

    A line that is not a whole dead-letter line (cut short when a process was killed while
    setting records aside) is skipped and named in a warning; the other lines are replayed.
    A file in which no line is one raises :class:`LedgerError`."""
    source = Path(path)
    records = 0
    items, damaged = read_json_lines(source, _dead_letter_item)
    if damaged:
        if not items:
            raise LedgerError(
                f"{source}:{damaged[0]}: not a dead-letter line, and no line of the file is one."
            )
        shown = ", ".join(map(str, damaged[:10])) + (" ..." if len(damaged) > 10 else "")
        logger.warning(
            "llm-cost-hooks ledger: %s: %d line(s) are not whole dead-letter lines and were "
            "skipped (line %s); a process killed while setting records aside leaves such a "
            "line. The other lines are replayed.",
            source,
            len(damaged),
            shown,
        )
    complete = True
    for item in items:
        # Never more than the queue holds: a record that overflowed it would be set aside
        # again, in the very file being replayed.
        queue = ledger._buffer if isinstance(item, CostRecord) else ledger._outcomes
        if len(queue) >= ledger._max_buffer and not ledger.flush(60.0):
            complete = False  # the store does not keep up: what is queued is written later
            break
        if isinstance(item, CostRecord):
            ledger.write(item)
            records += 1
        else:
            ledger.write_task(item)
    if complete and ledger.flush(60.0):
        source.rename(source.with_name(source.name + ".replayed"))
    return records


_LIVE_LEDGERS: weakref.WeakSet[Ledger] = weakref.WeakSet()


_held_for_fork: list[threading.Lock] = []


def _quiesce_writers_before_fork() -> None:
    for ledger in list(_LIVE_LEDGERS):
        lock = ledger._io_lock
        # Bounded: a store call stuck longer than this is not worth hanging the fork for.
        if lock.acquire(timeout=10.0):
            _held_for_fork.append(lock)


def _resume_writers_after_fork() -> None:
    while _held_for_fork:
        _held_for_fork.pop().release()


def _restart_ledgers_after_fork() -> None:
    _held_for_fork.clear()
    for ledger in list(_LIVE_LEDGERS):
        try:
            ledger._restart_after_fork()
        except Exception:
            logger.exception("llm-cost-hooks: restarting a ledger writer after fork failed")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_quiesce_writers_before_fork,
        after_in_parent=_resume_writers_after_fork,
        after_in_child=_restart_ledgers_after_fork,
    )


def _not_a_record(record: object) -> str:
    """What :meth:`Ledger.write` says to a caller who gave it something else than a record."""
    got = type(record).__name__
    if isinstance(record, dict):
        fix = "build the record first: ledger.write(CostRecord(**values))"
    elif isinstance(record, (list, tuple)):
        fix = "call write() once per record"
    else:
        fix = "pass a CostRecord (llm_cost_hooks.CostRecord)"
    return f"Ledger.write() takes one CostRecord, got {got}; {fix}."
