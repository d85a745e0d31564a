"""Counting what telemetry delivered and what it lost.

The export path never blocks the chain (spans are queued and exported from a background
thread), so losses are silent by nature; these wrappers make them visible: an exporter
that raises or answers FAILURE, and a full queue, are counted.
"""

from __future__ import annotations

import inspect
import logging
import threading
import weakref
from dataclasses import dataclass, field, fields
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

__all__ = [
    "CountingBatchSpanProcessor",
    "CountingMetricExporter",
    "CountingSpanExporter",
    "TelemetryStats",
    "register_stats",
    "stats_for",
]

logger = logging.getLogger("llm_cost_hooks.telemetry")


@dataclass
class TelemetryStats:
    """Counters of telemetry delivery. Thread-safe; read them any time.

    ``spans_dropped`` is what never reached the backend: spans whose export failed,
    spans dropped because the queue was full, and spans still queued when the exit
    deadline (``LLM_COST_HOOKS_EXIT_TIMEOUT``) ran out. ``metric_measurements_dropped``
    counts model calls whose metric measurements were dropped (the metric queue was full).
    The export counters cover the exporters :func:`configure_otel` set up; with the user's
    own providers they stay at 0 (those exporters are the user's to count).

    >>> stats = TelemetryStats()
    >>> stats.add("spans_failed", 3); stats.spans_dropped
    3
    """

    spans_exported: int = 0
    spans_failed: int = 0
    spans_dropped_queue_full: int = 0
    spans_unexported_at_exit: int = 0
    span_exports_failed: int = 0
    metric_points_exported: int = 0
    metric_points_failed: int = 0
    metric_exports_failed: int = 0
    metric_measurements_dropped: int = 0
    observer_errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    # Spans handed to the exporter and not answered yet, and whether the exit gave up on
    # them (then they are counted in spans_unexported_at_exit already).
    _in_export: int = field(default=0, repr=False, compare=False)
    _abandoned: bool = field(default=False, repr=False, compare=False)
    _failing: bool = field(default=False, repr=False, compare=False)
    _failed_in_outage: int = field(default=0, repr=False, compare=False)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def _begin_export(self, n: int) -> None:
        with self._lock:
            self._in_export += n

    def _end_export(self, n: int, ok: bool) -> tuple[bool, bool, int]:
        """Counts an export's result; returns (first failure of an outage, first success
        after one, spans lost in that outage) for the caller to log outside the lock."""
        with self._lock:
            self._in_export -= n
            if self._abandoned:  # counted as unexported at the exit already
                if ok:
                    moved = min(n, self.spans_unexported_at_exit)
                    self.spans_unexported_at_exit -= moved
                    self.spans_exported += moved
                return False, False, 0
            if ok:
                self.spans_exported += n
                recovered, lost = self._failing, self._failed_in_outage
                self._failing, self._failed_in_outage = False, 0
                return False, recovered, lost
            self.spans_failed += n
            self.span_exports_failed += 1
            first = not self._failing
            self._failing = True
            self._failed_in_outage += n
            return first, False, n

    def _outage_loss(self) -> int:
        """Spans lost to failed exports since the last success, while exports still fail."""
        with self._lock:
            return self._failed_in_outage if self._failing else 0

    def _abandon_exports(self, queued: int) -> int:
        """At the exit deadline: counts the ``queued`` spans and those in an unfinished
        export as unexported; a late answer moves them, never counts them twice."""
        with self._lock:
            self._abandoned = True
            n = queued + max(self._in_export, 0)
            self.spans_unexported_at_exit += n
            return n

    @property
    def spans_dropped(self) -> int:
        return self.spans_failed + self.spans_dropped_queue_full + self.spans_unexported_at_exit

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            data = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        data["spans_dropped"] = (
            data["spans_failed"] + data["spans_dropped_queue_full"] + data["spans_unexported_at_exit"]
        )
        return data


_REGISTRY: weakref.WeakKeyDictionary[Any, TelemetryStats] = weakref.WeakKeyDictionary()


