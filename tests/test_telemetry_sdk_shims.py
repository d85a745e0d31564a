"""The OpenTelemetry SDK private-field shims (telemetry/_sdk.py): each one on the installed
SDK, the version check, and the public-API path they fall back to."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased

from llm_cost_hooks import CostTracker, TokenUsage
from llm_cost_hooks.telemetry import OTelObserver, _sdk
from llm_cost_hooks.telemetry._sdk import histogram_merge as _histogram_merge


def test_installed_sdk_is_in_the_tested_range() -> None:
    # A newer SDK fails here on purpose: run this suite on it, then raise TESTED_RANGE.
    found = _sdk.installed_sdk_version()
    assert found is not None and _sdk.version_in_range(found), (found, _sdk.TESTED_RANGE)
    assert _sdk.SHIMS_ON


@pytest.mark.parametrize(
    ("found", "ok"),
    [((1, 30), True), ((1, 45), True), ((1, 29), False), ((1, 46), False), ((2, 0), False), (None, False)],
)
def test_version_check(found: tuple[int, int] | None, ok: bool) -> None:
    assert _sdk.version_in_range(found, ((1, 30), (1, 46))) is ok


def test_an_untested_sdk_version_turns_the_shims_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "version", lambda name: "9.1.0")
    try:
        importlib.reload(_sdk)
        assert _sdk.installed_sdk_version() == (9, 1)
        assert not _sdk.SHIMS_ON
        span = TracerProvider().get_tracer("t").start_span("s")
        assert _sdk.attribute_map(span, 1) is None
        assert _sdk.span_processors(TracerProvider().get_tracer("t")) is None
        assert _sdk.parent_based_delegates(ParentBased(ALWAYS_ON)) is None
        from opentelemetry.sdk.metrics import MeterProvider

        assert not _sdk.histogram_merge(MeterProvider().get_meter("m").create_histogram("h"), {}, [1.0])
    finally:
        monkeypatch.undo()
        importlib.reload(_sdk)
    assert _sdk.SHIMS_ON


def test_attribute_map_shim() -> None:
    tracer = TracerProvider().get_tracer("t")
    span = tracer.start_span("s")
    target = _sdk.attribute_map(span, 3)
    assert target is not None
    data, lock = target
    with lock:
        data.update({"a": 1, "b": ("x", "y")})
    assert span.attributes == {"a": 1, "b": ("x", "y")}  # type: ignore[attr-defined]
    span.end()
    assert _sdk.attribute_map(span, 1) is None  # ended: immutable
    # Limits the SDK would apply: the shim declines, the public path applies them.
    limited = TracerProvider(span_limits=SpanLimits(max_span_attribute_length=4)).get_tracer("t")
    assert _sdk.attribute_map(limited.start_span("s"), 1) is None
    few = TracerProvider(span_limits=SpanLimits(max_span_attributes=2)).get_tracer("t")
    assert _sdk.attribute_map(few.start_span("s"), 2) is not None
    assert _sdk.attribute_map(few.start_span("s"), 3) is None
    assert _sdk.attribute_map(trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT), 1) is None


def test_span_processors_and_parent_based_shims() -> None:
    tp = TracerProvider()
    processor = SimpleSpanProcessor(InMemorySpanExporter())
    tp.add_span_processor(processor)
    assert _sdk.span_processors(tp.get_tracer("t")) == (processor,)
    assert _sdk.span_processors(trace.ProxyTracer("t")) is None
    root = TraceIdRatioBased(0.5)
    delegates = _sdk.parent_based_delegates(ParentBased(root))
    assert delegates is not None and delegates[0] is root and len(delegates) == 5
    assert _sdk.parent_based_delegates(root) is None


def _one_span(monkeypatch: pytest.MonkeyPatch, shims: bool, tp: TracerProvider) -> dict[str, Any]:
    monkeypatch.setattr(_sdk, "SHIMS_ON", shims)
    exporter = InMemorySpanExporter()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    observer = OTelObserver(tracer_provider=tp, metrics=False)
    tracker = CostTracker(ledger="memory://", observers=[observer])
    tracker.start_llm(
        "r1", None, model="gpt-4o-mini", provider="openai", messages=[], params={"temperature": 0.2}
    )
    tracker.end_llm("r1", TokenUsage(input_tokens=1000, output_tokens=200, cache_read_tokens=100))
    assert observer._start_blind() is shims  # the bare start needs the shims
    [span] = exporter.get_finished_spans()
    return {k: v for k, v in (span.attributes or {}).items() if k != "llm_cost_hooks.task_id"}


def test_public_api_fallback_makes_the_same_span(monkeypatch: pytest.MonkeyPatch) -> None:
    shimmed = _one_span(monkeypatch, True, TracerProvider())
    public = _one_span(monkeypatch, False, TracerProvider())
    assert public == shimmed
    assert public["gen_ai.request.temperature"] == 0.2 and public["gen_ai.usage.cost.amount"] > 0
    # The public path applies the SDK's limits (the shim declines them).
    limited = _one_span(
        monkeypatch, True, TracerProvider(span_limits=SpanLimits(max_span_attribute_length=5))
    )
    assert limited["gen_ai.request.model"] == "gpt-4"


# -- histogram_merge: pre-grouped histogram samples added to the SDK's aggregations ----------


def _metric_points(reader: Any) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every exported point, by (metric, attributes): count / sum / min / max / buckets
    for histograms, the value for counters."""
    out: dict[tuple[str, str], tuple[Any, ...]] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for p in m.data.data_points:
                    key = (m.name, repr(sorted(dict(p.attributes).items())))
                    if hasattr(p, "bucket_counts"):
                        out[key] = (
                            p.count,
                            p.sum,
                            p.min,
                            p.max,
                            tuple(p.bucket_counts),
                            tuple(p.explicit_bounds),
                        )
                    else:
                        out[key] = (p.value,)
    return out


