"""Runs, tasks and the observers told about them: the tracker's vocabulary."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from .._records import utc_datetime_ns

if TYPE_CHECKING:  # pragma: no cover
    from .._records import CostRecord
    from ._tracker import CostTracker

__all__ = ["Attribution", "RunInfo", "RunKind", "RunObserver", "TaskState"]

logger = logging.getLogger("llm_cost_hooks")


class RunKind(str, Enum):
    """What kind of LangChain (or LiteLLM) run a :class:`RunInfo` describes.

    >>> from llm_cost_hooks import CostTracker
    >>> tracker = CostTracker(ledger="memory://")
    >>> tracker.start_run("run-1", None, kind=RunKind.TOOL, name="search").kind
    <RunKind.TOOL: 'tool'>
    """

    CHAIN = "chain"
    LLM = "llm"
    TOOL = "tool"
    RETRIEVER = "retriever"
    AGENT = "agent"


@dataclass
class Attribution:
    """Who and what a call is for, resolved from defaults and run metadata."""

    tenant: str | None = None
    user: str | None = None  # already hashed
    feature: str | None = None
    route: str | None = None
    prompt_version: str | None = None
    task_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


# Task totals are added to from the caller (failed calls) and the ledger's writer
# (deferred calls). One lock for all tasks: the section is a few additions.
_totals_lock = threading.Lock()


def _new_lock_after_fork() -> None:
    global _totals_lock
    _totals_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_after_fork)


@dataclass
class TaskState:
    """Running totals of one task, kept while its root run is open; a
    :class:`RunObserver` gets it as ``task`` when the root run ends.

    >>> from llm_cost_hooks import CostRecord
    >>> task = TaskState(task_id="t1", root_run_id="t1")
    >>> task.add(CostRecord(model="gpt-4o-mini", cost_usd=0.002, input_tokens=900, output_tokens=80))
    >>> task.add(CostRecord(model="gpt-4o-mini", cost_usd=0.001, success=False))
    >>> task.calls, task.failed_calls, round(task.cost_usd, 6), task.input_tokens
    (2, 1, 0.003, 900)
    """

    task_id: str
    root_run_id: str
    cost_usd: float = 0.0
    saved_usd: float = 0.0
    calls: int = 0
    failed_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, record: CostRecord) -> None:
        """Count one call's record in the totals."""
        self.add_call(
            record.cost_usd, record.saved_usd, record.success, record.input_tokens, record.output_tokens
        )

    def add_call(
        self, cost_usd: float, saved_usd: float, success: bool, input_tokens: int, output_tokens: int
    ) -> None:
        """Count one call in the totals from its numbers (a call written as a ledger row
        has no record object)."""
        lock = _totals_lock
        lock.acquire()  # rather than ``with``: half the lock's cost, once per call
        try:
            self.cost_usd += cost_usd
            self.saved_usd += saved_usd
            self.calls += 1
            self.failed_calls += 0 if success else 1
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens
        finally:
            lock.release()


class RunInfo:
    """One run (chain, tool, agent, retriever or model call) as the tracker sees it.

    ``observer_data`` lets observers keep per-run state (a span, a token) without a
    second lookup table. ``start_time`` is the UTC wall-clock start: the tracker reads
    the clock as an int (``wall_ns``) and makes the datetime when it is first read.

    Observers get one per run (see :class:`RunObserver`); the tracker's ``start_*``
    methods return it too:

    >>> from llm_cost_hooks import CostTracker
    >>> tracker = CostTracker(ledger="memory://")
    >>> chain = tracker.start_run("chain-1", None, name="answer")
    >>> run = tracker.start_llm("llm-1", "chain-1", model="gpt-4o-mini", provider="openai")
    >>> run.kind.value, run.model, run.parent_id, run.task_id
    ('llm', 'gpt-4o-mini', 'chain-1', 'chain-1')
    """

    __slots__ = (
        "_start_time",
        "attempt",
        "attribution",
        "children",
        "end_ns",
        "is_root",
        "kind",
        "messages",
        "metadata",
        "model",
        "name",
        "observer_data",
        "params",
        "parent_id",
        "provider",
        "run_id",
        "start_ns",
        "tags",
        "task_id",
        "wall_ns",
    )

    def __init__(
        self,
        run_id: str,
        parent_id: str | None,
        task_id: str,
        kind: RunKind,
        name: str,
        start_time: datetime | None,
        start_ns: int,
        metadata: Mapping[str, Any],
        tags: Sequence[str],
        attribution: Attribution,
        is_root: bool,
        model: str | None = None,
        provider: str | None = None,
        params: dict[str, Any] | None = None,
        messages: Any = None,  # kept only to count tokens if the provider reports none
        attempt: int = 1,
        observer_data: dict[str, Any] | None = None,
        children: int = 0,
        end_ns: int = 0,  # time.perf_counter_ns() when the run ended (0 while open)
        wall_ns: int = 0,  # time.time_ns() at the start, read when start_time is None
    ) -> None:
        self.run_id = run_id
        self.parent_id = parent_id
        self.task_id = task_id
        self.kind = kind
        self.name = name
        self._start_time = start_time
        self.start_ns = start_ns
        self.metadata = metadata
        self.tags = tags
        self.attribution = attribution
        self.is_root = is_root
        self.model = model
        self.provider = provider
        self.params = {} if params is None else params
        self.messages = messages
        self.attempt = attempt
        self.observer_data = {} if observer_data is None else observer_data
        self.children = children
        self.end_ns = end_ns
        self.wall_ns = wall_ns

    @property
    def start_time(self) -> datetime:
        """When the run started (UTC)."""
        ts = self._start_time
        if ts is None:
            ts = self._start_time = utc_datetime_ns(self.wall_ns)
        return ts

    @start_time.setter
    def start_time(self, value: datetime) -> None:
        self._start_time = value

    def __repr__(self) -> str:
        return (
            f"RunInfo(run_id={self.run_id!r}, parent_id={self.parent_id!r}, task_id={self.task_id!r}, "
            f"kind={self.kind!r}, name={self.name!r}, model={self.model!r}, provider={self.provider!r})"
        )


