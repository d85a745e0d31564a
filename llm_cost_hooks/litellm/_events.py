"""Record extraction of the LiteLLM logger: LiteLLM's log events (pre-call, success,
failure; sync and async) opened and closed as tracker runs, with usage, cache status and a
check of our price against LiteLLM's ``response_cost``."""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Mapping
from typing import Any

from .._records import CacheStatus
from ..tracking import RunInfo
from ._state import (
    _MISSING,
    _MODEL_CALL_TYPES,
    _PARAM_KEYS,
    CACHE_MARKER_KEY,
    _LoggerState,
    _metadata_of,
    _priced_model,
    logger,
)
from ._usage import LLMResultView, output_text, returned_model, usage_not_asked, usage_of_call

__all__: list[str] = []


class _EventRecorder(_LoggerState):
    """The event half of :class:`~llm_cost_hooks.litellm.CostHooksLogger`."""

    # -- run bookkeeping ---------------------------------------------------------------
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
                if len(self._open) > self._open_prune_at:
                    self._prune_open()
        if open_id is not None:
            run = self.tracker._runs.get(open_id)
            if run is None or model is None or _priced_model(kwargs, str(model)) == run.model:
                # Same call id started again before it ended: LiteLLM retried it silently.
                if run is not None:
                    run.attempt = attempt
                return run
            # A Router fallback to another model before the failed attempt's event came
            # (the proxy delivers events late): that attempt reached its provider and
            # failed; the fallback is a run of its own.
            self.tracker.error_llm(open_id, RuntimeError("failed; the Router fell back to another model"))
            with self._lock:
                self._tentative.pop(open_id, None)
                run_id = f"{call_id}:{attempt}"
                self._open[call_id] = run_id
        optional = kwargs.get("optional_params") or {}
        params = {k: optional[k] for k in _PARAM_KEYS if optional.get(k) is not None}
        if kwargs.get("stream"):
            params["stream"] = True
        deployment = str(model or kwargs.get("model") or "unknown")
        model_name = _priced_model(kwargs, deployment)
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
        if model_name != deployment:
            tags = {**(tags or {}), "deployment": deployment}
        if tags:
            self.tracker.annotate(run_id, tags)
        return run

    def _prune_open(self) -> None:
        """Drop calls whose run the tracker closed (no end event), once two prunes in a row found it
        gone (a start or end under way on another thread keeps it). Under self._lock."""
        runs, ending = self.tracker._runs, self.tracker._ending
        dead = {cid for cid, rid in self._open.items() if rid not in runs and rid not in ending}
        for cid in dead & self._open_dead:
            del self._open[cid]
        self._open_dead = dead - self._open_dead  # next prune: when the live calls double
        self._open_prune_at = max(256, 2 * (len(self._open) - len(self._open_dead)))

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
            self._expected.pop(call_id, None)
            run_id = self._open.pop(call_id, None)
            if run_id is not None:
                self._tentative.pop(run_id, None)
            self._remember(self._done, call_id, None)
            if success:
                self._attempts.pop(call_id, None)
        self._unwatch(call_id)

    @staticmethod
    def _use_litellm_timing(run: RunInfo, start_time: Any, end_time: Any) -> None:
        # Sync success events arrive on LiteLLM's logging thread, later than the call
        # ended: take the duration LiteLLM measured instead of our clock.
        if isinstance(start_time, datetime.datetime) and isinstance(end_time, datetime.datetime):
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
        tags = self.cost_check.check(run.run_id, model, ours, theirs, self.cost_tolerance)
        if tags:
            self.tracker.annotate(run.run_id, tags)

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
            self._late_success(kwargs, complete or response_obj)  # a stream recorded as cancelled
            return
        call_id, run = taken
        try:
            response = complete or response_obj
            usage = usage_of_call(response, kwargs)
            if (
                kwargs.get("stream")
                and usage is not None
                and ((not usage.input_tokens and not usage.output_tokens) or usage_not_asked(kwargs))
            ):
                # A stream without stream_options={"include_usage": True}: no provider counts
                # (LiteLLM reports zeros or, from 1.110, its own count). None makes the tracker
                # count prompt and text, flagged tokens_estimated, as on the LangChain path.
                usage = None
            model = run.model or str(kwargs.get("model") or "unknown")
            cache_status = CacheStatus.MISS
            saved: float | None = None
            hidden = getattr(response, "_hidden_params", None)
            returned = returned_model(response, hidden)
            if returned and returned != model and not _priced_model(kwargs, ""):
                # Billed as the model that answered (gpt-4o -> gpt-4o-2024-08-06), as the
                # LangChain handler does; a deployment's declared base_model stays.
                model = self.tracker._billed_model(model, returned, run.provider)
            marker = hidden.get(CACHE_MARKER_KEY) if isinstance(hidden, Mapping) else None
            if isinstance(marker, Mapping):
                cache_status = CacheStatus(marker.get("status", "exact"))
                saved = marker.get("saved_usd")
            elif call_id in self._shared:
                cache_status = CacheStatus.DEDUPLICATED
            elif kwargs.get("cache_hit"):
                cache_status = CacheStatus.EXACT
                served = self._our_cache("pop_hit", call_id)
                if served is not None:
                    cache_status = CacheStatus(served.get("status", "exact"))
                    saved = served.get("saved_usd")
            else:  # a paid call: maybe a would-be semantic hit sent for online verification
                verified = self._our_cache("pop_verified", call_id, response)
                if verified is not None:
                    self.tracker.annotate(run.run_id, {"cache.verified": verified})
            self._use_litellm_timing(run, start_time, end_time)
            if usage is not None:
                ours = 0.0
                if cache_status is CacheStatus.MISS:
                    ours = self.tracker.price(usage, model, run.provider, at=run.start_time)[0].total
                self._check_cost(run, model, ours, self._litellm_cost(kwargs))
                # Settle first: the record then carries the budget's tags (over-spend too).
                budget_tags = self.holds.settle_usage(call_id, ours, usage)
                if budget_tags:
                    self.tracker.annotate(run.run_id, budget_tags)
            record = self.tracker.end_llm(
                run.run_id,
                usage,
                model=model,
                cache_status=cache_status,
                saved_usd=saved,
                output_text=lambda: output_text(response),
                outputs=LLMResultView(response, stream=bool(kwargs.get("stream"))),
            )
            self.holds.settle_record(call_id, record)
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
        failed_model = kwargs.get("model")
        if failed_model and run.model and str(failed_model) != run.model and run.attempt > 1:
            return  # a late event of an attempt on another model, closed when the fallback began
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

    # -- calls whose event the end of their event loop cancelled --------------------------
    def _record_lost_events(self) -> int:
        """Record the async calls whose event loop has closed without LiteLLM delivering
        their success event (the loop's end cancels a logging task LiteLLM already
        started), and return how many. A call whose response LiteLLM returned is recorded
        from that response, as its event would have; a streamed call, whose assembled
        response only that event holds, is recorded with counted tokens
        (``tokens_estimated``); one that never returned is recorded as failed. Each is
        tagged ``litellm.event_lost``. Run after the events still queued were delivered,
        so a call's own event is preferred; one arriving later is a duplicate and ignored."""
        with self._lock:
            lost = [
                (cid, e) for cid, e in self._expected.items() if e.loop.is_closed() and cid not in self._done
            ]
            for cid, _ in lost:
                del self._expected[cid]
        if not lost or self._replaced():
            return 0
        recorded = 0
        for call_id, expected in lost:
            try:
                recorded += self._record_lost(call_id, expected.response, expected.kwargs)
            except Exception:
                if self.tracker.strict:
                    raise
                logger.exception("llm-cost-hooks: a LiteLLM call whose success event was lost not recorded")
        if recorded:
            logger.warning(
                "llm-cost-hooks: %d LiteLLM async call(s) ended with their event loop before LiteLLM "
                "reported them; recorded from what was known (tagged litellm.event_lost)",
                recorded,
            )
        return recorded

    def _record_lost(self, call_id: str, response: Any, hit: Mapping[str, Any] | None) -> int:
        with self._lock:
            run_id = self._open.get(call_id)
        run = self.tracker._runs.get(run_id) if run_id is not None else None
        if run is None and hit is not None and response is not None:  # a cache hit: no pre-call event
            served = {**hit, "litellm_call_id": call_id, "cache_hit": True, "stream": False}
            served.setdefault("call_type", "acompletion")
            opened = self._start(served, None, None)
            if opened is None:
                return 0
            self.tracker.annotate(opened.run_id, {"litellm.event_lost": "cache_hit"})
            self._on_success(served, response, None, None)
            return 1
        if run is None:
            return 0  # no pre-call event either: nothing known about the call to record
        if response is not None:
            hidden = getattr(response, "_hidden_params", None)
            kwargs: dict[str, Any] = {"litellm_call_id": call_id, "model": run.model}
            if isinstance(hidden, Mapping):
                kwargs["response_cost"] = hidden.get("response_cost")
                if hidden.get("cache_hit"):
                    kwargs["cache_hit"] = True
            self.tracker.annotate(run.run_id, {"litellm.event_lost": "response"})
            start = end = None
            ms = getattr(response, "_response_ms", None)
            if isinstance(ms, (int, float)) and ms >= 0:  # the call's duration, not until now
                start = datetime.datetime(2000, 1, 1)
                end = start + datetime.timedelta(milliseconds=ms)
            self._on_success(kwargs, response, start, end)
            return 1
        try:
            if run.params.get("stream"):
                self.tracker.annotate(run.run_id, {"litellm.event_lost": "stream"})
                if self._cut_at_loop_end(call_id, run.run_id):
                    return 1  # cancelled, or left before the provider's end
                record = self.tracker.end_llm(run.run_id, None, model=run.model)
                self.holds.settle_record(call_id, record)
            else:
                self.tracker.annotate(run.run_id, {"litellm.event_lost": "no_response"})
                self.tracker.error_llm(
                    run.run_id, RuntimeError("the event loop ended before LiteLLM reported the call")
                )
        finally:
            self._release(call_id)
            self._finish(call_id, success=False)
        return 1

    @staticmethod
    def _our_cache(method: str, *args: Any) -> Any:
        import litellm

        found = getattr(litellm.cache, method, None)  # set on LiteLLMSemanticCache
        return found(*args) if callable(found) else None