def _traffic(monkeypatch: pytest.MonkeyPatch, shims: bool, **provider_kwargs: Any) -> list[Any]:
    """The same mixed traffic (tenants, models, failures, cache hits, zero-output calls)
    through an observer, collected twice (cumulative and delta readers)."""
    from opentelemetry.sdk.metrics import Histogram as SdkHistogram
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

    from llm_cost_hooks import CacheStatus

    monkeypatch.setattr(_sdk, "SHIMS_ON", shims)
    merges: list[bool] = []

    def counted(*args: Any) -> bool:
        merges.append(_histogram_merge(*args))
        return merges[-1]

    monkeypatch.setattr(_sdk, "histogram_merge", counted)
    cumulative = InMemoryMetricReader()
    delta = InMemoryMetricReader(preferred_temporality={SdkHistogram: AggregationTemporality.DELTA})
    mp = MeterProvider(metric_readers=[cumulative, delta], **provider_kwargs)
    observer = OTelObserver(tracer_provider=TracerProvider(), meter_provider=mp)
    tracker = CostTracker(ledger="memory://", observers=[observer])
    snapshots = []
    for rnd in range(2):
        for i in range(40):
            run = f"r{rnd}-{i}"
            model = ("gpt-4o-mini", "gpt-4o")[i % 2]
            tracker.start_llm(
                run, None, model=model, provider="openai", messages=[], metadata={"tenant_id": "abc"[i % 3]}
            )
            if i % 7 == 3:
                tracker.error_llm(run, TimeoutError("slow"))
            elif i % 5 == 1:
                tracker.end_llm(
                    run, TokenUsage(input_tokens=50, output_tokens=5), cache_status=CacheStatus.EXACT
                )
            else:
                tracker.end_llm(run, TokenUsage(input_tokens=10 + 37 * i, output_tokens=(i * 13) % 400))
            if i == 20:  # a drain between collections (as the drainer thread does): two batches
                assert observer._metrics is not None and observer._metrics.drain() > 0
        snapshots += [_metric_points(cumulative), _metric_points(delta)]
    assert observer.stats.observer_errors == 0
    snapshots.append(merges and all(merges))  # whether every batch went through the shim
    return snapshots


