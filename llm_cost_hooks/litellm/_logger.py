"""LiteLLM adapter: a ``CustomLogger`` that feeds LiteLLM calls to a :class:`CostTracker`.

This is one of the only modules that imports LiteLLM; it is loaded when
``llm_cost_hooks.litellm.CostHooksLogger`` is first touched, never by ``import
llm_cost_hooks``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from .._adapter import TrackerAdapterMixin
from .._records import CacheStatus, CostRecord
from ..ledger import Ledger
from ..tracking import CostTracker, RunInfo, RunObserver
from ._usage import LLMResultView, output_text, usage_from_litellm

__all__ = ["CACHE_MARKER_KEY", "CostComparison", "CostHooksLogger", "install", "uninstall"]

logger = logging.getLogger("llm_cost_hooks")

#: ``response._hidden_params`` key by which our LiteLLM cache marks a hit
#: (``{"status": "exact" | "semantic", "saved_usd": float | None}``); same name as
#: the LangChain side's marker.
CACHE_MARKER_KEY = "llm_cost_hooks_cache"

_PARAM_KEYS = ("temperature", "max_tokens", "max_completion_tokens", "top_p", "top_k",
               "frequency_penalty", "presence_penalty", "stop", "seed", "n")  # fmt: skip
# LiteLLM call types that are model calls; file, batch, model-listing and admin calls
# (which also reach callbacks) are not recorded.
_MODEL_CALL_TYPES = frozenset({
    "completion", "acompletion", "text_completion", "atext_completion", "embedding", "aembedding",
    "responses", "aresponses", "anthropic_messages", "generate_content", "agenerate_content",
})  # fmt: skip
# Chat calls: the only ones whose answers can be shared between deduplicated requests.
_CHAT_CALL_TYPES = frozenset({"completion", "acompletion"})
_MAX_REMEMBERED = 20_000
_MISSING = object()  # call ids kept to number retries and drop duplicate events


@dataclass(frozen=True)
class CostComparison:
    """Our price of one call next to LiteLLM's own ``response_cost`` for it."""

    request_id: str
    model: str
    ours_usd: float
    litellm_usd: float | None
    matched: bool | None  # None: LiteLLM computed no cost


