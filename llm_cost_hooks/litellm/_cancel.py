"""Cancelled async LiteLLM calls, seen while the event loop runs.

LiteLLM reports a call's end to callbacks only for ``Exception`` s: a call whose task is
cancelled (``asyncio.wait_for``, ``asyncio.timeout``, ``task.cancel()``, a client that
disconnects from a server's handler) gets neither a success nor a failure event. Its
budget hold would stay until ``max_hold_seconds`` and its record wait for the loop's end.

The pre-call deployment hook runs in the caller's task, inside LiteLLM's call coroutine.
It notes that task, how many cancellations the task had pending, and the coroutine. The
call is over when the coroutine is freed (the task may go on: ``asyncio.timeout``) or the
task ends (``wait_for`` runs the call in a task of its own). If the task was being
cancelled then and no end event came, the call is recorded as cancelled and its hold is
settled on that record at once. A stream is watched on from the object LiteLLM returned:
cancelled part-way, it is recorded with the text already delivered. A cancelled stream
still held elsewhere may be read to its end after all: LiteLLM's success event then adds a
second record, the provider's usage beyond the cancelled record's counts (``_late_success``).
"""

from __future__ import annotations

import asyncio
import functools
import sys
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from .._records import CostRecord, TokenUsage
from ._state import _LoggerState, _metadata_of, logger
from ._usage import usage_from_litellm

__all__: list[str] = []

_WRAPPER = "wrapper_async"  # LiteLLM's async call coroutine (litellm.utils.client)


class CallWatch:
    """One async call in flight: its task, the task's pending cancellations when the call
    started, LiteLLM's call frame (until its coroutine is found) and, for a stream, the
    list of chunks the stream has delivered."""

    __slots__ = (
        "chunks", "frame", "held", "loop", "noted", "on_done", "refs", "state", "stream", "task", "thread",
    )  # fmt: skip

    def __init__(self, task: asyncio.Task[Any], loop: asyncio.AbstractEventLoop, stream: bool) -> None:
        self.task = task
        self.loop = loop
        self.stream = stream
        self.thread = threading.get_ident()
        self.noted = _cancelling(task)
        self.frame: Any = None
        self.chunks: list[Any] | None = None
        self.state: dict[str, Any] | None = None  # the stream's attributes, read once it is gone
        self.on_done: Any = None
        self.refs: list[weakref.ref[Any]] = []  # kept alive so their callbacks run
        self.held: weakref.ref[Any] | None = None  # the stream LiteLLM returned


def _cancelling(task: asyncio.Task[Any]) -> int | None:
    counter = getattr(task, "cancelling", None)  # Python 3.11+
    return counter() if callable(counter) else None


def _being_cancelled(watch: CallWatch) -> bool:
    if watch.task.done():
        return watch.task.cancelled()
    now = _cancelling(watch.task)
    return now is not None and watch.noted is not None and now > watch.noted


def _unfinished(state: dict[str, Any]) -> bool:
    """The stream did not get to the provider's end: its last chunk was never sent, or
    LiteLLM ended it with nothing from the provider. A read cut before the first chunk (a
    timeout, a cancellation taken back) leaves LiteLLM's iterator exhausted; read on, the
    stream then ends as if complete, and LiteLLM reports no usage for it."""
    if not state.get("sent_last_chunk"):
        return True
    return not state.get("chunks") and state.get("received_finish_reason") is None


def _delivered_text(chunks: list[Any] | None) -> str:
    pieces = []
    for chunk in chunks or ():
        choices = getattr(chunk, "choices", None) or []
        piece = getattr(getattr(choices[0], "delta", None), "content", None) if choices else None
        if isinstance(piece, str):
            pieces.append(piece)
    return "".join(pieces)