def _zero_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    # Durations come from the clock: fixed here so both paths see the same samples.
    from llm_cost_hooks.telemetry import _metrics

    original = _metrics._Metrics.record

    def record(self: Any, run: Any, record: Any) -> None:
        record.__dict__["latency_ms"] = 12.5 * (1 + record.__dict__["input_tokens"] % 9)
        original(self, run, record)

    monkeypatch.setattr(_metrics._Metrics, "record", record)


def test_histogram_merge_exports_what_one_record_per_sample_does(monkeypatch: pytest.MonkeyPatch) -> None:
    _zero_latency(monkeypatch)
    merged = _traffic(monkeypatch, True)
    public = _traffic(monkeypatch, False)
    assert merged.pop() is True and public.pop() is False
    assert merged == public
    histograms = [v for k, v in merged[0].items() if len(v) > 1]
    assert histograms and sum(v[0] for v in histograms) > 80  # counts, over several attribute sets
    assert merged[1] != merged[3]  # the delta reader saw the second round only


def test_histogram_merge_follows_views_and_declines_what_it_cannot_merge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry.sdk.metrics import AlwaysOnExemplarFilter, MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View

    _zero_latency(monkeypatch)
    buckets = View(
        instrument_type=None,
        instrument_name="gen_ai.client.operation.duration",
        aggregation=ExplicitBucketHistogramAggregation((0.02, 0.05)),
    )
    merged, public = (
        _traffic(monkeypatch, True, views=[buckets]),
        _traffic(monkeypatch, False, views=[buckets]),
    )
    assert merged.pop() is True and public.pop() is False
    assert merged == public
    keys = View(instrument_name="gen_ai.client.operation.duration", attribute_keys={"gen_ai.request.model"})
    declined, public = _traffic(monkeypatch, True, views=[keys]), _traffic(monkeypatch, False, views=[keys])
    assert declined.pop() is False  # the filtered histogram's batches: one record per sample
    assert declined == public[:-1]

    monkeypatch.setattr(_sdk, "SHIMS_ON", True)
    mp = MeterProvider(metric_readers=[InMemoryMetricReader()], views=[keys])
    assert not _sdk.histogram_merge(
        mp.get_meter("m").create_histogram("gen_ai.client.operation.duration"), {}, [1.0]
    )
    plain = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("m").create_histogram("h")
    assert _sdk.histogram_merge(plain, {"a": "b"}, [1.0, 2.0])
    assert not _sdk.histogram_merge(plain, {"a": "b"}, [])
    exemplars = MeterProvider(
        metric_readers=[InMemoryMetricReader()], exemplar_filter=AlwaysOnExemplarFilter()
    )
    assert not _sdk.histogram_merge(exemplars.get_meter("m").create_histogram("h"), {}, [1.0])
    from opentelemetry.metrics import NoOpMeterProvider

    assert not _sdk.histogram_merge(NoOpMeterProvider().get_meter("m").create_histogram("h"), {}, [1.0])
    # A storage not shaped as the shim expects: it declines before adding anything.
    odd = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("m").create_histogram("h")
    monkeypatch.setattr(odd._measurement_consumer, "_reader_storages", {"reader": object()})  # type: ignore[attr-defined]
    assert not _sdk.histogram_merge(odd, {"a": "b"}, [1.0])
    monkeypatch.setattr(_sdk, "SHIMS_ON", False)
    assert not _sdk.histogram_merge(plain, {"a": "b"}, [1.0])