def _metadata_of(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The caller's metadata: ``metadata=`` of the SDK call, or the request metadata a
    proxy forwards (``requester_metadata``), under either of LiteLLM's keys."""
    lp = kwargs.get("litellm_params") or {}
    merged: dict[str, Any] = {}
    for key in ("litellm_metadata", "metadata"):
        md = lp.get(key)
        if isinstance(md, Mapping):
            req = md.get("requester_metadata")
            if isinstance(req, Mapping):
                for k, v in req.items():
                    merged.setdefault(k, v)
            merged.update(md)
    if not merged:
        md = kwargs.get("metadata")
        if isinstance(md, Mapping):
            merged.update(md)
    return merged


class CostHooksLogger(TrackerAdapterMixin, CustomLogger):
    """Records the tokens, dollars and attribution of every LiteLLM call.

    Register it once: ``litellm.callbacks = [CostHooksLogger(...)]``. It works for
    ``completion`` / ``acompletion`` (streaming or not), the ``Router`` and the LiteLLM
    proxy, feeding the same :class:`~llm_cost_hooks.CostTracker` (ledger, observers such
    as the OpenTelemetry spans and metrics) as the LangChain handler.

    * Attribution comes from ``defaults`` and the call's ``metadata`` (keys ``tenant_id``,
      ``user_id`` (hashed), ``feature``, ``route``, ``prompt_version``, ``task_id``,
      ``cost_tags``), the same keys as the LangChain handler.
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
    ) -> None:
        super().__init__()
        if not isinstance(cost_tolerance, (int, float)) or cost_tolerance < 0 or math.isnan(cost_tolerance):
            from .._errors import ConfigurationError

            raise ConfigurationError(
                f"cost_tolerance must be a non-negative fraction (e.g. 0.01 for 1%), got {cost_tolerance!r}."
            )
        self.tracker = tracker or CostTracker(
            ledger=ledger,
            price_book=price_book,
            token_counter=token_counter,
            defaults=defaults,
            observers=observers,
            strict=strict,
        )
        self.cost_tolerance = float(cost_tolerance)
        self.comparisons: deque[CostComparison] = deque(maxlen=keep_comparisons)
        self.cost_checks = {"matched": 0, "mismatched": 0, "unavailable": 0}
        self._lock = threading.Lock()
        self._open: dict[str, str] = {}  # litellm_call_id -> our open run id
        self._attempts: OrderedDict[str, int] = OrderedDict()
        self._done: OrderedDict[str, None] = OrderedDict()
        self._warned: set[str] = set()
        #: A :class:`~llm_cost_hooks.budget.SpendGuard` enforced in the pre-call hooks.
        self.guard = guard
        #: A :class:`~llm_cost_hooks.budget.ContextBudget` the pre-call hooks fit requests into.
        self.context_budget = context_budget
        from ._prepare import coerce_prompt_cache

        #: Prompt-cache breakpoint options (None: off).
        self.prompt_cache = coerce_prompt_cache(prompt_cache)
        from ._dedup import HookDedup

        #: Single-flight of identical / same-key requests in the pre-call hooks (None: off).
        self.dedup = HookDedup(dedup, derive=derive_dedup_key) if dedup is not None else None
        self._reservations: dict[str, Any] = {}
        self._prepared: OrderedDict[str, None] = OrderedDict()  # call ids a pre-call hook handled
        self._pending_tags: dict[str, dict[str, str]] = {}  # call id -> tags for its record
        self._refused: OrderedDict[str, None] = OrderedDict()  # call ids our hook refused
        self._shared: OrderedDict[str, str] = OrderedDict()  # call id -> dedup source (served, not called)
        # Runs re-opened by a retry after LiteLLM already reported the call's failure: it may
        # report their end or not, so flush() does not wait for them and old ones are dropped.
        self._tentative: OrderedDict[str, float] = OrderedDict()

    # -- conveniences ------------------------------------------------------------------
    def flush(self, timeout: float = 10.0) -> bool:
        """Wait (up to ``timeout`` s) for calls already started to be recorded -- LiteLLM
        delivers sync success events on its logging thread, a little after ``completion``
        returns -- then flush the ledger. Returns False on timeout."""
        deadline = time.monotonic() + timeout
        stale_ns = time.perf_counter_ns() - 300 * 10**9  # a call open for 5 min is not waited for
        waiting = {
            rid
            for rid in list(self._open.values())
            if rid not in self._tentative
            and (run := self.tracker._runs.get(rid)) is not None
            and run.start_ns > stale_ns
        }
        while waiting and time.monotonic() < deadline:
            time.sleep(0.002)
            waiting = {rid for rid in waiting if rid in self.tracker._runs}
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

    # -- run bookkeeping ---------------------------------------------------------------
    def _remember(self, table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > _MAX_REMEMBERED:
            table.popitem(last=False)

    def _start(self, kwargs: Mapping[str, Any], model: str | None, messages: Any) -> RunInfo | None:
        call_id = kwargs.get("litellm_call_id")
        if not call_id:
            return None
        call_type = kwargs.get("call_type")
        kind = str(getattr(call_type, "value", call_type)) if call_type is not None else "acompletion"
        if kind not in _MODEL_CALL_TYPES:
            return None
        call_id = str(call_id)
        with self._lock:
            attempt = self._attempts.get(call_id, 0) + 1
            self._remember(self._attempts, call_id, attempt)
            open_id = self._open.get(call_id)
            if open_id is None:
                run_id = call_id if attempt == 1 else f"{call_id}:{attempt}"
                self._open[call_id] = run_id
                if self._done.pop(call_id, _MISSING) is not _MISSING:
                    self._tentative[run_id] = time.monotonic()
                self._drop_stale_tentative()
        if open_id is not None:
            # Same call id started again before it ended: LiteLLM retried it silently.
            run = self.tracker._runs.get(open_id)
            if run is not None:
                run.attempt = attempt
            return run
        optional = kwargs.get("optional_params") or {}
        params = {k: optional[k] for k in _PARAM_KEYS if optional.get(k) is not None}
        if kwargs.get("stream"):
            params["stream"] = True
        model_name = str(model or kwargs.get("model") or "unknown")
        metadata = _metadata_of(kwargs)
        if metadata.get("model_group"):
            # A Router call: its retries and fallbacks are new calls of one trace, and
            # metadata["previous_models"] lists the attempts that failed before this one.
            previous = metadata.get("previous_models")
            if isinstance(previous, (list, tuple)) and previous:
                attempt = max(attempt, len(previous) + 1)
            trace = kwargs.get("litellm_trace_id")
            if trace and not metadata.get("task_id"):
                metadata["task_id"] = str(trace)
        run = self.tracker.start_llm(
            run_id,
            None,
            model=model_name,
            provider=kwargs.get("custom_llm_provider") or None,
            name=model_name,
            params=params,
            metadata=metadata,
            messages=messages if messages is not None else kwargs.get("messages"),
        )
        run.attempt = attempt
        tags = self._pending_tags.pop(call_id, None)
        if tags:
            self.tracker.annotate(run_id, tags)
        return run

    def _drop_stale_tentative(self, max_age: float = 600.0) -> None:
        # Called under self._lock.
        now = time.monotonic()
        while self._tentative:
            run_id, since = next(iter(self._tentative.items()))
            if now - since < max_age:
                break
            self._tentative.popitem(last=False)
            self.tracker._runs.pop(run_id, None)
            for cid, rid in list(self._open.items()):
                if rid == run_id:
                    del self._open[cid]

    def _take(self, kwargs: Mapping[str, Any]) -> tuple[str, RunInfo] | None:
        """The open run of the call an end event is about (started now if its start was
        not seen, e.g. a cache hit); None for a duplicate event."""
        call_id = kwargs.get("litellm_call_id")
        if not call_id:
            return None
        call_id = str(call_id)
        with self._lock:
            run_id = self._open.get(call_id)
            if run_id is None and call_id in self._done:
                return None  # the same end delivered twice (sync and async paths)
        if run_id is None:
            run = self._start(kwargs, None, None)
            if run is None:
                return None
            run_id = run.run_id
        run = self.tracker._runs.get(run_id)
        if run is None:
            return None
        return call_id, run

    def _finish(self, call_id: str, *, success: bool) -> None:
        with self._lock:
            self._prepared.pop(call_id, None)
            self._shared.pop(call_id, None)
            run_id = self._open.pop(call_id, None)
            if run_id is not None:
                self._tentative.pop(run_id, None)
            self._remember(self._done, call_id, None)
            if success:
                self._attempts.pop(call_id, None)

    @staticmethod
    def _use_litellm_timing(run: RunInfo, start_time: Any, end_time: Any) -> None:
        # Sync success events arrive on LiteLLM's logging thread, later than the call
        # ended: take the duration LiteLLM measured instead of our clock.
        if isinstance(start_time, datetime) and isinstance(end_time, datetime):
            seconds = (end_time - start_time).total_seconds()
            if seconds >= 0:
                run.start_ns = time.perf_counter_ns() - int(seconds * 1e9)

    # -- cost check --------------------------------------------------------------------
    @staticmethod
    def _litellm_cost(kwargs: Mapping[str, Any]) -> float | None:
        cost = kwargs.get("response_cost")
        if cost is None:
            slo = kwargs.get("standard_logging_object")
            if isinstance(slo, Mapping):
                cost = slo.get("response_cost")
        if isinstance(cost, (int, float)) and not isinstance(cost, bool) and math.isfinite(cost):
            return float(cost)
        return None

    def _check_cost(self, run: RunInfo, model: str, ours: float, theirs: float | None) -> None:
        if theirs is None:
            matched = None
            self.cost_checks["unavailable"] += 1
        else:
            scale = max(abs(ours), abs(theirs))
            matched = abs(ours - theirs) <= max(1e-12, self.cost_tolerance * scale)
            self.cost_checks["matched" if matched else "mismatched"] += 1
            if not matched:
                self.tracker.annotate(
                    run.run_id, {"litellm_cost_usd": f"{theirs:.10g}", "cost_mismatch": "true"}
                )
                if model not in self._warned:
                    self._warned.add(model)
                    logger.warning(
                        "llm-cost-hooks: our price of %r ($%.10g) differs from LiteLLM's "
                        "response_cost ($%.10g) by more than %.2g%%; the record is tagged "
                        "cost_mismatch. Check price overrides or LiteLLM's price map version.",
                        model,
                        ours,
                        theirs,
                        self.cost_tolerance * 100,
                    )
        self.comparisons.append(CostComparison(run.run_id, model, ours, theirs, matched))

    # -- event handlers (shared by the sync and async entry points) ---------------------
    def _on_pre(self, model: Any, messages: Any, kwargs: Mapping[str, Any]) -> None:
        try:
            self._start(kwargs, model, messages)
        except Exception:
            if self.tracker.strict:
                raise
            logger.exception("llm-cost-hooks: LiteLLM pre-call handling failed")

    def _on_success(
        self, kwargs: Mapping[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        complete = kwargs.get("complete_streaming_response") or kwargs.get(
            "async_complete_streaming_response"
        )
        if (
            kwargs.get("stream")
            and complete is None
            and (response_obj is None or type(response_obj).__name__ == "ModelResponseStream")
        ):
            return  # a chunk; the complete streamed response comes in its own event
        taken = self._take(kwargs)
        if taken is None:
            return
        call_id, run = taken
        try:
            response = complete or response_obj
            usage = usage_from_litellm(
                getattr(response, "usage", None)
                if not isinstance(response, Mapping)
                else response.get("usage")
            )
            if (
                kwargs.get("stream")
                and usage is not None
                and not usage.input_tokens
                and not usage.output_tokens
            ):
                # A stream without stream_options={"include_usage": True}: the provider sent
                # no counts and LiteLLM reports zeros. None makes the tracker count the
                # prompt and the streamed text and flag them tokens_estimated (budgets
                # settle on that estimate), as on the LangChain path.
                usage = None
            model = run.model or str(kwargs.get("model") or "unknown")
            cache_status = CacheStatus.MISS
            saved: float | None = None
            hidden = getattr(response, "_hidden_params", None)
            marker = hidden.get(CACHE_MARKER_KEY) if isinstance(hidden, Mapping) else None
            if isinstance(marker, Mapping):
                cache_status = CacheStatus(marker.get("status", "exact"))
                saved = marker.get("saved_usd")
            elif call_id in self._shared:
                cache_status = CacheStatus.DEDUPLICATED
            elif kwargs.get("cache_hit"):
                cache_status = CacheStatus.EXACT
                served = self._our_cache_hit(call_id)
                if served is not None:
                    cache_status = CacheStatus(served.get("status", "exact"))
                    saved = served.get("saved_usd")
            self._use_litellm_timing(run, start_time, end_time)
            if usage is not None:
                ours = 0.0
                if cache_status is CacheStatus.MISS:
                    ours = self.tracker.price(usage, model, run.provider, at=run.start_time)[0].total
                self._check_cost(run, model, ours, self._litellm_cost(kwargs))
            record = self.tracker.end_llm(
                run.run_id,
                usage,
                model=model,
                cache_status=cache_status,
                saved_usd=saved,
                output_text=lambda: output_text(response),
                outputs=LLMResultView(response, stream=bool(kwargs.get("stream"))),
            )
            self._settle(call_id, record)
        except Exception:
            if self.tracker.strict:
                raise
            logger.exception("llm-cost-hooks: LiteLLM success handling failed")
        finally:
            self._release(call_id)
            if self.dedup is not None:
                self.dedup.complete(call_id, complete or response_obj)
            self._finish(call_id, success=True)

    def _on_failure(
        self, kwargs: Mapping[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        call_id = str(kwargs.get("litellm_call_id") or "")
        if call_id and call_id in self._refused:
            return  # refused by our own pre-call hook: no provider call, nothing to record
        if self.dedup is not None and call_id:
            error = kwargs.get("exception")
            self.dedup.fail(call_id, error if isinstance(error, BaseException) else RuntimeError(str(error)))
        taken = self._take(kwargs)
        if taken is None:
            return
        call_id, run = taken
        try:
            error = kwargs.get("exception")
            if not isinstance(error, BaseException):
                error = RuntimeError(str(error or "LiteLLM call failed"))
            self._use_litellm_timing(run, start_time, end_time)
            self.tracker.error_llm(run.run_id, error)
        except Exception:
            if self.tracker.strict:
                raise
            logger.exception("llm-cost-hooks: LiteLLM failure handling failed")
        finally:
            self._release(call_id)
            self._finish(call_id, success=False)

    @staticmethod
    def _our_cache_hit(call_id: str) -> Mapping[str, Any] | None:
        import litellm

        pop = getattr(litellm.cache, "pop_hit", None)  # set on LiteLLMSemanticCache
        return pop(call_id) if callable(pop) else None

    # -- budgets (proxy pre-call hook) -------------------------------------------------
    def _settle(self, call_id: str, record: CostRecord | None) -> None:
        reservation = self._reservations.pop(call_id, None)
        if reservation is None:
            return
        if record is None:
            reservation.release()
            return
        reservation.settle(
            record.cost_usd, input_tokens=record.input_tokens, output_tokens=record.output_tokens
        )

    def _release(self, call_id: str) -> None:
        reservation = self._reservations.pop(call_id, None)
        if reservation is not None:
            reservation.release()

    @staticmethod
    def _deployment_model(model_group: str) -> str:
        # The proxy names model groups ("my-gpt"); price the model behind the group.
        try:
            from litellm.proxy.proxy_server import llm_router

            for dep in (llm_router.get_model_list(model_name=model_group) or []) if llm_router else []:
                name = (dep.get("litellm_params") or {}).get("model")
                if name:
                    return str(name)
        except Exception:
            pass
        return model_group

    # -- pre-call work: context budget, prompt cache, dedup, spend guard ----------------------
    @property
    def _has_pre_call_work(self) -> bool:
        return (
            self.guard is not None
            or self.context_budget is not None
            or self.prompt_cache is not None
            or self.dedup is not None
        )

    def _mark_prepared(self, call_id: str, tags: Mapping[str, str]) -> None:
        with self._lock:
            self._remember(self._prepared, call_id, None)
        if tags:
            self._pending_tags[call_id] = {**self._pending_tags.get(call_id, {}), **tags}
            run_id = self._open.get(call_id)  # already started (e.g. a hook after the pre-call event)
            if run_id is not None:
                self.tracker.annotate(run_id, self._pending_tags.pop(call_id))

    def _prepare(
        self, data: dict[str, Any], model: str, metadata: Mapping[str, Any], call_id: str
    ) -> tuple[dict[str, str], Any]:
        """Tags for the record, and the prompt tokens of the prepared request when the
        trim counted them (same recipe as the guard's count; None: count again)."""
        from .._errors import BudgetExceeded
        from ._prepare import prepare_request

        try:
            prepared = prepare_request(
                data,
                model=model,
                metadata=metadata,
                context_budget=self.context_budget,
                prompt_cache=self.prompt_cache,
                price_book=self.tracker.price_book,
            )
        except BudgetExceeded as exc:  # a segment over budget with oversize="raise"
            self._refuse(call_id, exc)
            raise
        counted = prepared.trim.prompt_tokens if prepared.trim is not None and not data.get("tools") else None
        return prepared.tags, counted

    def _refuse(self, call_id: str, error: BaseException) -> None:
        with self._lock:
            self._remember(self._refused, call_id, None)
        self._pending_tags.pop(call_id, None)
        if self.dedup is not None:
            self.dedup.fail(call_id, error)

    @contextlib.contextmanager
    def _reserving(self, call_id: str, model: str) -> Iterator[None]:
        """Around a reserve: an unpriced model is let through (warned), a refusal is
        remembered (no failure record for a call that never went out) and raised."""
        from .._errors import BudgetExceeded, UnknownModelError

        try:
            yield
        except UnknownModelError:
            logger.warning("llm-cost-hooks: no price for %r; request not budget-checked", model)
        except BudgetExceeded as exc:
            self._refuse(call_id, exc)
            raise

    @staticmethod
    def _spend_request(data: Mapping[str, Any], model: str, metadata: Mapping[str, Any], counted: Any) -> Any:
        from ._budget import spend_request_for

        return spend_request_for(model, data.get("messages"), data, metadata, input_tokens=counted)

    def _hold(self, call_id: str, data: dict[str, Any], reservation: Any) -> None:
        from ._budget import _apply_cap

        self._reservations[call_id] = reservation
        _apply_cap(data, reservation)  # a shrink_output policy may have lowered the cap

    async def _apre_call(
        self,
        data: dict[str, Any],
        call_id: str,
        model: str,
        metadata: Mapping[str, Any],
        scope: str = "",
        *,
        chat: bool = True,
    ) -> None:
        """The pre-call work on one request (``data`` is changed in place): fit it to the
        context budget, place cache breakpoints, join an identical in-flight request
        (served from its answer, no upstream call) or reserve its worst-case cost."""
        tags, counted = self._prepare(data, model, metadata, call_id)
        if self.dedup is not None and chat:
            key = self.dedup.key_for(data, metadata, scope)
            if key is not None:
                flight = await self.dedup.join(key, call_id)
                tags["dedup.key"] = key[:40]
                if flight is not None:
                    from ._dedup import shared_response

                    data["mock_response"] = shared_response(flight.value, flight.source)
                    tags["dedup.source"] = flight.source
                    with self._lock:
                        self._remember(self._shared, call_id, flight.source)
                    self._mark_prepared(call_id, tags)
                    return
                tags["dedup.source"] = "leader"
        if self.guard is not None:
            with self._reserving(call_id, model):
                reservation = await self.guard.areserve(self._spend_request(data, model, metadata, counted))
                self._hold(call_id, data, reservation)
        self._mark_prepared(call_id, tags)

    def _pre_call_sync(
        self, data: dict[str, Any], call_id: str, model: str, metadata: Mapping[str, Any]
    ) -> None:
        """:meth:`_apre_call` for the sync SDK path, without dedup (see
        :func:`~llm_cost_hooks.litellm.deduplicated_completion`)."""
        tags, counted = self._prepare(data, model, metadata, call_id)
        if self.guard is not None:
            with self._reserving(call_id, model):
                self._hold(
                    call_id, data, self.guard.reserve(self._spend_request(data, model, metadata, counted))
                )
        self._mark_prepared(call_id, tags)

    @staticmethod
    def _call_id(data: dict[str, Any]) -> str:
        call_id = data.get("litellm_call_id")
        if not call_id:
            import uuid

            call_id = data["litellm_call_id"] = str(uuid.uuid4())
        return str(call_id)

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):  # type: ignore[no-untyped-def]
        """Proxy: fit the request to ``context_budget`` (messages trimmed, ``max_tokens``
        clamped), place prompt-cache breakpoints (``prompt_cache``), serve a duplicate
        from its leader's answer (``dedup``) and reserve the worst-case cost on ``guard``;
        a :class:`~llm_cost_hooks.BudgetExceeded` rejects the request with its message."""
        if (
            not self._has_pre_call_work
            or str(call_type) not in _MODEL_CALL_TYPES
            or not isinstance(data, dict)
        ):
            return data
        call_id = self._call_id(data)
        metadata = _metadata_of(
            {"litellm_params": {"metadata": data.get("metadata")}, "metadata": data.get("metadata")}
        )
        model = self._deployment_model(str(data.get("model") or ""))
        # Answers are shared only between holders of the same proxy key.
        scope = str(
            getattr(user_api_key_dict, "token", None) or getattr(user_api_key_dict, "api_key", None) or ""
        )
        await self._apre_call(
            data, call_id, model, metadata, scope=scope, chat=str(call_type) in _CHAT_CALL_TYPES
        )
        return data

    async def async_pre_call_deployment_hook(self, kwargs, call_type):  # type: ignore[no-untyped-def]
        """SDK ``acompletion`` and ``Router`` calls (LiteLLM runs this before every async
        call): the same work as :meth:`async_pre_call_hook`, unless that hook already did
        it for this call. ``BudgetExceeded`` reaches the caller of ``acompletion``."""
        if not self._has_pre_call_work or not isinstance(kwargs, dict):
            return None
        kind = str(getattr(call_type, "value", call_type)) if call_type is not None else "acompletion"
        if kind not in _MODEL_CALL_TYPES:
            return None
        call_id = kwargs.get("litellm_call_id")
        if not call_id:
            return None
        if str(call_id) in self._prepared:
            if str(call_id) in self._shared:
                self._mark_served(kwargs)
            return None
        metadata = _metadata_of(
            {
                "litellm_params": {
                    "metadata": kwargs.get("metadata"),
                    "litellm_metadata": kwargs.get("litellm_metadata"),
                },
                "metadata": kwargs.get("metadata"),
            }
        )
        await self._apre_call(
            kwargs, str(call_id), str(kwargs.get("model") or ""), metadata, chat=kind in _CHAT_CALL_TYPES
        )
        if str(call_id) in self._shared:
            self._mark_served(kwargs)
        return kwargs

    @staticmethod
    def _mark_served(kwargs: Mapping[str, Any]) -> None:
        # A deduplicated request is answered without a provider call and costs LiteLLM $0
        # (response_cost 0 on the shared response); its "$0 for billable usage" warning,
        # once per logging object, does not apply.
        logging_obj = kwargs.get("litellm_logging_obj")
        if logging_obj is not None and hasattr(logging_obj, "zero_cost_warned"):
            logging_obj.zero_cost_warned = True

    async def async_post_call_success_deployment_hook(self, request_data, response, call_type):  # type: ignore[no-untyped-def]
        """Hand a leader's response to the requests waiting on it as soon as LiteLLM has it
        (inline, before the logging events, which may come later on a worker)."""
        if self.dedup is not None and isinstance(request_data, Mapping):
            call_id = request_data.get("litellm_call_id")
            if call_id and not request_data.get("stream"):
                self.dedup.complete(str(call_id), response)
        return None

    async def async_post_call_failure_hook(
        self,
        request_data,
        original_exception,
        user_api_key_dict,  # type: ignore[no-untyped-def]
        traceback_str=None,
    ):
        """Proxy: a request that failed before reaching the model (e.g. refused by a later
        hook) gives back its reservation and releases the requests waiting on it."""
        call_id = request_data.get("litellm_call_id") if isinstance(request_data, Mapping) else None
        if call_id:
            self._release(str(call_id))
            if self.dedup is not None:
                self.dedup.fail(str(call_id), original_exception)
        return None

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
        metadata = kwargs.get("metadata") if isinstance(kwargs.get("metadata"), Mapping) else {}
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
        metadata = kwargs.get("metadata") if isinstance(kwargs.get("metadata"), Mapping) else {}
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

    # -- LiteLLM CustomLogger API (parameter names matter: LiteLLM passes keywords) -----
    def log_pre_api_call(self, model, messages, kwargs):  # type: ignore[no-untyped-def]
        self._on_pre(model, messages, kwargs)

    def log_success_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
        self._on_success(kwargs, response_obj, start_time, end_time)

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
        self._on_failure(kwargs, response_obj, start_time, end_time)

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
        self._on_success(kwargs, response_obj, start_time, end_time)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
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