class _CancelWatch(_LoggerState):
    """The cancellation half of :class:`~llm_cost_hooks.litellm.CostHooksLogger`."""

    _watches: dict[str, CallWatch]
    # Cancelled records of streams still referenced, by call id, with the weak reference
    # whose callback drops the entry once the stream is freed unfinished, its state, and
    # the budget reservation settled on the record (None without a guard).
    _cut: OrderedDict[str, tuple[CostRecord, weakref.ref[Any], dict[str, Any], Any]]

    def _watch(self, call_id: str, stream: bool) -> None:
        """Called from the pre-call deployment hook, in the caller's task."""
        task = asyncio.current_task()
        if task is None or call_id in self._watches:
            return
        watch = CallWatch(task, task.get_loop(), stream)
        frame: Any = sys._getframe(1)
        for _ in range(8):  # our hook <- LiteLLM's hook dispatch <- its call coroutine
            if frame is None or frame.f_code.co_name == _WRAPPER:
                break
            frame = frame.f_back
        watch.frame = frame if frame is not None and frame.f_code.co_name == _WRAPPER else None
        watch.on_done = functools.partial(self._task_ended, call_id)
        self._watches[call_id] = watch
        task.add_done_callback(watch.on_done)
        if watch.frame is not None:
            # The coroutine is reachable from the task only once the task is suspended.
            watch.loop.call_soon(self._find_call, call_id)

    def _find_call(self, call_id: str) -> None:
        watch = self._watches.get(call_id)
        if watch is None or watch.frame is None:
            return
        frame, watch.frame = watch.frame, None
        coro: Any = watch.task.get_coro()
        for _ in range(64):
            if coro is None:
                return  # not found (ended already, or awaited through a non-coroutine)
            if getattr(coro, "cr_frame", None) is frame:
                break
            coro = getattr(coro, "cr_await", None)
        else:
            return
        # Only a stream needs the frame after the call returns (the stream is its result).
        watch.frame = frame if watch.stream else None
        watch.refs.append(weakref.ref(coro, functools.partial(self._call_freed, call_id)))

    def _call_freed(self, call_id: str, _ref: Any) -> None:
        """LiteLLM's call coroutine was freed: it returned, raised, or was cancelled. Runs
        where the last reference went, during the unwinding of a cancellation (before
        ``asyncio.timeout`` takes the cancellation back): only decides, and schedules."""
        watch = self._watches.get(call_id)
        if watch is None:
            return
        frame, watch.frame = watch.frame, None
        if _being_cancelled(watch):
            self._schedule(call_id, watch)
            return
        stream = frame.f_locals.get("result") if watch.stream and frame is not None else None
        chunks = getattr(stream, "chunks", None)
        if isinstance(chunks, list):
            watch.chunks = chunks  # the stream keeps appending to this list
            try:
                watch.state = vars(stream)
                watch.held = weakref.ref(stream, functools.partial(self._stream_freed, call_id))
                watch.refs.append(watch.held)
            except TypeError:
                pass
        elif not watch.stream:
            self._unwatch(call_id)  # returned or failed: LiteLLM reports it

    def _stream_freed(self, call_id: str, _ref: Any) -> None:
        """The stream LiteLLM returned is gone. Cancelled, or let go before its last chunk
        (``asyncio.timeout`` took the cancellation back before the stream was released, or
        the consumer stopped reading): LiteLLM reports it never, so it is recorded now."""
        watch = self._watches.get(call_id)
        if watch is None:
            # Recorded as cancelled already. Freed unfinished, it was not read to its end;
            # read to its end, its success event is still to come. No lock (this may run
            # inside the garbage collector).
            cut = self._cut.get(call_id)
            if cut is not None and _unfinished(cut[2]):
                self._cut.pop(call_id, None)
            return
        if _being_cancelled(watch):
            self._schedule(call_id, watch)
        elif watch.state is not None and _unfinished(watch.state):
            self._schedule(call_id, watch, GeneratorExit)

    def _task_ended(self, call_id: str, task: asyncio.Task[Any]) -> None:
        watch = self._watches.get(call_id)
        if watch is None:
            return
        if _being_cancelled(watch):
            self._cancelled(call_id)
        else:
            # Ended without a cancellation: the call's own events (or the loop's end) record it.
            self._watches.pop(call_id, None)

    def _schedule(
        self, call_id: str, watch: CallWatch, error: type[BaseException] = asyncio.CancelledError
    ) -> None:
        try:
            watch.loop.call_soon_threadsafe(self._cancelled, call_id, error)
        except RuntimeError:  # the loop is closed
            self._cancelled(call_id, error)

    def _unwatch(self, call_id: str) -> None:
        watch = self._watches.pop(call_id, None)
        if watch is None or watch.task.done():
            return
        if threading.get_ident() == watch.thread:
            watch.task.remove_done_callback(watch.on_done)
            return
        try:  # a sync event on LiteLLM's logging thread
            watch.loop.call_soon_threadsafe(watch.task.remove_done_callback, watch.on_done)
        except RuntimeError:
            pass

    def _cancelled(self, call_id: str, error: type[BaseException] = asyncio.CancelledError) -> None:
        """Record a cancelled call, once, and settle its hold on that record: the prompt
        (counted, flagged estimated) when the request went out; for a stream, also the
        text it had delivered (``error``: ``GeneratorExit`` for a stream let go unfinished).
        No request sent (cancelled before LiteLLM sent it): the hold is released and
        nothing is recorded."""
        watch = self._watches.pop(call_id, None)
        if watch is None:
            return
        if not watch.task.done():
            watch.task.remove_done_callback(watch.on_done)
        with self._lock:
            if call_id in self._done:
                return  # its end event came first
            expected = self._expected.get(call_id)
            run_id = self._open.get(call_id)
        if not watch.stream and expected is not None and expected.response is not None:
            return  # the call returned before the cancellation: its success event records it
        if watch.stream and watch.state is not None and not _unfinished(watch.state):
            return  # read to its end: its success event records it (or the loop's end does)
        record, reservation = self._record_cut(
            call_id, run_id, error, watch.chunks if watch.stream else None, watch.stream
        )
        if record is not None and watch.held is not None and watch.held() is not None and watch.state:
            with self._lock:  # still referenced: it may yet be read to its end (_late_success)
                self._remember(self._cut, call_id, (record, watch.held, watch.state, reservation))

    def _late_success(self, kwargs: Mapping[str, Any], response: Any) -> None:
        """LiteLLM's success event for a stream already recorded as cancelled: whatever
        still held it read it to its end, and the provider billed the whole answer. The
        cancelled record stands (PostgreSQL keeps the first record of an id; other stores
        would add a second); a second record, tagged ``litellm.cancelled`` =
        ``late_success``, carries the provider's usage and price beyond it, so the two add
        up to what the provider reported (a count the cancelled record estimated above the
        provider's stays, tagged ``litellm.late_overcount``). The budget hold settled on
        the cancelled record is charged the rest too: the provider billed it."""
        call_id = str(kwargs.get("litellm_call_id") or "")
        with self._lock:
            entry = self._cut.pop(call_id, None)
        if entry is None or self._replaced():
            return
        cut = entry[0]
        try:
            raw = response.get("usage") if isinstance(response, Mapping) else getattr(response, "usage", None)
            usage = usage_from_litellm(raw)
            if usage is None or not (usage.input_tokens or usage.output_tokens):
                return  # the provider reported nothing: the cancelled record's estimate stands
            rest_in = max(usage.input_tokens - cut.input_tokens, 0)
            rest_out = max(usage.output_tokens - cut.output_tokens, 0)
            cached = min(usage.cache_read_tokens, rest_in)
            rest = TokenUsage(
                input_tokens=rest_in,
                output_tokens=rest_out,
                cache_read_tokens=cached,
                cache_write_tokens=min(usage.cache_write_tokens, rest_in - cached),
                reasoning_tokens=min(usage.reasoning_tokens, rest_out),
            )
            full = self.tracker.price(usage, cut.model, cut.provider, at=cut.timestamp)[0].total
            run = self.tracker.start_llm(
                f"{cut.request_id}:late", None, model=cut.model, provider=cut.provider,
                name=cut.model, metadata=_metadata_of(kwargs),
            )  # fmt: skip
            tags = {"litellm.cancelled": "late_success", "litellm.late_of": cut.request_id}
            over = max(cut.input_tokens - usage.input_tokens, 0) + max(
                cut.output_tokens - usage.output_tokens, 0
            )
            if over:
                tags["litellm.late_overcount"] = str(over)
            self.tracker.annotate(run.run_id, tags)
            extra_usd = max(full - cut.cost_usd, 0.0)
            self.tracker.end_llm(run.run_id, rest, model=cut.model, billed_usd=extra_usd)
        except Exception:
            if self.tracker.strict:
                raise
            logger.exception("llm-cost-hooks: the late answer of a cancelled LiteLLM stream not recorded")
            return
        if entry[3] is not None:
            try:  # after the record: a spend store's failure never costs it
                entry[3]._settle_late(extra_usd, rest_in, rest_out, cut.input_tokens + cut.output_tokens)
            except Exception:
                logger.exception(
                    "llm-cost-hooks: charging the budget the late answer of a cancelled call failed"
                )

    def _cut_at_loop_end(self, call_id: str, run_id: str) -> bool:
        """A stream still held when its loop ended: recorded as cut (True) when its task
        was cancelled or it did not get to the provider's end."""
        watch = self._watches.pop(call_id, None)
        if watch is None or not watch.stream or watch.state is None:
            return False
        cancelled = watch.task.done() and watch.task.cancelled()
        if not cancelled and not _unfinished(watch.state):
            return False
        error = asyncio.CancelledError if cancelled else GeneratorExit
        self._record_cut(call_id, run_id, error, watch.chunks, True)
        return True

    def _record_cut(
        self,
        call_id: str,
        run_id: str | None,
        error: type[BaseException],
        chunks: list[Any] | None,
        stream: bool,
    ) -> tuple[CostRecord | None, Any]:
        """Write the record of a call cut short (cancelled, or a stream let go): failed with
        ``error``, the prompt and any delivered text counted (``tokens_estimated``), tagged;
        settle its hold on that record and end its bookkeeping, whatever happens. Returns
        the record and the settled reservation (None without a guard)."""
        record = reservation = None
        try:
            run = self.tracker._runs.get(run_id) if run_id is not None else None
            if run is not None and not self._replaced():
                tags = {"litellm.cancelled": "stream" if stream else "request"}
                if stream:
                    tags["stream.outcome"] = "cancelled"
                self.tracker.annotate(run.run_id, tags)
                text = _delivered_text(chunks) if stream else ""
                record = self.tracker.error_llm(run.run_id, error(), output_text=text or None)
                reservation = self.holds.settle_record(call_id, record)
        except Exception:
            if self.tracker.strict:
                raise
            logger.exception("llm-cost-hooks: recording a LiteLLM call cut short failed")
        finally:
            self._release(call_id)  # whatever the settlement left
            if self.dedup is not None:
                self.dedup.fail(call_id, error())
            self._finish(call_id, success=False)
        return record, reservation