def test_invalid_histogram_samples_take_the_public_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from llm_cost_hooks.telemetry._metrics import _sample

    reader = InMemoryMetricReader()
    observer = OTelObserver(
        tracer_provider=TracerProvider(), meter_provider=MeterProvider(metric_readers=[reader])
    )
    metrics = observer._metrics
    assert metrics is not None
    samples: dict[Any, Any] = {}
    attrs = {"gen_ai.request.model": "m"}
    for value in (0.5, float("nan"), -1.0, 2.0):
        _sample(samples, metrics.duration, attrs, value)
    metrics._record_samples(samples)
    [point] = [v for k, v in _metric_points(reader).items() if k[0] == metrics.duration.name]
    assert point[:4] == (2, 2.5, 0.5, 2.0)  # the SDK dropped the NaN and the negative value


def test_unsampled_spans_skip_the_attributes_but_not_the_metrics() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    exporter = InMemorySpanExporter()
    tp = TracerProvider(sampler=ALWAYS_OFF)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    observer = OTelObserver(tracer_provider=tp, meter_provider=MeterProvider(metric_readers=[reader]))
    tracker = CostTracker(ledger="memory://", observers=[observer])
    tracker.start_run("c1", None, name="qa")
    tracker.start_llm("r1", "c1", model="gpt-4o-mini", provider="openai", messages=[])
    tracker.end_llm("r1", TokenUsage(input_tokens=1000, output_tokens=200))
    tracker.start_llm("r2", "c1", model="gpt-4o-mini", provider="openai", messages=[])
    tracker.error_llm("r2", TimeoutError("slow"))
    tracker.end_run("c1")
    assert exporter.get_finished_spans() == ()
    assert observer.stats.observer_errors == 0
    names = {k[0] for k in _metric_points(reader)}
    assert {"gen_ai.client.operation.duration", "llm_cost_hooks.cost"} <= names


def test_a_no_op_meter_provider_queues_nothing() -> None:
    from opentelemetry.metrics import NoOpMeterProvider

    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    observer = OTelObserver(tracer_provider=tp, meter_provider=NoOpMeterProvider())
    assert observer._metrics is None
    tracker = CostTracker(ledger="memory://", observers=[observer])
    tracker.start_llm("r1", None, model="gpt-4o-mini", provider="openai", messages=[])
    tracker.end_llm("r1", TokenUsage(input_tokens=1000, output_tokens=200))
    [span] = exporter.get_finished_spans()
    assert span.attributes is not None and span.attributes["gen_ai.usage.input_tokens"] == 1000


