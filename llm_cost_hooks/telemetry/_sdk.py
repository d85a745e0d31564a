"""The OpenTelemetry SDK's private fields the observer uses, one shim per field.

Each shim returns ``None`` (and the observer takes the SDK's public API) unless the
installed ``opentelemetry-sdk`` is in :data:`TESTED_RANGE` and the field has the shape
the shim expects. Why use them at all: the public ``Span.set_attributes`` re-checks every
value the observer built itself (a model span carries about 27), which is most of the
span's CPU, and the public ``Histogram.record`` cleans and hashes the attributes of every
sample (~20 us each, three per model call); and the SDK's mutable span, built and then
copied for its processors, is three quarters of a span's CPU when a finished span can be
handed to them instead (``_direct.py``: the span limits, the tracer's enabled state and
self-metrics, and the processors' ending hook tell when it can; the layouts of
``SpanContext`` and ``ReadableSpan`` let that span be filled without their checking
constructors, ~2 us less per span); measured in ``bench/results/``. The ranges are raised after the test suite passed on a newer SDK
release (``tests/test_telemetry_sdk_shims.py`` and ``tests/test_telemetry_direct_spans.py``
check each shim on the installed one and force the public path).
"""

from __future__ import annotations

import math
import operator
import os
import re
import sys
import threading
from bisect import bisect_left, bisect_right
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from functools import lru_cache, reduce
from itertools import repeat
from typing import Any, cast

__all__ = [
    "DIRECT_SPANS_RANGE",
    "SHIMS_ON",
    "TESTED_RANGE",
    "attribute_map",
    "batch_emit",
    "current_context_getter",
    "direct_spans_allowed",
    "forget_inherited_points",
    "histogram_merge",
    "installed_sdk_version",
    "noop_on_ending",
    "parent_based_delegates",
    "readable_span_positional",
    "span_context_maker",
    "span_limits",
    "span_processors",
    "tracer_enabled",
    "tracer_self_metrics_off",
    "version_in_range",
]

#: ``opentelemetry-sdk`` releases the shims are used with: ``[low, high)``.
TESTED_RANGE: tuple[tuple[int, int], tuple[int, int]] = ((1, 30), (1, 46))

_PARENT_BASED_FIELDS = (
    "_root",
    "_remote_parent_sampled",
    "_remote_parent_not_sampled",
    "_local_parent_sampled",
    "_local_parent_not_sampled",
)


def installed_sdk_version() -> tuple[int, int] | None:
    """``(major, minor)`` of the installed ``opentelemetry-sdk``, or None if unknown."""
    try:
        from importlib.metadata import version

        text = version("opentelemetry-sdk")
    except Exception:
        return None
    match = re.match(r"(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def version_in_range(
    found: tuple[int, int] | None,
    tested: tuple[tuple[int, int], tuple[int, int]] = TESTED_RANGE,
) -> bool:
    return found is not None and tested[0] <= found < tested[1]


def _bounded_attributes_type() -> type | None:
    try:
        from opentelemetry.attributes import BoundedAttributes
    except Exception:
        return None
    probe = BoundedAttributes()
    shaped = (
        isinstance(getattr(probe, "_dict", None), dict)
        and hasattr(probe, "_lock")
        and isinstance(getattr(probe, "_immutable", None), bool)
        and hasattr(probe, "maxlen")
        and hasattr(probe, "max_value_len")
    )
    return BoundedAttributes if shaped else None


_BOUNDED: type | None = _bounded_attributes_type()

#: Whether the shims may be used at all (tests set it false to force the public path).
SHIMS_ON: bool = version_in_range(installed_sdk_version())

#: ``opentelemetry-sdk`` releases whose ``Tracer.start_span`` / ``Span.end`` the direct
#: model-span path (``telemetry/_direct.py``) reproduces: ``[low, high)``, raised only after
#: ``tests/test_telemetry_direct_spans.py`` passed on the newer release.
DIRECT_SPANS_RANGE: tuple[tuple[int, int], tuple[int, int]] = ((1, 45), (1, 46))
_DIRECT_SPANS_VERSION_OK: bool = version_in_range(installed_sdk_version(), DIRECT_SPANS_RANGE)


