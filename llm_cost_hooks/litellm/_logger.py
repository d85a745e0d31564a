"""LiteLLM adapter: a ``CustomLogger`` that feeds LiteLLM calls to a :class:`CostTracker`.

The class is assembled from its parts: :mod:`._events` (log events to records),
:mod:`._hooks` (pre-call work) and :mod:`._state` (what they share). These are the modules
that import LiteLLM; they load when ``llm_cost_hooks.litellm.CostHooksLogger`` is first
touched, never with ``import llm_cost_hooks``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import litellm
from litellm.integrations.custom_logger import CustomLogger

from .. import _shutdown
from .._adapter import TrackerAdapterMixin
from ..budget._requests import Holds, check_hook_options, coerce_prompt_cache
from ..ledger import Ledger
from ..pricing._compare import CostChecks
from ..tracking import CostTracker, RunObserver
from ._budget import charge_after, warn_if_unprepared
from ._events import _EventRecorder
from ._hooks import _PreCallHooks
from ._state import CACHE_MARKER_KEY, CostComparison, Expected, in_callbacks, registry_id
from ._state import _metadata_of as _metadata_of  # used by ._dedup from here
from ._sync_stream import _SyncStreamWatch

logger = logging.getLogger("llm_cost_hooks")

__all__ = ["CACHE_MARKER_KEY", "CostComparison", "CostHooksLogger", "install", "uninstall"]


class CostHooksLogger(TrackerAdapterMixin, _SyncStreamWatch, _PreCallHooks, _EventRecorder, CustomLogger):
    """Records the tokens, dollars and attribution of every LiteLLM call.

    Register it once: ``litellm.callbacks = [CostHooksLogger(...)]``. It works for
    ``completion`` / ``acompletion`` (streaming or not), the ``Router`` and the LiteLLM
    proxy, feeding the same :class:`~llm_cost_hooks.CostTracker` (ledger, observers such
    as the OpenTelemetry spans and metrics) as the LangChain handler.

    * Attribution comes from ``defaults`` and the call's ``metadata`` (keys ``tenant_id``,
      ``user_id`` (hashed), ``feature``, ``route``, ``prompt_version``, ``task_id``,
      ``cost_tags``), the same keys as the LangChain handler. Behind the proxy, a tenant
      the operator bound to the virtual key (``{"tenant_id": ...}`` in the key's or its
      team's metadata) is the tenant; a request naming another one is refused (403), and
      ``require_bound_tenant=True`` also refuses keys bound to none.
    * The run id (the record's ``request_id``) is LiteLLM's ``litellm_call_id``; a retry
      of the same call (``num_retries``) counts as the next ``attempt``.
    * Each call is priced by our price book and checked against LiteLLM's own
      ``response_cost``: when they differ by more than ``cost_tolerance`` (relative), the
      record is tagged ``litellm_cost_usd`` / ``cost_mismatch`` and a warning is logged
      once per model. :attr:`comparisons` keeps the last comparisons.

    Nothing here does I/O on the caller's thread: records go to the ledger's background
    writer, and a failure of ours is logged, never raised into LiteLLM.

    >>> import litellm
    >>> from llm_cost_hooks.litellm import CostHooksLogger
    >>> cost_logger = CostHooksLogger(ledger="memory://", defaults={"tenant_id": "acme"})
    >>> litellm.callbacks = [cost_logger]
    >>> _ = litellm.completion(model="gpt-4o-mini", mock_response="hi",
    ...     messages=[{"role": "user", "content": "hello"}], metadata={"feature": "faq"})
    >>> cost_logger.flush(); litellm.callbacks = []
    True
    """

    def __init__(
        self,
        ledger: str | Ledger | None = None,
        *,
        defaults: Mapping[str, Any] | None = None,
        price_book: Any = None,
        token_counter: Any = None,
        observers: Sequence[RunObserver] = (),
        strict: bool = False,
        tracker: CostTracker | None = None,
        cost_tolerance: float = 0.01,
        keep_comparisons: int = 1000,
        guard: Any = None,
        context_budget: Any = None,
        prompt_cache: Any = False,
        dedup: Any = None,
        derive_dedup_key: bool = False,
        require_bound_tenant: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(cost_tolerance, (int, float)) or cost_tolerance < 0 or math.isnan(cost_tolerance):
            from .._errors import ConfigurationError

            raise ConfigurationError(
                f"cost_tolerance must be a non-negative fraction (e.g. 0.01 for 1%), got {cost_tolerance!r}."
            )
        check_hook_options(guard=guard, context_budget=context_budget)
        self.tracker = tracker or CostTracker(
            ledger=ledger,
            price_book=price_book,
            token_counter=token_counter,
            defaults=defaults,
            observers=observers,
            strict=strict,
        )
        self.cost_tolerance = float(cost_tolerance)
        self.cost_check = CostChecks(keep_comparisons)
        self.comparisons = self.cost_check.comparisons
        self.cost_checks = self.cost_check.counts
        self._lock = threading.Lock()
        self._open: dict[str, str] = {}  # litellm_call_id -> our open run id
        # Calls whose run the tracker no longer holds (ended stale, see _prune_open): found
        # so at the last prune; dropped if still so at the next one.
        self._open_dead: set[str] = set()
        self._open_prune_at = 256
        self._attempts: OrderedDict[str, int] = OrderedDict()
        self._done: OrderedDict[str, None] = OrderedDict()
        #: A :class:`~llm_cost_hooks.budget.SpendGuard` enforced in the pre-call hooks.
        self.guard = guard
        #: A :class:`~llm_cost_hooks.budget.ContextBudget` the pre-call hooks fit requests into.
        self.context_budget = context_budget
        #: Prompt-cache breakpoint options (None: off).
        self.prompt_cache = coerce_prompt_cache(prompt_cache)
        from ._dedup import hook_dedup

        #: Single-flight of identical / same-key requests in the pre-call hooks (None: off).
        self.dedup = hook_dedup(dedup, derive=derive_dedup_key) if dedup is not None else None
        #: Proxy: refuse requests from virtual keys bound to no tenant (see docs/security.md).
        self.require_bound_tenant = bool(require_bound_tenant)
        self.holds = Holds()
        self._prepared: OrderedDict[str, None] = OrderedDict()  # call ids a pre-call hook handled
        self._unprepared_warned = False  # a sync call went around the pre-call work (said once)
        self._pending_tags: dict[str, dict[str, str]] = {}  # call id -> tags for its record
        self._refused: OrderedDict[str, None] = OrderedDict()  # call ids our hook refused
        self._shared: OrderedDict[str, str] = OrderedDict()  # call id -> dedup source (served, not called)
        # Runs re-opened by a retry after LiteLLM already reported the call's failure: it may
        # report their end or not, so flush() does not wait for them and old ones are dropped.
        self._tentative: OrderedDict[str, float] = OrderedDict()
        self._expected: OrderedDict[str, Expected] = OrderedDict()  # async calls awaiting their event
        self._watches = {}  # async calls in flight, watched for a cancellation (see ._cancel)
        self._cut = OrderedDict()  # cancelled records of streams still held (see ._cancel)
        self._sync_streams = {}  # sync streams returned, watched until freed (see ._sync_stream)
        self._unread = {}  # sync streams sent, no chunk logged yet (see ._sync_stream)
        #: Unique per logger (see ``registry_id``): without it, a logger put in
        #: ``litellm.callbacks`` after another one was used would record nothing.
        self.logger_id = registry_id(self)
        self._listed = False  # seen in litellm.callbacks (see _replaced)
        self._warned_replaced = False
        # Before the ledgers close at exit: LiteLLM's own exit flush of the same events
        # would come after them and find the ledger closed.
        _shutdown.register(_shutdown.TRACKERS, self, _deliver_at_exit)

    # -- conveniences ------------------------------------------------------------------
    def flush(self, timeout: float = 10.0) -> bool:
        """Wait (up to ``timeout`` s) for calls already started to be recorded -- LiteLLM
        delivers sync success events on its logging thread, a little after ``completion``
        returns -- then flush the ledger. Returns False on timeout."""
        deadline = time.monotonic() + timeout
        _deliver_events_of_ended_loops(deadline)
        self._record_lost_events()
        waiting = self._in_flight()
        while waiting and time.monotonic() < deadline:
            time.sleep(0.002)
            waiting = self._still_in_flight(waiting)
        return self.tracker.flush(max(deadline - time.monotonic(), 0.1)) and not waiting

    async def aflush(self, timeout: float = 10.0) -> bool:
        """:meth:`flush` for async code: first let LiteLLM's async logging worker deliver
        the events it queued on this event loop (they are lost if the loop closes first,
        e.g. at the end of ``asyncio.run``), then flush without blocking the loop."""
        import asyncio

        try:
            from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

            await asyncio.wait_for(GLOBAL_LOGGING_WORKER.flush(), timeout)
        except (ImportError, AttributeError):  # an older LiteLLM without the worker
            pass
        except asyncio.TimeoutError:
            return False
        return await asyncio.to_thread(self.flush, timeout)

    # -- SDK entry points doing the pre-call work themselves ------------------------------------
    def completion(self, **kwargs: Any) -> Any:
        """``litellm.completion(**kwargs)`` with this logger's pre-call work (context
        budget, prompt cache, spend guard). LiteLLM runs no request-changing hook for sync
        SDK calls, so this is the sync way in; ``acompletion`` needs no wrapper once the
        logger is in ``litellm.callbacks``.

        >>> from llm_cost_hooks.budget import ContextBudget, SegmentBudgets
        >>> cl = CostHooksLogger(ledger="memory://", context_budget=ContextBudget(SegmentBudgets(output=50)))
        >>> r = cl.completion(model="gpt-4o-mini", mock_response="hi", max_tokens=500,
        ...                   messages=[{"role": "user", "content": "hello"}])
        >>> r.choices[0].message.content
        'hi'
        """
        import litellm

        call_id = self._call_id(kwargs)
        given = kwargs.get("metadata")
        metadata: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        self._pre_call_sync(kwargs, call_id, str(kwargs.get("model") or ""), metadata)
        try:
            return litellm.completion(**kwargs)
        except BaseException:
            self._release(call_id)
            raise

    async def acompletion(self, **kwargs: Any) -> Any:
        """``litellm.acompletion(**kwargs)`` with this logger's pre-call work, also when the
        logger is not in ``litellm.callbacks`` (then no record is written)."""
        import litellm

        call_id = self._call_id(kwargs)
        given = kwargs.get("metadata")
        metadata: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        await self._apre_call(kwargs, call_id, str(kwargs.get("model") or ""), metadata)
        try:
            response = await litellm.acompletion(**kwargs)
        except BaseException as exc:
            self._release(call_id)
            if self.dedup is not None:
                self.dedup.fail(call_id, exc)
            raise
        if self.dedup is not None and not kwargs.get("stream"):
            self.dedup.complete(call_id, response)  # no-op if the success hook already did
        return response

    def _replaced(self) -> bool:
        """True when this logger was taken out of ``litellm.callbacks`` and another
        CostHooksLogger put there (``litellm.callbacks = [new]``): LiteLLM still calls it
        from its internal lists, and recording here too would count each call twice."""
        if in_callbacks(self):
            self._listed = True
            return False
        if not self._listed or not any(isinstance(cb, CostHooksLogger) for cb in litellm.callbacks):
            return False  # never registered there (per-call callbacks), or nothing replaced it
        if not self._warned_replaced:
            self._warned_replaced = True
            logger.warning(
                "llm-cost-hooks: a CostHooksLogger removed from litellm.callbacks still gets LiteLLM's "
                "events; another CostHooksLogger records the calls now and this one ignores them. "
                "llm_cost_hooks.litellm.uninstall(old_logger) removes it from every LiteLLM list."
            )
        return True

    # -- LiteLLM CustomLogger API (parameter names matter: LiteLLM passes keywords) -----
    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        if not self._replaced():
            self._on_pre(model, messages, kwargs)
            charge_after(self, kwargs)  # a sync call: charged to the guard when it ends
            if kwargs.get("stream"):
                self._watch_unread(kwargs)

    def log_stream_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        if not self._replaced():
            self._watch_sync_stream(kwargs)

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        if not self._replaced():
            warn_if_unprepared(self, kwargs)
            charge_after(self, kwargs, at_end=True)  # a call LiteLLM sent no pre-call event for
            self._on_success(kwargs, response_obj, start_time, end_time)

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        if not self._replaced():
            warn_if_unprepared(self, kwargs)
            self._on_failure(kwargs, response_obj, start_time, end_time)

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        if not self._replaced():
            self._on_success(kwargs, response_obj, start_time, end_time)

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        if not self._replaced():
            self._on_failure(kwargs, response_obj, start_time, end_time)


def install(cost_logger: CostHooksLogger | None = None, /, **kwargs: Any) -> CostHooksLogger:
    """Add a :class:`CostHooksLogger` to ``litellm.callbacks`` (one is built from
    ``kwargs`` when none is given) and return it.

    >>> from llm_cost_hooks.litellm import install, uninstall
    >>> cost_logger = install(ledger="memory://")
    >>> uninstall(cost_logger)
    """
    import litellm

    cost_logger = cost_logger or CostHooksLogger(**kwargs)
    if cost_logger not in litellm.callbacks:
        litellm.callbacks = [*litellm.callbacks, cost_logger]
    return cost_logger


def _deliver_events_of_ended_loops(deadline: float) -> int:
    """Run the async success events LiteLLM's logging worker still holds for an event loop
    that has ended, and return how many ran.

    ``asyncio.run(litellm.acompletion(...))`` returns before the worker delivers the call's
    success event; LiteLLM keeps it for the next event loop or for its own exit flush. Only
    events of a closed loop are taken (a running or paused loop delivers its own), never
    from inside a running loop (:meth:`CostHooksLogger.aflush` is the way there), and none
    on a LiteLLM without this worker.
    """
    import asyncio
    import sys

    module = sys.modules.get("litellm.litellm_core_utils.logging_worker")
    worker = getattr(module, "GLOBAL_LOGGING_WORKER", None)
    queue = getattr(worker, "_queue", None)
    bound = getattr(worker, "_bound_loop", None)
    if queue is None or bound is None or not bound.is_closed():
        return 0
    try:
        asyncio.get_running_loop()
        return 0
    except RuntimeError:
        pass
    ran = 0
    loop: asyncio.AbstractEventLoop | None = None
    # Taken off the queue by the worker but never started: LiteLLM would run them on a later
    # loop, with whatever callbacks are listed then.
    unstarted = list(getattr(worker, "_unstarted_dequeued_tasks", tuple)())
    try:
        while time.monotonic() < deadline:
            if unstarted:
                task = unstarted.pop()
                getattr(worker, "_untrack_dequeued", lambda t: None)(task)
            else:
                try:
                    task = queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
            coroutine = task.get("coroutine") if isinstance(task, dict) else None
            if coroutine is None:
                continue
            if loop is None:
                loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(asyncio.wait_for(coroutine, max(deadline - time.monotonic(), 0.05)))
                ran += 1
            except (Exception, asyncio.CancelledError) as exc:  # another callback's failure
                logger.warning(
                    "llm-cost-hooks: a LiteLLM success event left by an ended event loop failed "
                    "when delivered (%s)",
                    type(exc).__name__,
                )
    except Exception:  # LiteLLM's worker changed shape: its own exit flush applies
        logger.debug("llm-cost-hooks: LiteLLM's queued events not delivered here", exc_info=True)
    finally:
        if loop is not None:
            loop.close()
    return ran


def _deliver_at_exit(owner: CostHooksLogger, deadline: float) -> None:
    _deliver_events_of_ended_loops(deadline)
    owner._record_lost_events()
    owner._record_open_sync_streams()


def uninstall(cost_logger: CostHooksLogger | None = None) -> None:
    """Remove one installed logger (all :class:`CostHooksLogger` s when None) from every
    LiteLLM callback list, and flush it."""
    import litellm

    lists = ("callbacks", "success_callback", "failure_callback", "_async_success_callback",
             "_async_failure_callback", "input_callback", "service_callback")  # fmt: skip
    # Let calls already started be recorded first: their events still need the callback.
    for name in lists:
        for cb in list(getattr(litellm, name, None) or []):
            if isinstance(cb, CostHooksLogger) and (cost_logger is None or cb is cost_logger):
                cb.flush()
    removed: list[CostHooksLogger] = []
    for name in lists:
        current = getattr(litellm, name, None)
        if not isinstance(current, list):
            continue
        keep = []
        for cb in current:
            if isinstance(cb, CostHooksLogger) and (cost_logger is None or cb is cost_logger):
                removed.append(cb)
            else:
                keep.append(cb)
        current[:] = keep
    for cb in {id(c): c for c in removed}.values():
        cb.flush()
