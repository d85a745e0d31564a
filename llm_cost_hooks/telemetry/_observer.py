"""OpenTelemetry spans and metrics from the tracker's run events.

The observer sees exactly the events the cost records come from (run start, run end
with its :class:`~llm_cost_hooks.CostRecord`), so a span's token counts and dollars
are the record's: one count, one price.
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .. import _shutdown
from .._records import CacheStatus, CostRecord
from ..ledger._base import RECORD_COLUMNS
from ..tracking import RunInfo, RunKind, RunObserver, TaskState
from ..tracking._builder import CACHE_WRITE_PREMIUM_TAG
from . import _sdk
from . import _semconv as sc
from ._content import input_messages, output_messages, to_json
from ._direct import DirectSpans, direct_spans, start_attributes_unread
from ._limits import AttributeLimiter
from ._metrics import _Metrics
from ._semconv import (  # module globals: read per attribute on every span
    ATTEMPT,
    BUDGET_PREFIX,
    CACHE_STATUS,
    COST,
    COST_AMOUNT,
    COST_CACHE_READ_USD,
    COST_CACHE_WRITE_USD,
    COST_CURRENCY,
    COST_INPUT_USD,
    COST_OUTPUT_USD,
    COST_REASONING_USD,
    ERROR_TYPE,
    PRICE_ESTIMATED,
    REQUEST_STREAM,
    RESPONSE_FINISH_REASONS,
    RESPONSE_ID,
    RESPONSE_MODEL,
    SAVED_USD,
    TAG_PREFIX,
    TASK_CALLS,
    TASK_COST,
    TASK_FAILED_CALLS,
    TASK_ID,
    TASK_INPUT_TOKENS,
    TASK_OUTPUT_TOKENS,
    TASK_SAVED,
    TASK_SUCCESS,
    TOKENS_ESTIMATED,
    USAGE_CACHE_READ,
    USAGE_INPUT,
    USAGE_OUTPUT,
    USAGE_REASONING,
)
from ._stats import TelemetryStats, stats_for

__all__ = ["OTelObserver"]

logger = logging.getLogger("llm_cost_hooks.telemetry")

_SCOPE = "llm_cost_hooks"
_STATIC_ATTRS_MAX = 4096

# run.params key -> (attribute, type coercion)
_PARAM_ATTRS: dict[str, tuple[str, type]] = {
    "temperature": (sc.REQUEST_TEMPERATURE, float),
    "max_tokens": (sc.REQUEST_MAX_TOKENS, int),
    "max_completion_tokens": (sc.REQUEST_MAX_TOKENS, int),
    "top_p": (sc.REQUEST_TOP_P, float),
    "top_k": (sc.REQUEST_TOP_K, int),
    "frequency_penalty": (sc.REQUEST_FREQUENCY_PENALTY, float),
    "presence_penalty": (sc.REQUEST_PRESENCE_PENALTY, float),
    "seed": (sc.REQUEST_SEED, int),
}


def _add_clean_attributes(span: Any, *parts: dict[str, Any]) -> None:
    """``span.set_attributes(part)`` for each part, for values this module built (str,
    bool, int, float, tuples of str): the SDK re-checks every value (~0.5 us each, two
    dozen per model span), so they go straight into its attribute map where the shim
    allows it (see :func:`._sdk.attribute_map`). Anything else takes the public path."""
    target = _sdk.attribute_map(span, sum(map(len, parts)))
    if target is None:
        for attrs in parts:
            span.set_attributes(attrs)
        return
    data, lock = target
    with lock:  # a span processor may already hold the span (on_start)
        for attrs in parts:
            data.update(attrs)  # sequences are built as tuples, as the SDK stores them


def _version() -> str:
    from .. import __version__

    return __version__


def _flush_trackers_at_exit(observer: OTelObserver, deadline: float) -> None:
    # Deferred calls end their spans on the ledger's writer: flushed before the exporters
    # shut down, within the package's exit deadline.
    for tracker in list(observer._trackers):
        try:
            tracker.flush(max(deadline - time.monotonic(), 0.0))
        except Exception:
            logger.debug("llm-cost-hooks: flushing a tracker at exit failed", exc_info=True)


def _end_time(run: RunInfo) -> int | None:
    """The run's end as epoch nanoseconds: the tracker's monotonic end moment, moved to
    the wall clock now (the span may be ended later, on the ledger's writer)."""
    if not run.end_ns:
        return None
    return time.time_ns() - (time.perf_counter_ns() - run.end_ns)


_EMPTY: Mapping[str, Any] = MappingProxyType({})
# Enum members read once: ``RunKind.LLM`` / ``SpanKind.CLIENT`` on each use go through the
# enum class's attribute lookup (~0.13 us each on Python 3.11), a module global does not.
_LLM = RunKind.LLM
_CLIENT = SpanKind.CLIENT
# The caller's active OpenTelemetry context (otel_context.get_current, one call less where
# the shim allows).
_current_context = _sdk.current_context_getter() or otel_context.get_current

# A ledger row's columns (see RunObserver.on_model_row): the token counts through the cache
# status in one slice, in the order _cost_attrs reads them.
_COST_FROM = RECORD_COLUMNS.index("input_tokens")
_COST_TO = RECORD_COLUMNS.index("cache_status") + 1
assert _COST_TO - _COST_FROM == 14 and RECORD_COLUMNS[_COST_FROM + 11] == "currency"
_TAGS_AT = RECORD_COLUMNS.index("tags")
_TOKENS_ESTIMATED_AT = RECORD_COLUMNS.index("tokens_estimated")
_PRICE_ESTIMATED_AT = RECORD_COLUMNS.index("price_estimated")


def _row_tags(run: RunInfo, text: str | None) -> Mapping[str, Any]:
    """A row's tags in the record's order: the run's own tags first, then what the builder
    added (a usage flag before the cache-write premium); the row stores them key-sorted."""
    if text is None:
        return _EMPTY
    stored = json.loads(text)
    tags = {key: stored[key] for key in run.attribution.tags if key in stored}
    if len(tags) < len(stored):
        added = [key for key in stored if key not in tags]
        added.sort(key=lambda key: key == CACHE_WRITE_PREMIUM_TAG)
        for key in added:
            tags[key] = stored[key]
    return tags


# generation type -> whether it is a streamed chunk (a few LangChain classes)
_CHUNK_TYPES: dict[type, bool] = {}


def _is_chunk(cls: type) -> bool:
    chunk = _CHUNK_TYPES.get(cls)
    if chunk is None:
        chunk = cls.__name__.endswith("Chunk")
        if len(_CHUNK_TYPES) < 256:
            _CHUNK_TYPES[cls] = chunk
    return chunk


def _task_attrs(task: TaskState, success: bool, model_call: bool, attrs: dict[str, Any]) -> None:
    """The totals of the task whose root run this is."""
    attrs[TASK_COST] = task.cost_usd
    attrs[TASK_CALLS] = task.calls
    attrs[TASK_SUCCESS] = success
    if task.saved_usd:
        attrs[TASK_SAVED] = task.saved_usd
    if not model_call or task.calls > 1:
        # A task that is a single model call: its span's own counts are the task's.
        attrs[TASK_FAILED_CALLS] = task.failed_calls
        attrs[TASK_INPUT_TOKENS] = task.input_tokens
        attrs[TASK_OUTPUT_TOKENS] = task.output_tokens


def _operation(run: RunInfo) -> str:
    # The tracker's contract: a plain-text prompt is a str; chat messages are a list
    # (or a callable returning one).
    return "text_completion" if isinstance(run.messages, str) else "chat"


class _Response:
    """A model call's response attributes and finish reasons (see OTelObserver.digest_call)."""

    __slots__ = ("attrs", "finish")

    def __init__(self, attrs: dict[str, Any], finish: list[str | None]) -> None:
        self.attrs = attrs
        self.finish = finish


_new_response = object.__new__


class OTelObserver(RunObserver):
    """Turns every run the :class:`~llm_cost_hooks.CostTracker` sees into an OpenTelemetry
    span, and every model call into GenAI metrics plus cost and savings counters.

    * Model calls: CLIENT spans named ``"{gen_ai.operation.name} {gen_ai.request.model}"``
      with GenAI semantic-convention attributes, the call's cost
      (``gen_ai.usage.cost.amount`` / ``.currency`` / ``.source``, ``gen_ai.usage.cost``)
      and ``llm_cost_hooks.*`` attribution (tenant, feature, route, prompt version,
      cache status, dollars saved, estimate flags, attempt, task id, budget tags).
    * Chains, tools, agents, retrievers: INTERNAL spans (``invoke_agent {name}``,
      ``execute_tool {name}``, ``retrieval {name}``, ``chain {name}``), nested as
      LangChain nests its runs. The task's root span carries the task's totals.
    * A root run's parent is the caller's active OpenTelemetry span (a FastAPI request,
      say). Contexts are passed explicitly, never attached, so nothing leaks between
      threads or asyncio tasks.

    Providers: the ones passed in, else the global ones (looked up on each use, so a
    global provider set later is picked up). Prompts and answers are recorded only when
    ``capture_content`` is true (default: ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``,
    else ``Settings.capture_content``). ``semconv`` picks the conventions' vintage
    (default: ``OTEL_SEMCONV_STABILITY_OPT_IN``; see :mod:`llm_cost_hooks.telemetry._semconv`).
    Metric attributes tenant / feature / model / route are bounded by ``limiter``.

    ``deferred=True`` (default): where the tracker can (see
    :class:`~llm_cost_hooks.RunObserver`), spans are ended with their real end times on
    the ledger's writer thread, off the request path; ``handler.flush()`` /
    ``tracker.flush()`` waits for them (do so before reading an in-memory exporter).
    ``deferred=False`` ends every span on the caller's thread.

    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    >>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    >>> from llm_cost_hooks import CostTracker, TokenUsage
    >>> exporter = InMemorySpanExporter(); tp = TracerProvider()
    >>> tp.add_span_processor(SimpleSpanProcessor(exporter))
    >>> tracker = CostTracker(ledger="memory://", observers=[OTelObserver(tracer_provider=tp)])
    >>> _ = tracker.start_llm("r1", None, model="gpt-4o-mini", provider="openai", messages=[])
    >>> _ = tracker.end_llm("r1", TokenUsage(input_tokens=1000, output_tokens=200))
    >>> span = exporter.get_finished_spans()[0]
    >>> span.name, round(span.attributes["gen_ai.usage.cost.amount"], 6)
    ('chat gpt-4o-mini', 0.00027)
    """

    def __init__(
        self,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        capture_content: bool | None = None,
        semconv: sc.SemconvMode | None = None,
        limiter: AttributeLimiter | None = None,
        metrics: bool = True,
        price_map_version: str | None = None,
        stats: TelemetryStats | None = None,
        deferred: bool = True,
    ) -> None:
        # Span ends (and model spans, built when the call ends) on the ledger's writer
        # thread: the caller pays for two dict operations per run instead of the SDK span.
        self.deferrable = bool(deferred)
        # A deferred model call is read from the ledger's row where the ledger writes rows.
        self.reads_rows = self.deferrable
        # Trackers this observer is on: flushed at exit by a hook registered when the first
        # one attaches, after the tracer provider the observer was given (exit hooks run
        # last-in first-out), so the spans their ledgers end at exit still reach the
        # provider before it shuts down.
        self._trackers: weakref.WeakSet[Any] = weakref.WeakSet()
        self.names = sc.names_for(semconv)
        if capture_content is None:
            capture_content = sc.capture_content_from_env()
        if capture_content is None:
            try:
                from .._settings import get_settings

                capture_content = bool(get_settings().capture_content)
            except Exception:
                capture_content = False
        self.capture_content = bool(capture_content)  # sets digests_calls too
        self.limiter = limiter or AttributeLimiter()
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        if tracer_provider is not None:
            self.tracer = tracer_provider.get_tracer(_SCOPE, _version())
        else:  # a proxy: follows the global provider, even one set after us
            self.tracer = trace.get_tracer(_SCOPE, _version())
        self._stats = stats
        self._price_version = price_map_version
        self._price_book: Any = None
        self._source_attrs: dict[str, str] | None = None
        # run_id -> span of open runs, so a child finds its parent's span. Plain dict:
        # single get/set/pop operations are atomic under the GIL.
        self._spans: dict[str, Any] = {}
        # Keys of this observer's state in a run's observer_data: two observers on one tracker
        # (two backends) each keep their own span.
        self._span_key = f"otel.span.{id(self):x}"
        # A model call not ended yet: its start time, and its parent context under its own
        # key (two entries, no tuple kept alive per call until the writer gets to it).
        self._pending_key = f"otel.pending.{id(self):x}"
        self._parent_key = f"otel.parent.{id(self):x}"
        self._pending: dict[str, RunInfo] = {}
        self._static_attrs: dict[Any, tuple[Any, str, dict[str, Any]]] = {}
        # (sampler, processors) the last start-attributes verdict was for, the verdict, and
        # the direct span route for the tracer (None: the SDK's start_span / end)
        self._blind_key: tuple[Any, Any, bool] | None = None
        self._blind = False
        self._direct: DirectSpans | None = None
        self._metrics: _Metrics | None = None
        # An explicit no-op provider: no measurement would be kept, so none is queued.
        if metrics and not isinstance(meter_provider, otel_metrics.NoOpMeterProvider):
            meter = (
                meter_provider.get_meter(_SCOPE, _version())
                if meter_provider is not None
                else otel_metrics.get_meter(_SCOPE, _version())
            )
            self._metrics = _Metrics(meter, self.names, self.limiter, self)

    @property
    def capture_content(self) -> bool:
        """Whether prompts and answers are recorded on the model spans."""
        return self._capture_content

    @capture_content.setter
    def capture_content(self, value: bool) -> None:
        self._capture_content = bool(value)
        # A deferred model call's response attributes are read on the caller's thread (see
        # digest_call), so the tracker need not keep the call's objects until the writer;
        # prompts and answers are read from them there, so not with content capture.
        self.digests_calls = self.deferrable and not self._capture_content

    @property
    def stats(self) -> TelemetryStats:
        """Delivery counters: the ones passed in, else those :func:`configure_otel`
        attached to the tracer provider, else this observer's own (observer errors only)."""
        if self._stats is None:
            provider = self._tracer_provider or trace.get_tracer_provider()
            self._stats = stats_for(provider) or TelemetryStats()
        return self._stats

    @property
    def dropped_spans(self) -> int:
        """Spans that never reached the backend (failed exports + full queue)."""
        return self.stats.spans_dropped

    def attach(self, tracker: Any) -> None:
        """Called by the tracker this observer is added to (see ``RunObserver.attach``)."""
        if self.deferrable and not self._trackers:
            _shutdown.register(_shutdown.TRACKERS, self, _flush_trackers_at_exit)
        self._trackers.add(tracker)

    def bind(self, tracker: Any) -> OTelObserver:
        """Read the price-map version from ``tracker``'s price book (for
        ``llm_cost_hooks.price_map.version``) and add this observer to it. Returns self."""
        self._price_book = getattr(tracker, "_price_book", None) or getattr(tracker, "price_book", None)
        self._price_version = None
        self._source_attrs = None
        if self not in tracker.observers:
            tracker.add_observer(self)
        return self

    def _cost_source(self) -> dict[str, str]:
        source = self._source_attrs
        if source is None:
            source = {sc.COST_SOURCE: sc.COST_SOURCE_VALUE}
            version = self._price_map_version()
            if version:
                source[sc.PRICE_MAP_VERSION] = version
            self._source_attrs = source
        return source

    def _price_map_version(self) -> str | None:
        if self._price_version is None:
            try:
                book = self._price_book
                if book is None:
                    from ..pricing import PriceBook

                    book = PriceBook.default()
                self._price_version = str(book.version)
            except Exception:
                self._price_version = ""
        return self._price_version or None

    # -- observer hooks --------------------------------------------------------------------
    def on_run_start(self, run: RunInfo) -> None:
        try:
            if run.kind is _LLM and not run.parent_id:
                # A root model call (the usual case): what _start does for it, inline. Its
                # parent is the caller's active context.
                data = run.observer_data
                data[self._parent_key] = _current_context()
                data[self._pending_key] = time.time_ns()
                self._pending[run.run_id] = run
                return
            self._start(run)
        except Exception:
            self.stats.add("observer_errors")
            logger.debug("llm-cost-hooks: span start failed", exc_info=True)

    def on_run_end(
        self,
        run: RunInfo,
        *,
        record: CostRecord | None,
        error: BaseException | None,
        task: TaskState | None,
        outputs: Any = None,
    ) -> None:
        self._run_end(run, record, error, task, outputs)

    def digest_call(self, run: RunInfo, outputs: Any) -> Any:
        """A queued model call's response attributes, read on the caller's thread (see
        ``RunObserver.digests_calls``): what the span gets from ``outputs`` later."""
        try:
            attrs: dict[str, Any] = {}
            finish = self._response_attrs(outputs, attrs) if outputs is not None else []
        except Exception:
            return outputs  # read again on the writer, whose error handling applies
        # Fields set here: calling the class runs its __init__ in a frame of its own.
        response = _new_response(_Response)
        response.attrs, response.finish = attrs, finish
        return response

    def on_model_row(
        self, run: RunInfo, *, row: tuple[Any, ...], task: TaskState | None, outputs: Any = None
    ) -> None:
        # The same span and measurements as from the record, read from the ledger's row:
        # the writer then builds no record for this observer.
        try:
            if self._span_key not in run.observer_data and self._start_blind():
                direct = self._direct
                if direct is not None:
                    self._row_direct(direct, run, row, task, outputs)
                    return
        except Exception:
            self.stats.add("observer_errors")
            logger.debug("llm-cost-hooks: span end failed", exc_info=True)
            return
        self._run_end(run, row, None, task, outputs)

    def _row_direct(
        self,
        direct: DirectSpans,
        run: RunInfo,
        row: tuple[Any, ...],
        task: TaskState | None,
        outputs: Any,
    ) -> None:
        """The usual deferred model call (no span yet, finished spans allowed): what
        :meth:`_end` and :meth:`_end_direct` do for a row, in one pass."""
        metrics = self._metrics
        if metrics is not None:
            metrics.record_row(run, row)
        data = run.observer_data
        start_ns = data.pop(self._pending_key, None)
        parent = data.pop(self._parent_key, None)
        self._pending.pop(run.run_id, None)
        if start_ns is None:
            return
        name, static = self._llm_static_attrs(run)
        sampled = direct.sample(parent, name, _CLIENT)
        if sampled is None:
            return  # not recorded: nothing would be kept of its attributes
        attrs = static.copy()
        attrs[TASK_ID] = run.task_id
        if run.attempt != 1:
            attrs[ATTEMPT] = run.attempt
        tags = row[_TAGS_AT]
        self._cost_attrs(
            attrs,
            row[_COST_FROM:_COST_TO],
            row[_TOKENS_ESTIMATED_AT],
            row[_PRICE_ESTIMATED_AT],
            _EMPTY if tags is None else _row_tags(run, tags),
        )
        finish = self._response_attrs(outputs, attrs) if outputs is not None else []
        if self._capture_content:
            self._content_attrs(run, outputs, finish, attrs)
        if task is not None:
            _task_attrs(task, True, True, attrs)
        end_ns = run.end_ns
        direct.end(
            sampled,
            name,
            _CLIENT,
            attrs,
            start_ns,
            time.time_ns() - (time.perf_counter_ns() - end_ns) if end_ns else time.time_ns(),
        )

    def _run_end(
        self,
        run: RunInfo,
        record: CostRecord | tuple[Any, ...] | None,
        error: BaseException | None,
        task: TaskState | None,
        outputs: Any,
    ) -> None:
        span = run.observer_data.pop(self._span_key, None)
        self._spans.pop(run.run_id, None)
        try:
            self._end(span, run, record, error, task, outputs)
        except Exception:
            self.stats.add("observer_errors")
            logger.debug("llm-cost-hooks: span end failed", exc_info=True)
            if span is not None and span.is_recording():
                span.end(end_time=_end_time(run))

    # -- spans -------------------------------------------------------------------------------
    def _parent_context(self, run: RunInfo) -> Any:
        parent = self._spans.get(run.parent_id) if run.parent_id else None
        if parent is None and run.parent_id:
            pending = self._pending.get(run.parent_id)
            if pending is not None:  # a model run with children (rare): create it now
                parent = self._start_llm_span(pending)
                if parent is not None:
                    self._spans[run.parent_id] = parent
        if parent is not None:
            return trace.set_span_in_context(parent)
        # A root run (or one whose parent we never saw): the caller's active context.
        return _current_context()

    def _attribution(self, run: RunInfo, attrs: dict[str, Any]) -> None:
        self._attribution_static(run.attribution, attrs)
        attrs[TASK_ID] = run.task_id
        if run.attempt != 1:
            attrs[ATTEMPT] = run.attempt

    def _attribution_static(self, a: Any, attrs: dict[str, Any]) -> None:
        if a.tenant:
            attrs[sc.TENANT] = a.tenant
        if a.feature:
            attrs[sc.FEATURE] = a.feature
        if a.route:
            attrs[sc.ROUTE] = a.route
        if a.prompt_version:
            attrs[sc.PROMPT_VERSION] = a.prompt_version
            if self.names.prompt_version:
                attrs[self.names.prompt_version] = a.prompt_version
        if a.user:
            attrs[sc.USER] = a.user

    def _start(self, run: RunInfo) -> None:
        if run.kind is RunKind.LLM:
            # The model span is created when the call ends, with every attribute in one
            # pass and this start time and parent (or earlier, if a child run needs it as
            # a parent): one attribute validation round in the SDK instead of two.
            data = run.observer_data
            data[self._parent_key] = self._parent_context(run)
            data[self._pending_key] = time.time_ns()
            self._pending[run.run_id] = run
            return
        attrs: dict[str, Any] = {sc.RUN_KIND: run.kind.value}
        if run.kind is RunKind.TOOL:
            attrs[sc.OPERATION] = "execute_tool"
            attrs[sc.TOOL_NAME] = run.name
            name = f"execute_tool {run.name}"
        elif run.kind is RunKind.AGENT:
            attrs[sc.OPERATION] = "invoke_agent"
            attrs[sc.AGENT_NAME] = run.name
            name = f"invoke_agent {run.name}"
        elif run.kind is RunKind.RETRIEVER:
            attrs[sc.OPERATION] = "retrieval"
            name = f"retrieval {run.name}"
        else:
            name = f"chain {run.name}"
        self._attribution(run, attrs)
        span = self.tracer.start_span(
            name, context=self._parent_context(run), kind=SpanKind.INTERNAL, attributes=attrs
        )
        run.observer_data[self._span_key] = span
        self._spans[run.run_id] = span

    def _take_pending(self, run: RunInfo) -> tuple[Any, int] | None:
        """(parent context, start time) of a model call not ended yet, forgotten here."""
        start_ns = run.observer_data.pop(self._pending_key, None)
        parent = run.observer_data.pop(self._parent_key, None)
        self._pending.pop(run.run_id, None)
        return None if start_ns is None else (parent, start_ns)

    def _start_blind(self) -> bool:
        """:func:`._direct.start_attributes_unread` for the current tracer, re-checked only
        when its sampler or span processors change (adding a processor makes a new tuple);
        the direct span route is re-checked with it."""
        tracer = self.tracer
        last = self._blind_key
        sampler = getattr(tracer, "sampler", None)
        # The multi-processor's tuple as it is (a change detector only: the verdict itself
        # reads it through the shim), and whether the shims are on.
        processors = getattr(getattr(tracer, "span_processor", None), "_span_processors", None)
        shims = _sdk.SHIMS_ON
        if last is None or sampler is not last[0] or processors is not last[1] or shims is not last[2]:
            self._blind = start_attributes_unread(tracer)
            self._direct = direct_spans(tracer, self._scope()) if self._blind else None
            self._blind_key = (sampler, processors, shims)
        return self._blind

    def _scope(self) -> Any:
        """The instrumentation scope the provider made the tracer with (get_tracer above)."""
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        return InstrumentationScope(_SCOPE, _version(), None, None)

    def _llm_start_attrs(self, run: RunInfo, attrs: dict[str, Any]) -> str:
        """Fill the attributes known at the start of a model call; return the span name."""
        name, static = self._llm_static_attrs(run)
        attrs.update(static)
        attrs[TASK_ID] = run.task_id
        if run.attempt != 1:
            attrs[ATTEMPT] = run.attempt
        return name

    def _llm_static_attrs(self, run: RunInfo) -> tuple[str, dict[str, Any]]:
        """Span name and the attributes shared by every call with the same operation,
        model, provider, parameters and attribution: built once, then copied."""
        op = "text_completion" if isinstance(run.messages, str) else "chat"  # as _operation
        a = run.attribution
        try:
            key: Any = (op, run.model, run.provider, id(a), tuple(run.params.items()) if run.params else ())
            hit = self._static_attrs.get(key)
        except TypeError:  # an unhashable parameter (a list of stop sequences)
            key, hit = None, None
        if hit is not None and hit[0] is a:
            return hit[1], hit[2]
        model = run.model or "unknown"
        attrs: dict[str, Any] = {sc.OPERATION: op, sc.REQUEST_MODEL: model}
        provider = sc.provider_name(run.provider)
        if provider:
            attrs[self.names.provider] = provider
        if run.params:
            self._request_params(run.params, attrs)
        self._attribution_static(a, attrs)
        name = f"{op} {model}"
        if key is not None:
            if len(self._static_attrs) >= _STATIC_ATTRS_MAX:
                self._static_attrs.clear()
            # The attribution is kept in the entry so its id is not reused while it lives.
            self._static_attrs[key] = (a, name, attrs)
        return name, attrs

    def _start_llm_span(self, run: RunInfo) -> Any:
        """Create a model call's span before it ends (only when a child run needs it)."""
        pending = self._take_pending(run)
        if pending is None:
            return None
        attrs: dict[str, Any] = {}
        name = self._llm_start_attrs(run, attrs)
        span = self.tracer.start_span(
            name, context=pending[0], kind=SpanKind.CLIENT, attributes=attrs, start_time=pending[1]
        )
        run.observer_data[self._span_key] = span
        return span

    @staticmethod
    def _request_params(params: Mapping[str, Any], attrs: dict[str, Any]) -> None:
        for key, value in params.items():
            if value is None:
                continue
            spec = _PARAM_ATTRS.get(key)
            try:
                if spec is not None:
                    attrs[spec[0]] = spec[1](value)
                elif key == "stop":
                    attrs[sc.REQUEST_STOP] = (
                        (value,) if isinstance(value, str) else tuple(str(v) for v in value)
                    )
                elif key == "n":
                    if int(value) != 1:
                        attrs[sc.REQUEST_CHOICE_COUNT] = int(value)
                elif key == "stream":
                    attrs[REQUEST_STREAM] = bool(value)
            except (TypeError, ValueError):
                continue

    def _end(
        self,
        span: Any,
        run: RunInfo,
        record: CostRecord | tuple[Any, ...] | None,
        error: BaseException | None,
        task: TaskState | None,
        outputs: Any,
    ) -> None:
        static: dict[str, Any] | None = None
        built_here = span is None
        if record is not None and self._metrics is not None:
            if type(record) is tuple:
                self._metrics.record_row(run, record)
            else:
                self._metrics.record(run, record)  # type: ignore[arg-type]
        if span is None:
            if run.kind is not _LLM:
                return
            pending = self._take_pending(run)
            if pending is None:
                return
            # The usual case: the model span is made here, when every attribute is known.
            name, static = self._llm_static_attrs(run)
            if self._start_blind():
                direct = self._direct
                if direct is not None and error is None:
                    self._end_direct(direct, name, static, pending, run, record, task, outputs)
                    return
                span = self.tracer.start_span(
                    name, context=pending[0], kind=SpanKind.CLIENT, start_time=pending[1]
                )
            else:
                # The sampler and span processors see the call's identity (operation, model,
                # provider, attribution) at start; the per-call numbers are added after.
                span = self.tracer.start_span(
                    name, context=pending[0], kind=SpanKind.CLIENT, attributes=static, start_time=pending[1]
                )
                static = None
        if not span.is_recording():
            return  # not sampled: nothing would be kept of its attributes, events or status
        attrs: dict[str, Any] = {}
        if built_here:
            attrs[TASK_ID] = run.task_id
            if run.attempt != 1:
                attrs[ATTEMPT] = run.attempt
        self._call_attrs(run, record, error, task, outputs, attrs)
        if static is not None:  # values this module built: straight into the span where allowed
            _add_clean_attributes(span, static, attrs)
        elif built_here:
            _add_clean_attributes(span, attrs)
        elif attrs:
            span.set_attributes(attrs)
        end_time = _end_time(run)
        if error is not None:
            etype = attrs[ERROR_TYPE]
            if self.capture_content:
                # The message and stack may quote the prompt: only with the content opt-in.
                span.record_exception(error, timestamp=end_time)
                span.set_status(Status(StatusCode.ERROR, f"{etype}: {error}"))
            else:
                span.add_event("exception", {"exception.type": etype}, timestamp=end_time)
                span.set_status(Status(StatusCode.ERROR, etype))
        span.end(end_time=end_time)

    def _end_direct(
        self,
        direct: DirectSpans,
        name: str,
        static: dict[str, Any],
        pending: tuple[Any, int],
        run: RunInfo,
        record: CostRecord | tuple[Any, ...] | None,
        task: TaskState | None,
        outputs: Any,
    ) -> None:
        """A successful model call's span, made finished (see :mod:`._direct`): the same
        attributes, in the same order, as the SDK path above."""
        sampled = direct.sample(pending[0], name, _CLIENT)
        if sampled is None:
            return  # not recorded: nothing would be kept of its attributes
        attrs = static.copy()
        attrs[TASK_ID] = run.task_id
        if run.attempt != 1:
            attrs[ATTEMPT] = run.attempt
        self._call_attrs(run, record, None, task, outputs, attrs)
        end_time = _end_time(run)
        direct.end(
            sampled,
            name,
            _CLIENT,
            attrs,
            pending[1],
            time.time_ns() if end_time is None else end_time,
        )

    def _call_attrs(
        self,
        run: RunInfo,
        record: CostRecord | tuple[Any, ...] | None,
        error: BaseException | None,
        task: TaskState | None,
        outputs: Any,
        attrs: dict[str, Any],
    ) -> None:
        """The attributes only known when the run ends: the record's (or its row's), the
        response's, the task's totals, the error's type."""
        if record is not None:
            if type(record) is tuple:
                self._cost_attrs(
                    attrs,
                    record[_COST_FROM:_COST_TO],
                    record[_TOKENS_ESTIMATED_AT],
                    record[_PRICE_ESTIMATED_AT],
                    _row_tags(run, record[_TAGS_AT]),
                )
            else:
                self._record_attrs(record, attrs)  # type: ignore[arg-type]
            finish = self._response_attrs(outputs, attrs) if outputs is not None else []
            if self.capture_content:
                self._content_attrs(run, outputs, finish, attrs)
        if task is not None:
            _task_attrs(task, error is None, record is not None, attrs)
        if error is not None:
            attrs[ERROR_TYPE] = type(error).__qualname__

    def _record_attrs(self, r: CostRecord, attrs: dict[str, Any]) -> None:
        # Read the record's fields once (a pydantic attribute read is a dict lookup
        # behind __getattr__ machinery), in a row's order.
        v = r.__dict__
        b = v["cost_breakdown"]
        status = v["cache_status"]
        self._cost_attrs(
            attrs,
            (
                v["input_tokens"],
                v["output_tokens"],
                v["cache_read_tokens"],
                v["cache_write_tokens"],
                v["reasoning_tokens"],
                v["cost_usd"],
                b.input,
                b.cache_read,
                b.cache_write,
                b.output,
                b.reasoning,
                b.currency,
                v["saved_usd"],
                # _value_: the member's value without the enum's property machinery (~1 us)
                status._value_ if type(status) is CacheStatus else str(status),
            ),
            v["tokens_estimated"],
            v["price_estimated"],
            v["tags"],
        )

    def _cost_attrs(
        self,
        attrs: dict[str, Any],
        values: tuple[Any, ...],
        tokens_estimated: Any,
        price_estimated: Any,
        tags: Mapping[str, Any],
    ) -> None:
        """A model call's counts, dollars and tags as attributes; ``values`` as the row's
        columns ``input_tokens`` to ``cache_status``. Absent means false / zero: fewer
        attributes per span, same queries."""
        (
            input_tokens,
            output_tokens,
            cache_read,
            cache_write,
            reasoning,
            cost,
            cost_input,
            cost_cache_read,
            cost_cache_write,
            cost_output,
            cost_reasoning,
            currency,
            saved,
            status,
        ) = values
        attrs[USAGE_INPUT] = input_tokens
        attrs[USAGE_OUTPUT] = output_tokens
        if cache_read:
            attrs[USAGE_CACHE_READ] = cache_read
        if cache_write:
            attrs[self.names.cache_write] = cache_write
        if reasoning:
            attrs[USAGE_REASONING] = reasoning
        attrs[COST_AMOUNT] = cost
        attrs[COST] = cost
        attrs[COST_CURRENCY] = currency
        attrs.update(self._source_attrs or self._cost_source())
        if cost:
            attrs[COST_INPUT_USD] = cost_input
            attrs[COST_OUTPUT_USD] = cost_output
            if cost_cache_read:
                attrs[COST_CACHE_READ_USD] = cost_cache_read
            if cost_cache_write:
                attrs[COST_CACHE_WRITE_USD] = cost_cache_write
            if cost_reasoning:
                attrs[COST_REASONING_USD] = cost_reasoning
        attrs[CACHE_STATUS] = status
        if saved:
            attrs[SAVED_USD] = saved
        if tokens_estimated:
            attrs[TOKENS_ESTIMATED] = True
        if price_estimated:
            attrs[PRICE_ESTIMATED] = True
        if tags:
            for key, value in tags.items():
                if key.startswith("budget."):
                    attrs[BUDGET_PREFIX + key[7:]] = value
                else:
                    attrs[TAG_PREFIX + key] = value

    @staticmethod
    def _response_attrs(outputs: Any, attrs: dict[str, Any]) -> list[str | None]:
        """Response id / model / finish reasons, read duck-typed from an LLMResult-like
        (or taken from what :meth:`digest_call` read of it)."""
        if type(outputs) is _Response:
            attrs.update(outputs.attrs)
            return outputs.finish
        finish: list[str | None] = []
        response_id = response_model = None
        streamed = False
        for group in getattr(outputs, "generations", None) or ():
            for gen in group:
                # Empty mappings are not asked (most generations have no generation_info).
                info = getattr(gen, "generation_info", None)
                message = getattr(gen, "message", None)
                meta = None if message is None else getattr(message, "response_metadata", None)
                reason = info.get("finish_reason") if info else None
                if not reason and meta:
                    reason = meta.get("finish_reason") or meta.get("stop_reason")
                finish.append(str(reason) if reason else None)
                if response_id is None and message is not None:
                    response_id = getattr(message, "id", None) or (meta.get("id") if meta else None)
                if response_model is None and meta:
                    response_model = meta.get("model_name") or meta.get("model")
                if not streamed:
                    chunk = _CHUNK_TYPES.get(type(gen))
                    streamed = _is_chunk(type(gen)) if chunk is None else chunk
        llm_output = getattr(outputs, "llm_output", None)
        # dict first: the Mapping check goes through the ABC machinery (~0.7 us)
        if llm_output is not None and (type(llm_output) is dict or isinstance(llm_output, Mapping)):
            response_id = response_id or llm_output.get("id")
            response_model = response_model or llm_output.get("model_name") or llm_output.get("model")
        if response_id:
            attrs[RESPONSE_ID] = response_id if type(response_id) is str else str(response_id)
        if response_model:
            attrs[RESPONSE_MODEL] = response_model if type(response_model) is str else str(response_model)
        if finish:
            # The usual cases without the filter: every reason known, or none.
            if None not in finish and "" not in finish:
                attrs[RESPONSE_FINISH_REASONS] = tuple(finish)
            elif finish.count(None) != len(finish):
                reasons = tuple(filter(None, finish))
                if reasons:
                    attrs[RESPONSE_FINISH_REASONS] = reasons
        if streamed:
            attrs[REQUEST_STREAM] = True
        return finish

    def _content_attrs(
        self, run: RunInfo, outputs: Any, finish: list[str | None], attrs: dict[str, Any]
    ) -> None:
        messages = run.messages
        if callable(messages):
            messages = messages()
        if messages is not None:
            attrs[sc.INPUT_MESSAGES] = to_json(input_messages(messages))
        if outputs is not None:
            attrs[sc.OUTPUT_MESSAGES] = to_json(output_messages(outputs, finish))