def direct_spans_allowed() -> bool:
    """Whether the installed SDK is one the direct model-span path was checked against."""
    return SHIMS_ON and _DIRECT_SPANS_VERSION_OK


def attribute_map(span: Any, room: int) -> tuple[dict[str, Any], Any] | None:
    """Shim for ``span._attributes._dict`` / ``._lock``: the span's attribute map and its
    lock, if ``room`` more attributes can go straight in as the SDK would store them
    (the SDK's own container, still mutable, no value length limit, below its count
    limit, which the SDK would apply by dropping the oldest). None otherwise."""
    if not SHIMS_ON or _BOUNDED is None:
        return None
    store: Any = getattr(span, "_attributes", None)
    if type(store) is not _BOUNDED:
        return None
    data = getattr(store, "_dict", None)
    lock = getattr(store, "_lock", None)
    if not isinstance(data, dict) or lock is None or getattr(store, "_immutable", True) is not False:
        return None
    max_value_len = getattr(store, "max_value_len", 0)
    maxlen = getattr(store, "maxlen", 0)
    if max_value_len is not None or (maxlen is not None and len(data) + room > maxlen):
        return None
    return data, lock


def span_processors(tracer: Any) -> tuple[Any, ...] | None:
    """Shim for ``tracer.span_processor._span_processors`` (the SDK's multi-processor's
    list): the processors a span goes through, or None if they cannot be read."""
    if not SHIMS_ON:
        return None
    processors = getattr(getattr(tracer, "span_processor", None), "_span_processors", None)
    return processors if isinstance(processors, tuple) else None


def span_limits(tracer: Any) -> Any | None:
    """Shim for ``tracer._span_limits``: the ``SpanLimits`` its spans are built with, or
    None if they cannot be read."""
    if not SHIMS_ON:
        return None
    try:
        from opentelemetry.sdk.trace import SpanLimits
    except Exception:
        return None
    limits = getattr(tracer, "_span_limits", None)
    return limits if isinstance(limits, SpanLimits) else None


def tracer_enabled(tracer: Any) -> Callable[[], bool] | None:
    """Shim for ``tracer._is_enabled`` (the tracer configurator's verdict, which may change
    while the tracer lives: a disabled tracer makes only non-recording spans): the method,
    if it answers a bool, else None."""
    if not SHIMS_ON:
        return None
    method = getattr(tracer, "_is_enabled", None)
    if not callable(method):
        return None
    try:
        enabled = method()
    except Exception:
        return None
    return cast(Callable[[], bool], method) if isinstance(enabled, bool) else None


def tracer_self_metrics_off(tracer: Any) -> bool:
    """Shim for ``tracer._tracer_metrics``: True only when the SDK's own span metrics
    (``otel.sdk.span.*``, opt-in) are the no-op kind, so a span made without the tracer
    misses no count."""
    if not SHIMS_ON:
        return False
    try:
        from opentelemetry.sdk.trace._tracer_metrics import NoOpTracerMetrics
    except Exception:
        return False
    return type(getattr(tracer, "_tracer_metrics", None)) is NoOpTracerMetrics


def noop_on_ending(processor: Any) -> bool:
    """Shim for ``SpanProcessor._on_ending`` (a hook the SDK calls with the open span as it
    ends): True when ``processor``'s is one of the SDK's that do nothing."""
    if not SHIMS_ON:
        return False
    try:
        from opentelemetry.sdk.trace import SpanProcessor
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except Exception:
        return False
    noops = [getattr(c, "_on_ending", None) for c in (SpanProcessor, BatchSpanProcessor, SimpleSpanProcessor)]
    hook = getattr(type(processor), "_on_ending", None)
    return hook is not None and hook in noops