def test_span_context_maker_builds_the_public_span_context(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.trace import SpanContext, TraceFlags, TraceState

    make = _sdk.span_context_maker()
    assert make is not None
    for flags in (TraceFlags(0), TraceFlags(TraceFlags.SAMPLED)):
        for state in (None, TraceState([("vendor", "x1")])):
            ours = make(2**128 - 1, 1, flags, state)
            public = SpanContext(2**128 - 1, 1, is_remote=False, trace_flags=flags, trace_state=state)
            assert type(ours) is SpanContext and ours == public
            assert (ours.trace_state, ours.is_valid, ours.is_remote) == (public.trace_state, True, False)
    monkeypatch.setattr(_sdk, "SHIMS_ON", False)
    assert _sdk.span_context_maker() is None


def test_readable_span_positional_builds_the_keyword_constructors_span(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

    defaults = _sdk.readable_span_positional()
    assert defaults is not None
    events, links, status = defaults
    resource = Resource.create({"service.name": "svc"})
    scope = InstrumentationScope("llm_cost_hooks", "1")
    context = SpanContext(7, 8, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    parent = SpanContext(7, 9, is_remote=False)
    attrs = {"gen_ai.request.model": "m", "n": 1}
    ours = ReadableSpan(
        "chat m",
        context,
        parent,
        resource,
        attrs,
        events,
        links,
        SpanKind.CLIENT,
        None,
        status,
        10,
        20,
        scope,
    )
    public = ReadableSpan(
        name="chat m",
        context=context,
        parent=parent,
        resource=resource,
        attributes=attrs,
        kind=SpanKind.CLIENT,
        instrumentation_info=None,
        start_time=10,
        end_time=20,
        instrumentation_scope=scope,
    )
    assert vars(ours) == vars(public) and ours.to_json() == public.to_json()
    monkeypatch.setattr(_sdk, "_READABLE_SPAN_PARAMETERS", ("name", "context", "attributes"))
    assert _sdk.readable_span_positional() is None  # another signature: keywords
    monkeypatch.undo()
    monkeypatch.setattr(_sdk, "SHIMS_ON", False)
    assert _sdk.readable_span_positional() is None


def test_current_context_getter_reads_what_get_current_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry import context

    get = _sdk.current_context_getter()
    assert get is not None and get() is context.get_current()
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("request") as span:
        assert get() is context.get_current() and trace.get_current_span(get()) is span
    assert get() is context.get_current()
    monkeypatch.setattr(_sdk, "SHIMS_ON", False)
    assert _sdk.current_context_getter() is None  # the observer then calls get_current()


def test_batch_emit_only_for_the_sdks_own_batch_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    class Sub(BatchSpanProcessor):
        pass

    exporter = InMemorySpanExporter()
    own, sub = BatchSpanProcessor(exporter), Sub(exporter)
    emit = _sdk.batch_emit(own)
    assert emit is not None and emit != own._batch_processor.emit  # the queue directly
    assert _sdk.batch_emit(sub) is None and _sdk.batch_emit(SimpleSpanProcessor(exporter)) is None
    monkeypatch.setattr(_sdk, "_DIRECT_SPANS_VERSION_OK", False)  # another SDK release: its emit
    assert _sdk.batch_emit(own) == own._batch_processor.emit
    monkeypatch.setattr(_sdk, "SHIMS_ON", False)
    assert _sdk.batch_emit(own) is None
    own.shutdown()
    sub.shutdown()


def test_batch_emit_queues_as_the_sdks_emit_does(monkeypatch: pytest.MonkeyPatch) -> None:
    # Same spans, same order, the worker woken at the same batch size, a full queue's drop
    # counted and its oldest span dropped, a shut-down processor ignoring spans, and a forked
    # child's processor restarted: through the shim's emit and through the SDK's own.
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if not _sdk.direct_spans_allowed():
        pytest.skip("the queue shim is for the SDK releases of DIRECT_SPANS_RANGE")
    states = []
    for shim in (True, False):
        exporter = InMemorySpanExporter()
        processor = BatchSpanProcessor(
            exporter, max_queue_size=6, max_export_batch_size=4, schedule_delay_millis=600_000
        )
        batch = processor._batch_processor
        # The worker waits on the event it read: a new one is set by the emits, and the
        # worker sleeps on (no export while spans go in) until it is given back.
        asleep, batch._worker_awaken = batch._worker_awaken, threading.Event()
        emit = _sdk.batch_emit(processor) if shim else batch.emit
        assert emit is not None and (emit != batch.emit) is shim
        woken = []
        for i in range(8):
            if i == 3:
                batch._worker_awaken.clear()  # as the worker does after each wake-up
            emit(ReadableSpan(name=f"s{i}"))
            woken.append(batch._worker_awaken.is_set())
        full: list[int] = []
        monkeypatch.setattr(batch._metrics, "drop_items", lambda n, *a, f=full: f.append(n))
        emit(ReadableSpan(name="full"))
        queued = [s.name for s in batch._queue]
        # A forked child's first span: the processor restarts its worker, queue emptied.
        monkeypatch.setattr(batch, "_pid", batch._pid + 1)
        restarted: list[int] = []
        monkeypatch.setattr(
            batch, "_at_fork_reinit", lambda b=batch, r=restarted: (r.append(1), b._queue.clear())
        )
        emit(ReadableSpan(name="child"))
        child = [s.name for s in batch._queue]
        monkeypatch.setattr(batch, "_pid", os.getpid())
        batch._worker_awaken = asleep
        processor.shutdown()
        emit(ReadableSpan(name="late"))
        states.append((woken, full, queued, restarted, child, [s.name for s in batch._queue]))
    assert states[0] == states[1]
    woken, full, queued, restarted, child, after = states[0]
    # Drops counted: the full queue's oldest span, then the span the shut-down processor ignored.
    assert woken == [False, False, False, True, True, True, True, True] and full == [1, 1]
    assert queued == ["full", "s7", "s6", "s5", "s4", "s3"] and restarted == [1] and child == ["child"]
    assert after == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_the_queue_shims_process_id_follows_a_fork() -> None:
    # The shim tells a forked child's first span by the process id its fork hook keeps: in
    # the child it must be the child's (else spans would go into the parent's stopped queue).
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave at once
        os.write(write, f"{_sdk._PID[0]} {os.getpid()}".encode())
        os._exit(0)
    os.close(write)
    kept, actual = os.read(read, 100).decode().split()
    os.close(read)
    os.waitpid(pid, 0)
    assert kept == actual and int(actual) == pid and _sdk._PID[0] == os.getpid()


@pytest.mark.parametrize("size", [1, 5, 40, 500])
def test_histogram_merge_of_a_large_batch_exports_what_one_record_per_value_does(size: int) -> None:
    # Batches larger than the bucket count are sorted once and bisected per bucket: the
    # counts, sum, min and max stay those of one record() per value, values on a boundary
    # included (a boundary's bucket holds the values up to and including it).
    import random

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from llm_cost_hooks.telemetry import _semconv as sc

    rng = random.Random(size)
    bounds = list(sc.DURATION_BUCKETS)
    values = [
        rng.choice([rng.uniform(0, 2 * bounds[-1]), rng.choice(bounds), 0.0, rng.randint(0, 90)])
        for _ in range(size)
    ]
    points = []
    for merged in (True, False):
        reader = InMemoryMetricReader()
        h = (
            MeterProvider(metric_readers=[reader])
            .get_meter("m")
            .create_histogram("h", explicit_bucket_boundaries_advisory=bounds)
        )
        if merged:
            assert _sdk.histogram_merge(h, {"a": "b"}, values)
        else:
            for v in values:
                h.record(v, {"a": "b"})
        points.append(_metric_points(reader))
    assert points[0] == points[1]
    (counts,) = [p[4] for p in points[0].values()]
    assert sum(counts) == size and (size < 40 or sum(1 for c in counts if c) > 3)


def test_bucket_counts_sorted_and_per_value_agree() -> None:
    import random
    from bisect import bisect_left

    rng = random.Random(7)
    bounds = [0.0, 1.0, 1.0, 2.5, 10.0]  # a repeated boundary's bucket stays empty
    for size in (0, 3, 11, 12, 200):
        values = [rng.choice([rng.uniform(-1, 12), rng.choice(bounds), 3]) for _ in range(size)]
        counts = [0] * (len(bounds) + 1)
        _sdk._count_buckets(counts, bounds, values)
        expected = [0] * (len(bounds) + 1)
        for v in values:
            expected[bisect_left(bounds, v)] += 1
        assert counts == expected, size


@pytest.mark.parametrize(
    ("start", "values"),
    [
        (1e16, [1.0, -1e16]),  # a compensated sum gives 1.0; value by value gives 0.0
        (0.5, [0.1] * 10),
        (0, [3, 0.25, 7, 1e-9, True]),  # ints and bools among floats, an int start
        (5, [412, 14, 256]),  # ints: exact either way
        (0.5, []),
    ],
)
def test_sequential_sum_adds_value_by_value(start: Any, values: list[Any]) -> None:
    """The metric sums stay those of call-by-call recording: left to right, no compensation."""
    import random

    looped = start
    for value in values:
        looped += value
    assert _sdk.sequential_sum(values, start) == looped
    assert type(_sdk.sequential_sum(values, start)) is type(looped)
    rng = random.Random(7)
    floats = [rng.uniform(0, 1e-3) * 10 ** rng.randint(-6, 6) for _ in range(5000)]
    looped = 0.0
    for value in floats:
        looped += value
    assert _sdk.sequential_sum(floats, 0.0) == looped
    assert _sdk._reduce_sum(floats, 0.0) == looped