def register_stats(provider: Any, stats: TelemetryStats) -> None:
    """Associate ``stats`` with a tracer or meter provider (see :func:`stats_for`)."""
    try:
        _REGISTRY[provider] = stats
    except TypeError:  # provider not weak-referenceable
        pass


def stats_for(provider: Any) -> TelemetryStats | None:
    """The stats that :func:`~llm_cost_hooks.telemetry.configure_otel` attached to a provider."""
    try:
        return _REGISTRY.get(provider)
    except TypeError:
        return None


class CountingSpanExporter(SpanExporter):
    """Wraps a span exporter; counts spans exported and spans lost to failed exports.

    >>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    >>> exporter = CountingSpanExporter(InMemorySpanExporter(), TelemetryStats())
    """

    def __init__(self, inner: SpanExporter, stats: TelemetryStats) -> None:
        self.inner = inner
        self.stats = stats

    def export(self, spans: Any) -> SpanExportResult:
        n = len(spans)
        self.stats._begin_export(n)
        raised = False
        try:
            result = self.inner.export(spans)
        except Exception:
            raised = True
            logger.warning("llm-cost-hooks: span export raised; %d spans lost", n, exc_info=True)
            result = SpanExportResult.FAILURE
        first_failure, recovered, lost = self.stats._end_export(n, result is SpanExportResult.SUCCESS)
        if first_failure and not raised:
            logger.warning(
                "llm-cost-hooks telemetry: a span export failed; %d span(s) lost, counted in "
                "stats.spans_failed. Further failures are counted, not logged, until an export "
                "succeeds. Is the collector at the OTLP endpoint up?",
                n,
            )
        elif recovered:
            logger.info(
                "llm-cost-hooks telemetry: spans are exported again; %d span(s) were lost meanwhile", lost
            )
        return result

    def shutdown(self, timeout_millis: float | None = None) -> None:
        if (
            timeout_millis is not None
            and "timeout_millis" in inspect.signature(self.inner.shutdown).parameters
        ):
            self.inner.shutdown(timeout_millis=timeout_millis)  # type: ignore[call-arg]
        else:
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        flush = getattr(self.inner, "force_flush", None)
        return bool(flush(timeout_millis)) if flush else True


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """A :class:`BatchSpanProcessor` that also counts spans dropped because its queue was full.

    Like the SDK's own drop count, it reads the queue's length just before the span is
    queued, without a lock (taking the worker's lock could block the chain behind an
    export): if the worker takes a batch from a full queue in that instant, the span is
    counted as dropped although it was queued.
    """

    def __init__(self, span_exporter: SpanExporter, stats: TelemetryStats, **kwargs: Any) -> None:
        super().__init__(span_exporter, **kwargs)
        self.stats = stats
        # The SDK keeps its queue private; read it defensively (absent -> not counted).
        self._queue = getattr(getattr(self, "_batch_processor", None), "_queue", None)

    def on_end(self, span: ReadableSpan) -> None:
        q = self._queue
        if (
            q is not None
            and q.maxlen is not None
            and len(q) >= q.maxlen
            and span.context
            and span.context.trace_flags.sampled
        ):
            self.stats.add("spans_dropped_queue_full")
        super().on_end(span)


def _points(data: MetricsData) -> int:
    n = 0
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                n += len(getattr(metric.data, "data_points", ()) or ())
    return n


class CountingMetricExporter(MetricExporter):
    """Wraps a metric exporter; counts data points exported and lost to failed exports."""

    def __init__(self, inner: MetricExporter, stats: TelemetryStats) -> None:
        super().__init__(
            preferred_temporality=getattr(inner, "_preferred_temporality", None),
            preferred_aggregation=getattr(inner, "_preferred_aggregation", None),
        )
        self.inner = inner
        self.stats = stats

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        n = _points(metrics_data)
        try:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception:
            logger.warning("llm-cost-hooks: metric export raised; %d points lost", n, exc_info=True)
            result = MetricExportResult.FAILURE
        if result is MetricExportResult.SUCCESS:
            self.stats.add("metric_points_exported", n)
        else:
            self.stats.add("metric_points_failed", n)
            self.stats.add("metric_exports_failed")
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return bool(self.inner.force_flush(timeout_millis=timeout_millis))

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)