def batch_emit(processor: Any) -> Callable[[Any], None] | None:
    """Shim for ``BatchSpanProcessor._batch_processor.emit``: what the SDK's batch span
    processor's ``on_end`` calls with a span whose trace flags say sampled (its only other
    work is that check), as :func:`_queue_emit` where it can. For the SDK's own
    ``BatchSpanProcessor`` only (not a subclass); None otherwise, or if the field is not
    there."""
    if not SHIMS_ON:
        return None
    try:
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except Exception:
        return None
    if type(processor) is not BatchSpanProcessor:
        return None
    batch = getattr(processor, "_batch_processor", None)
    emit = getattr(batch, "emit", None)
    if not callable(emit):
        return None
    return _queue_emit(batch, emit) or cast(Callable[[Any], None], emit)


# This process's id, kept by a fork hook: os.getpid() is a system call (~0.3 us here), and
# the SDK's emit makes one per span to notice a fork.
_PID = [os.getpid()]
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))


def _queue_emit(batch: Any, emit: Callable[[Any], None]) -> Callable[[Any], None] | None:
    """The SDK batch processor's ``emit`` (``opentelemetry-sdk`` 1.45, the releases of
    :data:`DIRECT_SPANS_RANGE`) for the usual span: put in its queue, the worker woken once
    a batch is waiting, without the fork check's system call. A shut-down processor, a
    forked child's first span (the processor restarts its worker) and a full queue (a
    warning and a dropped span counted) go through ``emit`` itself. None when the fields
    are not shaped as that release has them."""
    try:
        from opentelemetry.sdk._shared_internal import BatchProcessor
    except Exception:
        return None
    queue = getattr(batch, "_queue", None)
    max_queue = getattr(batch, "_max_queue_size", None)
    max_batch = getattr(batch, "_max_export_batch_size", None)
    if (
        not _DIRECT_SPANS_VERSION_OK
        or type(batch) is not BatchProcessor
        or getattr(emit, "__func__", None) is not BatchProcessor.emit
        or type(queue) is not deque
        or type(max_queue) is not int
        or queue.maxlen != max_queue
        or type(max_batch) is not int
        or type(getattr(batch, "_pid", None)) is not int
        or type(getattr(batch, "_shutdown", None)) is not bool
        or not isinstance(getattr(batch, "_worker_awaken", None), threading.Event)
    ):
        return None
    pid = _PID

    def emit_queued(span: Any) -> None:
        # The queue is the processor's for its life (a fork's restart clears it in place);
        # the worker's event is replaced then, so it is read per use.
        if batch._shutdown or batch._pid != pid[0] or len(queue) >= max_queue:
            emit(span)
            return
        queue.appendleft(span)
        if len(queue) >= max_batch and not batch._worker_awaken.is_set():
            batch._worker_awaken.set()

    return emit_queued


def current_context_getter() -> Callable[[], Any] | None:
    """Shim for ``opentelemetry.context._RUNTIME_CONTEXT._current_context.get``: what
    ``opentelemetry.context.get_current()`` returns, read from the context variable of
    the API's default runtime context directly. None for another runtime context
    (``OTEL_PYTHON_CONTEXT``) or if the field is not there."""
    if not SHIMS_ON:
        return None
    try:
        from opentelemetry import context
        from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
    except Exception:
        return None
    runtime = getattr(context, "_RUNTIME_CONTEXT", None)
    if type(runtime) is not ContextVarsRuntimeContext:
        return None
    variable = getattr(runtime, "_current_context", None)
    if not isinstance(variable, ContextVar):
        return None
    try:
        if variable.get() is not context.get_current():
            return None
    except Exception:
        return None
    return variable.get


def parent_based_delegates(sampler: Any) -> tuple[Any, ...] | None:
    """Shim for ``ParentBased._root`` and its four other delegates: the samplers a
    ``ParentBased`` sampler hands its decision to, or None if they cannot be read."""
    if not SHIMS_ON:
        return None
    try:
        from opentelemetry.sdk.trace.sampling import ParentBased
    except Exception:
        return None
    if not isinstance(sampler, ParentBased):
        return None
    delegates = tuple(getattr(sampler, name, None) for name in _PARENT_BASED_FIELDS)
    return None if any(d is None for d in delegates) else delegates