class RunObserver:
    """Receives every run's start and end. Subclass and override what you need.

    Observers run on the caller's thread, so they must be quick and must not raise
    (the tracker logs and swallows their errors so a chain never breaks because of one).

    ``deferrable = True`` lets the tracker call :meth:`on_run_end` later, on the
    ledger's writer thread, in the order the runs ended (``run.end_ns`` says when), so
    that pricing and the observer's work leave the caller's thread. The tracker does so
    only when every observer is deferrable, the caller does not need the record back and
    the ledger has a background writer; ``tracker.flush()`` waits for those calls.

    ``digests_calls = True`` (with ``deferrable``): when this is the tracker's only
    observer, a successful model call queued for the writer is first given to
    :meth:`digest_call` on the caller's thread, and the tracker keeps only what it
    returns (the chat messages and the run's metadata are dropped then; a text prompt,
    one string, stays), not the call's LangChain objects, until the writer.

    ``reads_rows = True`` (with ``deferrable``) says the observer can read a successful
    model call from its ledger row instead of its record: a ledger that writes rows
    (SQLite) then calls :meth:`on_model_row` for such calls and skips building the
    record, when every observer of the tracker reads rows. Everywhere else (and for every
    other run) :meth:`on_run_end` is called as usual, with the record.

    >>> from llm_cost_hooks import CostTracker, TokenUsage
    >>> class PrintRuns(RunObserver):
    ...     def on_run_end(self, run, *, record=None, error=None, task=None, **kwargs):
    ...         if record is not None:
    ...             print(run.kind.value, run.model, round(record.cost_usd, 6))
    ...         if task is not None:
    ...             print(run.kind.value, run.name, task.calls, "call(s)")
    >>> tracker = CostTracker(ledger="memory://")
    >>> tracker.add_observer(PrintRuns())
    >>> _ = tracker.start_run("chain-1", None, name="answer")
    >>> _ = tracker.start_llm("llm-1", "chain-1", model="gpt-4o-mini", provider="openai")
    >>> _ = tracker.end_llm("llm-1", TokenUsage(input_tokens=1000, output_tokens=200))
    llm gpt-4o-mini 0.00027
    >>> task = tracker.end_run("chain-1")
    chain answer 1 call(s)
    """

    deferrable: bool = False
    reads_rows: bool = False
    digests_calls: bool = False

    def attach(self, tracker: CostTracker) -> None:  # pragma: no cover - default no-op
        """This observer was added to ``tracker`` (e.g. to flush it at exit)."""

    def on_run_start(self, run: RunInfo) -> None:  # pragma: no cover - default no-op
        """A run started."""

    def on_run_end(
        self,
        run: RunInfo,
        *,
        record: CostRecord | None,
        error: BaseException | None,
        task: TaskState | None,
        outputs: Any = None,
    ) -> None:  # pragma: no cover - default no-op
        """A run ended. ``record`` is set for model calls; ``task`` for root runs."""

    def digest_call(self, run: RunInfo, outputs: Any) -> Any:
        """With ``digests_calls = True`` (see above): what this observer needs of a queued
        model call's result, read now; it gets it back as ``outputs`` when told about the
        call. Default: ``outputs`` itself."""
        return outputs

    def on_model_row(
        self,
        run: RunInfo,
        *,
        row: tuple[Any, ...],
        task: TaskState | None,
        outputs: Any = None,
    ) -> None:  # pragma: no cover - default no-op
        """A successful model call ended (only with ``reads_rows = True``, see above):
        ``row`` holds the record's values in the ledger table's column order
        (``ledger._base.RECORD_COLUMNS``: the breakdown's parts and currency after
        ``cost_usd``; ``tags`` as JSON text or None, flags as 1 / 0, ``timestamp`` as UTC
        ISO text); ``task`` is set when the call was its
        task's root run."""


def notify_start(observers: Sequence[RunObserver], run: RunInfo) -> None:
    for obs in observers:
        try:
            obs.on_run_start(run)
        except Exception:
            logger.exception("llm-cost-hooks observer %r failed on run start", obs)


def reads_rows(observers: Sequence[RunObserver]) -> bool:
    """Whether every observer reads a model call's ledger row (``RunObserver.reads_rows``)."""
    if len(observers) == 1:  # the usual case, asked once per call: no generator
        return bool(getattr(observers[0], "reads_rows", False))
    return all(getattr(obs, "reads_rows", False) for obs in observers)


def notify_row(
    observers: Sequence[RunObserver], run: RunInfo, row: tuple[Any, ...], task: TaskState | None, outputs: Any
) -> None:
    for obs in observers:
        try:
            obs.on_model_row(run, row=row, task=task, outputs=outputs)
        except Exception:
            logger.exception("llm-cost-hooks observer %r failed on run end", obs)


def notify_end(
    observers: Sequence[RunObserver],
    run: RunInfo,
    record: CostRecord | None,
    error: BaseException | None,
    task: TaskState | None,
    outputs: Any,
) -> None:
    for obs in observers:
        try:
            obs.on_run_end(run, record=record, error=error, task=task, outputs=outputs)
        except Exception:
            logger.exception("llm-cost-hooks observer %r failed on run end", obs)
