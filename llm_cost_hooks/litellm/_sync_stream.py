"""Sync LiteLLM streams left part-way (``break``, an exception in the caller's loop).

LiteLLM reports a stream only once it is read to its end: ``completion(stream=True)``
read part-way and dropped gets no event at all. Its prompt was sent and its chunks were
delivered, so the provider bills them.

LiteLLM hands each chunk of a sync stream to its callbacks' ``log_stream_event`` on its
logging pool, from a method of the stream itself: at the first chunk, the stream is taken
from that frame (a few frames up, no tracing) and watched with a weak reference. Freed
before its last chunk was sent, it is recorded with the prompt and the text it had
delivered, as ``._cancel`` records an async stream let go unfinished, and its budget hold
is settled on that record. So is one whose first read was cut (an exception raised into
it, such as a signal's timeout) and that LiteLLM then ended with nothing from the
provider: LiteLLM reports no usage for it.

A stream never read (or closed, or dropped, before its first chunk) logs no chunk. Its
request was sent, though: LiteLLM calls ``log_pre_api_call`` from its logging object's
``pre_call`` before it, and the stream holds that object. The logging object of a sync
stream call is watched with a weak reference until the first chunk is logged; freed
before that with no end event, the call is recorded with its prompt, as cancelled.
LiteLLM gives no hook when a stream is closed, so a closed stream still held is recorded
when it is freed (or at exit).
"""

from __future__ import annotations

import functools
import sys
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from ._cancel import _CancelWatch, _unfinished

__all__: list[str] = []

_CHUNK_LOGGER = "run_success_logging_and_cache_storage"  # CustomStreamWrapper's per-chunk logging
_PRE_CALL = "pre_call"  # Logging.pre_call: LiteLLM's caller of log_pre_api_call


class _SyncStreamWatch(_CancelWatch):
    """The sync-stream half of :class:`~llm_cost_hooks.litellm.CostHooksLogger`."""

    _sync_streams: dict[str, tuple[weakref.ref[Any], list[Any], dict[str, Any]]]
    _unread: dict[str, weakref.ref[Any]]

    def _watch_unread(self, kwargs: Mapping[str, Any]) -> None:
        """Called from ``log_pre_api_call`` of a stream, on the caller's thread: watch a sync
        stream's logging object (async calls are ``._cancel``'s) until its first chunk."""
        call_id = kwargs.get("litellm_call_id")
        params = kwargs.get("litellm_params")
        if not isinstance(call_id, str) or (isinstance(params, Mapping) and params.get("acompletion")):
            return
        if getattr(sys.modules.get("litellm"), "disable_streaming_logging", False):
            return  # no chunk (nor the end) is logged: a stream read to its end would look unread
        frame: Any = sys._getframe(2)  # ours <- log_pre_api_call <- Logging.pre_call
        if frame is None or frame.f_code.co_name != _PRE_CALL:
            return
        try:
            ref = weakref.ref(frame.f_locals["self"], functools.partial(self._unread_freed, call_id))
        except (KeyError, TypeError):
            return
        self._unread[call_id] = ref

    def _unread_freed(self, call_id: str, _ref: Any) -> None:
        # The stream (the logging object's holder) is gone before its first chunk was
        # logged: recorded with its prompt, as a sync stream let go part-way is. No lock
        # taken: like _sync_stream_freed, this may run inside the garbage collector.
        if self._unread.pop(call_id, None) is not None:  # else a chunk came: the stream is watched
            self._sync_stream_freed(call_id, [], {}, None)

    def _watch_sync_stream(self, kwargs: Mapping[str, Any]) -> None:
        """Called from ``log_stream_event`` (one chunk of a sync stream, on LiteLLM's logging
        pool): the first time for a call, find the stream and watch it."""
        call_id = kwargs.get("litellm_call_id")
        if not isinstance(call_id, str) or call_id in self._sync_streams:
            return
        with self._lock:
            self._unread.pop(call_id, None)  # from now on the stream is watched, not its logging object
            if call_id in self._done or call_id not in self._open:
                return
        frame: Any = sys._getframe(1)
        for _ in range(12):  # our hook <- LiteLLM's success_handler <- the stream's method
            if frame is None:
                return
            if frame.f_code.co_name == _CHUNK_LOGGER:
                self._stream_returned(call_id, frame.f_locals.get("self"))
                return
            frame = frame.f_back

    def _stream_returned(self, call_id: str, stream: Any) -> None:
        chunks = getattr(stream, "chunks", None)
        if not isinstance(chunks, list):
            return  # the call failed, or returned no LiteLLM stream
        try:
            state = vars(stream)  # read once the stream is gone
            ref = weakref.ref(stream, functools.partial(self._sync_stream_freed, call_id, chunks, state))
        except TypeError:
            return
        with self._lock:
            self._sync_streams.setdefault(call_id, (ref, chunks, state))

    def _sync_stream_freed(self, call_id: str, chunks: list[Any], state: dict[str, Any], _ref: Any) -> None:
        # Runs wherever the last reference went (often LiteLLM's logging pool, which holds
        # the stream until its per-chunk work is done), maybe inside the garbage collector
        # while this thread holds one of our locks: the record is written on a thread of
        # its own. No thread starts once the interpreter is finalizing.
        self._sync_streams.pop(call_id, None)
        if not _unfinished(state):
            return  # read to its end: LiteLLM's success event records it
        if sys.is_finalizing():
            self._abandoned(call_id, chunks)
            return
        try:
            threading.Thread(
                target=self._abandoned, args=(call_id, chunks), name="llm-cost-hooks-stream", daemon=True
            ).start()
        except RuntimeError:
            self._abandoned(call_id, chunks)

    def _record_open_sync_streams(self) -> int:
        """At exit, before the ledgers close: the streams still held unfinished (a global,
        a cycle) will never be read on; record them now. Returns how many."""
        with self._lock:
            held = list(self._sync_streams.items())
            held += [(call_id, (ref, [], {})) for call_id, ref in self._unread.items()]
            self._sync_streams.clear()
            self._unread.clear()
        count = 0
        for call_id, (_ref, chunks, state) in held:
            if _unfinished(state):
                self._abandoned(call_id, chunks)
                count += 1
        return count

    def _abandoned(self, call_id: str, chunks: list[Any]) -> None:
        """Record a sync stream freed before its last chunk, once: the prompt and the
        delivered text, counted (``tokens_estimated``), error type ``GeneratorExit``; its
        hold is settled on that record."""
        with self._lock:
            if call_id in self._done:
                return  # its end event (or the async watch) came first
            run_id = self._open.get(call_id)
        self._record_cut(call_id, run_id, GeneratorExit, chunks, True)