def _span_context_tuple() -> Callable[[int, int, Any, Any], Any] | None:
    """The maker behind :func:`span_context_maker`, if ``SpanContext`` is laid out as
    the tuple it declares: checked by building one both ways."""
    try:
        from opentelemetry.trace import SpanContext, TraceFlags, TraceState
        from opentelemetry.trace.span import DEFAULT_TRACE_STATE
    except Exception:
        return None
    if not issubclass(SpanContext, tuple) or cast(Any, SpanContext).__new__ is tuple.__new__:
        return None
    new = tuple.__new__

    def make(trace_id: int, span_id: int, flags: Any, trace_state: Any) -> Any:
        return new(SpanContext, (trace_id, span_id, False, flags, trace_state or DEFAULT_TRACE_STATE, True))

    try:
        flags, state = TraceFlags(TraceFlags.SAMPLED), TraceState([("k", "v")])
        for trace_state in (state, None):
            ours = make(0xABC, 0xDEF, flags, trace_state)
            public = SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=flags, trace_state=trace_state)
            fields = ("trace_id", "span_id", "is_remote", "trace_flags", "trace_state", "is_valid")
            if ours != public or any(getattr(ours, f) != getattr(public, f) for f in fields):
                return None
    except Exception:
        return None
    return make


_SPAN_CONTEXT_MAKER = _span_context_tuple()


def span_context_maker() -> Callable[[int, int, Any, Any], Any] | None:
    """Shim for ``SpanContext``'s tuple layout: ``make(trace_id, span_id, trace_flags,
    trace_state)`` builds a local span's context as ``SpanContext(trace_id, span_id,
    is_remote=False, trace_flags=..., trace_state=...)`` does for ids it finds valid
    (non-zero, in range: the caller's to ensure), without re-checking them (~1 us).
    None when the shims are off or the layout is not the expected one."""
    return _SPAN_CONTEXT_MAKER if SHIMS_ON else None


_READABLE_SPAN_PARAMETERS = (
    "name",
    "context",
    "parent",
    "resource",
    "attributes",
    "events",
    "links",
    "kind",
    "instrumentation_info",
    "status",
    "start_time",
    "end_time",
    "instrumentation_scope",
)


def readable_span_positional() -> tuple[Any, Any, Any] | None:
    """The defaults of ``ReadableSpan``'s ``events``, ``links`` and ``status``, when its
    constructor takes the parameters of :data:`_READABLE_SPAN_PARAMETERS` in that order, so
    the caller can pass all of them by position (a keyword call costs ~0.5 us more); a
    span built both ways is compared. None when the shims are off or the signature
    differs (then the caller passes keywords)."""
    if not SHIMS_ON:
        return None
    try:
        import inspect

        from opentelemetry.sdk.trace import ReadableSpan

        parameters = list(inspect.signature(ReadableSpan.__init__).parameters.values())[1:]
        if tuple(p.name for p in parameters) != _READABLE_SPAN_PARAMETERS or any(
            p.kind is not p.POSITIONAL_OR_KEYWORD for p in parameters
        ):
            return None
        given = {p.name: p.default for p in parameters}
        defaults = (given["events"], given["links"], given["status"])
        probe = {
            "name": "n",
            "context": object(),
            "parent": None,
            "resource": object(),
            "attributes": {"k": 1},
        }
        probe.update(
            kind=object(), instrumentation_info=None, start_time=1, end_time=2, instrumentation_scope=None
        )
        public = ReadableSpan(**probe)  # type: ignore[arg-type]
        ours = ReadableSpan(
            *(probe[k] if k in probe else given[k] for k in _READABLE_SPAN_PARAMETERS)  # type: ignore[arg-type]
        )
        if vars(ours) != vars(public):
            return None
    except Exception:
        return None
    return defaults


def noop_on_start_methods() -> tuple[Callable[..., Any], ...]:
    """The SDK span processors' ``on_start`` methods that do nothing (public classes)."""
    try:
        from opentelemetry.sdk.trace import SpanProcessor
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except Exception:
        return ()
    return (SpanProcessor.on_start, BatchSpanProcessor.on_start, SimpleSpanProcessor.on_start)


def _histogram_internals() -> tuple[Any, ...] | None:
    """The SDK metric classes :func:`histogram_merge` relies on, if they have the shape it
    expects; None otherwise."""
    try:
        from opentelemetry.sdk.metrics import (
            AlwaysOffExemplarFilter,
            Histogram,
            TraceBasedExemplarFilter,
        )
        from opentelemetry.sdk.metrics._internal import _view_instrument_match as vim
        from opentelemetry.sdk.metrics._internal.aggregation import (
            AggregationTemporality,
            _ExplicitBucketHistogramAggregation,
        )
        from opentelemetry.sdk.metrics._internal.measurement_consumer import (
            SynchronousMeasurementConsumer,
        )
    except Exception:
        return None
    hash_attributes = getattr(vim, "_hash_attributes", None)
    match_type = getattr(vim, "_ViewInstrumentMatch", None)
    if not callable(hash_attributes) or match_type is None:
        return None
    if not callable(getattr(match_type, "_get_or_create_aggregation", None)):
        return None
    probe = _ExplicitBucketHistogramAggregation(
        None, AggregationTemporality.CUMULATIVE, 0, cast(Any, dict), boundaries=(1.0,)
    )  # the reservoir builder is never called: the probe records nothing
    shaped = (
        probe._value is None
        and isinstance(probe._sum, int)
        and isinstance(probe._boundaries, tuple)
        and isinstance(probe._record_min_max, bool)
        and math.isinf(probe._min)
        and math.isinf(probe._max)
        and hasattr(probe, "_lock")
        and probe._get_empty_bucket_counts() == [0, 0]
    )
    if not shaped:
        return None
    return (
        Histogram,
        SynchronousMeasurementConsumer,
        (AlwaysOffExemplarFilter, TraceBasedExemplarFilter),
        hash_attributes,
        _ExplicitBucketHistogramAggregation,
    )


@lru_cache(maxsize=1)
def _histogram_shim() -> tuple[Any, ...] | None:
    # Resolved at the first merge, not at import: importing the SDK's metric internals costs
    # ~75 ms, which a process that only exports spans should not pay.
    return _histogram_internals() if SHIMS_ON else None


def _reduce_sum(values: Iterable[Any], start: Any) -> Any:
    return reduce(operator.add, values, start)


# ``start`` plus each value in turn, as a loop of ``+`` adds them (the SDK's aggregate()
# does, and so did a call-by-call drain): before Python 3.12 ``sum`` does exactly that in
# C (a plain double or int accumulator); from 3.12 it compensates float rounding, another
# result in the last bits, so the loop is kept there, through ``reduce``.
sequential_sum: Callable[[Iterable[Any], Any], Any] = sum if sys.version_info < (3, 12) else _reduce_sum


def _count_buckets(counts: Any, boundaries: Sequence[float], values: Sequence[float]) -> None:
    """Add to ``counts`` what ``counts[bisect_left(boundaries, v)] += 1`` per value adds.
    Many values: sorted once, then each bucket's count is the number of sorted values
    above the previous boundary and up to its own (two bisections per bucket instead of
    one per value)."""
    if len(values) <= 2 * len(boundaries):
        for bucket, n in Counter(map(bisect_left, repeat(boundaries), values)).items():
            counts[bucket] += n
        return
    ordered = sorted(values)
    below = 0  # values <= the previous boundary
    for bucket, boundary in enumerate(boundaries):
        upto = bisect_right(ordered, boundary)
        counts[bucket] += upto - below
        below = upto
    counts[len(boundaries)] += len(ordered) - below


def histogram_merge(instrument: Any, attributes: Mapping[str, Any], values: Sequence[float]) -> bool:
    """Shim for the SDK histogram's aggregation state (the measurement consumer's reader
    storages, their view matches and each match's ``_ExplicitBucketHistogramAggregation``
    fields): add ``values`` (each finite and >= 0) recorded with ``attributes`` (already
    clean: str / bool / int / float values) as ``instrument.record(v, attributes)`` for
    each would, in one pass per aggregation instead of one validated, hashed measurement
    per value. Declines (False, nothing added) unless every aggregation the values would
    reach is an explicit-bucket histogram fed without an attribute filter and no exemplar
    would be sampled; then the caller records them through the public API."""
    if not SHIMS_ON or not values:
        return False
    internals = _histogram_shim()
    if internals is None:
        return False
    histogram_type, consumer_type, quiet_filters, hash_attributes, aggregation_type = internals
    # The SDK's histogram (its concrete class is a private subclass), record() not replaced.
    if not isinstance(instrument, histogram_type) or type(instrument).record is not histogram_type.record:
        return False
    enabled = getattr(instrument, "_is_enabled", None)
    if enabled is None or not enabled():
        return False
    consumer = getattr(instrument, "_measurement_consumer", None)
    if type(consumer) is not consumer_type:
        return False
    config = getattr(consumer, "_sdk_config", None)
    exemplar_filter = getattr(config, "exemplar_filter", None)
    if not isinstance(exemplar_filter, quiet_filters):
        return False
    if isinstance(exemplar_filter, quiet_filters[1]):
        from opentelemetry.context import get_current

        # The SDK asks the filter with the recording thread's context: no sampled span here.
        if exemplar_filter.should_sample(values[0], 0, attributes, get_current()):
            return False
    storages = getattr(consumer, "_reader_storages", None)
    if not isinstance(storages, dict):
        return False
    attrs = dict(attributes)
    try:  # nothing is added before every target has been checked
        key = hash_attributes(attrs)
        targets = []
        for storage in list(storages.values()):
            for match in storage._get_or_init_view_instrument_match(instrument):
                if match._view._attribute_keys is not None:
                    return False
                targets.append(match)
        for match in targets:
            with match._lock:
                if type(match._get_or_create_aggregation(key, attrs)) is not aggregation_type:
                    return False
    except Exception:  # a field not shaped as expected
        return False
    low, high = min(values), max(values)
    for match in targets:
        # Under the match's lock, as the SDK records when collect() may swap the
        # aggregations (delta temporality); lock order as in its collect().
        with match._lock:
            aggregation = match._get_or_create_aggregation(key, attrs)
            with aggregation._lock:
                if aggregation._value is None:
                    aggregation._value = aggregation._get_empty_bucket_counts()
                counts = aggregation._value
                # The SDK's aggregate(): the sum value by value, in the same order.
                aggregation._sum = sequential_sum(values, aggregation._sum)
                _count_buckets(counts, aggregation._boundaries, values)
                if aggregation._record_min_max:
                    aggregation._min = min(aggregation._min, low)
                    aggregation._max = max(aggregation._max, high)
    return True


def forget_inherited_points(instruments: Iterable[Any]) -> bool:
    """Shim for the SDK's per-instrument aggregation state (the measurement consumer's
    reader storages and their view matches' ``_attributes_aggregation``, ``_lock`` and
    ``_previous_collection_start_nanos``): in a forked child, drop the points (and the
    delta readers' last reported values) the child inherited from its parent for
    ``instruments``, so its first export holds its own measurements only. The SDK's
    ``MeterProvider`` gives the child a new ``service.instance.id`` after ``fork`` but
    keeps the parent's aggregations, which a backend would then count once more per child.
    True when every SDK instrument among them was reset (others hold no SDK state);
    False, nothing changed for the instrument concerned, if a field is not shaped as
    expected."""
    if not SHIMS_ON:
        return False
    ok = True
    for instrument in instruments:
        consumer = getattr(instrument, "_measurement_consumer", None)
        if consumer is None:
            continue  # not the SDK's (the API's no-op instruments keep nothing)
        storages = getattr(consumer, "_reader_storages", None)
        if not isinstance(storages, Mapping):
            ok = False
            continue
        for storage in list(storages.values()):
            matches = getattr(storage, "_instrument_view_instrument_matches", None)
            if not isinstance(matches, dict):
                ok = False
                continue
            for match in matches.get(instrument, ()):
                if not isinstance(getattr(match, "_attributes_aggregation", None), dict) or not hasattr(
                    match, "_previous_collection_start_nanos"
                ):
                    ok = False
                    continue
                # A new lock: a parent thread (its reader collecting) may have held it at fork.
                match._lock = threading.Lock()
                match._attributes_aggregation = {}
                # New points start at the child's first measurement, not the parent's collection.
                match._previous_collection_start_nanos = None
    return ok
