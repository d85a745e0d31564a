"""Model spans handed finished to the span processors (telemetry/_direct.py): the same span
as the SDK's own start_span / end path, and that path whenever anything could tell them
apart."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, TraceIdRatioBased

from llm_cost_hooks import CostTracker, TokenUsage
from llm_cost_hooks.telemetry import OTelObserver, _direct, _sdk


class _EndingHook(SpanProcessor):
    """A processor with its own (private) ending hook: it sees the open span."""

    def _on_ending(self, span: Any) -> None:
        pass


def _pipeline(
    *processors: Any, sdk_path: bool = False, **provider: Any
) -> tuple[OTelObserver, InMemorySpanExporter]:
    tp = TracerProvider(resource=Resource.create({"service.name": "svc"}), **provider)
    exporter = InMemorySpanExporter()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    for p in processors:
        tp.add_span_processor(p)
    if sdk_path:  # a processor that watches a span end: the SDK's own path, nothing else changed
        tp.add_span_processor(_EndingHook())
    return OTelObserver(tracer_provider=tp, metrics=False), exporter


def _call(tracker: CostTracker, run_id: str = "r1", parent: Any = None) -> None:
    tracker.start_llm(
        run_id,
        parent,
        model="gpt-4o-mini",
        provider="openai",
        messages=[],
        params={"temperature": 0.2, "stop": ["\n"]},
        metadata={"tenant_id": "acme", "feature": "qa"},
    )
    tracker.end_llm(run_id, TokenUsage(input_tokens=1000, output_tokens=200, cache_read_tokens=100))


def _same(span: Any) -> list[tuple[str, Any]]:
    """The span's attributes in order, its task id (one per tracker) left out."""
    return [(k, v) for k, v in span.attributes.items() if k != "llm_cost_hooks.task_id"]


def test_direct_span_is_the_sdk_span() -> None:
    direct, direct_out = _pipeline()
    sdk, sdk_out = _pipeline(sdk_path=True)
    before = time.time_ns()
    _call(CostTracker(ledger="memory://", observers=[direct]))
    after = time.time_ns()
    _call(CostTracker(ledger="memory://", observers=[sdk]))  # the same call, its own tracker
    assert direct._direct is not None and sdk._direct is None and sdk._start_blind()
    [a] = direct_out.get_finished_spans()
    [b] = sdk_out.get_finished_spans()
    assert (a.name, a.kind, a.status.status_code, a.parent) == (
        b.name,
        b.kind,
        b.status.status_code,
        b.parent,
    )
    assert _same(a) == _same(b)  # same values, same order
    assert a.attributes["gen_ai.usage.cost.amount"] > 0 and a.attributes["gen_ai.request.stop_sequences"] == (
        "\n",
    )
    assert (a.events, a.links, a.dropped_attributes, a.dropped_events) == (b.events, b.links, 0, 0)
    assert a.resource == b.resource and a.resource.attributes["service.name"] == "svc"
    assert a.instrumentation_scope == b.instrumentation_scope
    assert a.instrumentation_scope is not None and a.instrumentation_scope.name == "llm_cost_hooks"
    assert a.context.trace_flags == b.context.trace_flags and a.context.trace_flags.sampled
    assert a.context.is_valid and not a.context.is_remote and a.context.trace_id != b.context.trace_id
    assert a.start_time is not None and a.end_time is not None
    assert before <= a.start_time <= a.end_time <= after
    assert a.to_json() and b.to_json()


def test_direct_span_under_the_callers_span() -> None:
    direct, out = _pipeline()
    tracer = direct.tracer
    tracker = CostTracker(ledger="memory://", observers=[direct])
    with tracer.start_as_current_span("request") as request:
        _call(tracker)
    assert direct._direct is not None
    spans = {s.name: s for s in out.get_finished_spans()}
    model, parent = spans["chat gpt-4o-mini"], spans["request"]
    assert model.parent is not None and model.parent.span_id == request.get_span_context().span_id
    assert model.context.trace_id == parent.context.trace_id
    assert model.context.trace_flags == parent.context.trace_flags


def test_unsampled_direct_spans_reach_no_processor() -> None:
    for sampler in (ALWAYS_OFF, ParentBased(TraceIdRatioBased(0.0))):
        direct, out = _pipeline(sampler=sampler)
        tracker = CostTracker(ledger="memory://", observers=[direct])
        _call(tracker)
        assert direct._direct is not None and out.get_finished_spans() == ()
        assert direct.stats.observer_errors == 0


def test_attribute_count_limit_as_the_sdk_applies_it() -> None:
    limits = SpanLimits(max_span_attributes=5)
    direct, direct_out = _pipeline(span_limits=limits)
    sdk, sdk_out = _pipeline(span_limits=limits, sdk_path=True)
    for observer in (direct, sdk):
        _call(CostTracker(ledger="memory://", observers=[observer]))
    assert direct._direct is not None
    [a] = direct_out.get_finished_spans()
    [b] = sdk_out.get_finished_spans()
    assert len(a.attributes) == 5 and _same(a) == _same(b)
    assert a.dropped_attributes == b.dropped_attributes > 0


class _ReadsOnStart(SpanProcessor):
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass


@pytest.mark.parametrize(
    ("setup", "why"),
    [
        (lambda: _pipeline(_ReadsOnStart()), "a processor that sees the span start"),
        (lambda: _pipeline(sdk_path=True), "a processor that sees the span ending"),
        (lambda: _pipeline(span_limits=SpanLimits(max_span_attribute_length=100)), "a value length limit"),
    ],
)
def test_the_sdk_path_whenever_a_span_could_be_watched(setup: Any, why: str) -> None:
    observer, out = setup()
    tracker = CostTracker(ledger="memory://", observers=[observer])
    _call(tracker)
    assert observer._direct is None, why
    [span] = out.get_finished_spans()
    assert span.attributes["gen_ai.usage.cost.amount"] > 0


def test_the_sdk_path_off_the_checked_sdk_releases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sdk, "_DIRECT_SPANS_VERSION_OK", False)
    observer, out = _pipeline()
    _call(CostTracker(ledger="memory://", observers=[observer]))
    assert observer._direct is None and len(out.get_finished_spans()) == 1
    monkeypatch.setattr(_sdk, "_DIRECT_SPANS_VERSION_OK", True)
    monkeypatch.setattr(_sdk, "SHIMS_ON", False)  # the shims off: the public API only
    observer, out = _pipeline()
    _call(CostTracker(ledger="memory://", observers=[observer]))
    assert observer._direct is None and len(out.get_finished_spans()) == 1


def test_the_installed_sdk_is_a_checked_release() -> None:
    # A newer SDK fails here on purpose: run this suite on it, then raise DIRECT_SPANS_RANGE.
    assert _sdk.direct_spans_allowed(), (_sdk.installed_sdk_version(), _sdk.DIRECT_SPANS_RANGE)


def test_no_direct_spans_for_a_proxy_or_a_self_metered_tracer(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _direct.direct_spans(trace.ProxyTracer("t"), None) is None
    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")
    tracer = TracerProvider().get_tracer("t")
    assert not _sdk.tracer_self_metrics_off(tracer)
    assert _direct.direct_spans(tracer, None) is None


def test_a_tracer_disabled_later_makes_no_span() -> None:
    direct, out = _pipeline()
    tracker = CostTracker(ledger="memory://", observers=[direct])
    _call(tracker, "r1")
    assert direct._direct is not None
    enabled = _sdk.tracer_enabled(direct.tracer)
    assert enabled is not None and enabled() is True
    config = direct.tracer._tracer_config  # type: ignore[attr-defined]
    monkey = type(config)(is_enabled=False)
    direct.tracer._set_tracer_config(monkey)  # type: ignore[attr-defined]
    _call(tracker, "r2")
    assert len(out.get_finished_spans()) == 1


def test_otlp_encodes_the_direct_span_as_the_sdk_span() -> None:
    encoder = pytest.importorskip("opentelemetry.exporter.otlp.proto.common.trace_encoder")
    direct, direct_out = _pipeline()
    sdk, sdk_out = _pipeline(sdk_path=True)
    for observer in (direct, sdk):
        _call(CostTracker(ledger="memory://", observers=[observer]))
    assert direct._direct is not None and sdk._direct is None

    def encoded(out: InMemorySpanExporter) -> tuple[Any, ...]:
        [rs] = encoder.encode_spans(out.get_finished_spans()).resource_spans
        [ss] = rs.scope_spans
        [span] = ss.spans
        attrs = [(a.key, str(a.value)) for a in span.attributes if a.key != "llm_cost_hooks.task_id"]
        return (rs.resource, ss.scope, span.name, span.kind, span.flags, attrs, span.dropped_attributes_count)

    assert encoded(direct_out) == encoded(sdk_out)


def _parents() -> list[Any]:
    """Contexts with no parent, and with local / remote, sampled / not sampled parents that
    carry a trace state."""
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

    contexts: list[Any] = [None]
    state = TraceState([("vendor", "x1")])
    for remote in (False, True):
        for flags in (TraceFlags(TraceFlags.SAMPLED), TraceFlags(0)):
            parent = SpanContext(0xABC, 0xDEF, is_remote=remote, trace_flags=flags, trace_state=state)
            contexts.append(trace.set_span_in_context(NonRecordingSpan(parent)))
    return contexts


@pytest.mark.parametrize(
    ("sampler", "fixed"),
    [
        (None, True),  # the SDK's default: ParentBased(ALWAYS_ON)
        (ALWAYS_OFF, True),
        (ParentBased(ALWAYS_OFF), True),
        (ParentBased(ALWAYS_OFF, remote_parent_not_sampled=ALWAYS_ON, local_parent_sampled=ALWAYS_OFF), True),
        (ParentBased(TraceIdRatioBased(0.5)), False),  # asked per span
        (TraceIdRatioBased(0.5), False),
    ],
)
def test_sampling_as_the_sdk_samples(sampler: Any, fixed: bool) -> None:
    """Fixed decisions are read from a table per kind of parent, others asked per span: the
    same span context (ids from the same random draws), parent, trace state and attributes
    as the SDK's start_span."""
    import random

    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanKind

    tp = TracerProvider(**({} if sampler is None else {"sampler": sampler}))
    tracer = tp.get_tracer("llm_cost_hooks")
    direct = _direct.direct_spans(tracer, InstrumentationScope("llm_cost_hooks"))
    assert direct is not None and (direct._decisions is not None) is fixed
    # A recording root decision that is fixed: root spans take the once-worked-out path.
    assert (direct._root is not None) is (sampler is None)
    for context in _parents():
        for seed in range(8):  # the same random draws: the same ids
            random.seed(seed)
            ours = direct.sample(context, "chat m", SpanKind.CLIENT)
            random.seed(seed)
            span = tracer.start_span("chat m", context=context, kind=SpanKind.CLIENT)
            if not span.is_recording():
                assert ours is None
                continue
            assert ours is not None
            span_context, parent, attributes, sampled = ours
            assert sampled is span.get_span_context().trace_flags.sampled
            assert span_context == span.get_span_context()
            assert span_context.trace_state == span.get_span_context().trace_state
            assert parent == span.parent  # type: ignore[attr-defined]
            assert dict(attributes) == dict(span.attributes)  # type: ignore[attr-defined]


def test_other_id_generators_are_asked_and_their_ids_checked() -> None:
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanKind

    class Counting(IdGenerator):
        def __init__(self) -> None:
            self.n = 0

        def generate_span_id(self) -> int:
            self.n += 1
            return self.n

        def generate_trace_id(self) -> int:
            self.n += 1
            return self.n

    ids = Counting()
    tracer = TracerProvider(id_generator=ids).get_tracer("llm_cost_hooks")
    direct = _direct.direct_spans(tracer, InstrumentationScope("llm_cost_hooks"))
    assert direct is not None and direct._context is _direct._public_span_context
    sampled = direct.sample(None, "chat m", SpanKind.CLIENT)
    assert sampled is not None and (sampled[0].trace_id, sampled[0].span_id) == (1, 2)
    span = tracer.start_span("chat m", kind=SpanKind.CLIENT)
    assert (span.get_span_context().trace_id, span.get_span_context().span_id) == (3, 4)
    assert sampled[0].trace_flags == span.get_span_context().trace_flags
    assert sampled[0].is_valid and span.get_span_context().is_valid


def test_direct_spans_without_the_span_and_context_shims(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the ReadableSpan signature / SpanContext layout shims decline, the direct path
    builds both through their keyword constructors: the same span."""
    monkeypatch.setattr(_sdk, "readable_span_positional", lambda: None)
    monkeypatch.setattr(_sdk, "span_context_maker", lambda: None)
    direct, direct_out = _pipeline()
    sdk, sdk_out = _pipeline(sdk_path=True)
    for observer in (direct, sdk):
        _call(CostTracker(ledger="memory://", observers=[observer]))
    assert direct._direct is not None and direct._direct._defaults is None
    assert direct._direct._context is _direct._public_span_context
    [a] = direct_out.get_finished_spans()
    [b] = sdk_out.get_finished_spans()
    assert _same(a) == _same(b) and (a.name, a.kind, a.resource) == (b.name, b.kind, b.resource)
    assert (
        a.instrumentation_scope == b.instrumentation_scope and a.context.trace_flags == b.context.trace_flags
    )


def test_batch_processor_queue_direct_or_through_on_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sampled direct span goes straight into the SDK batch processor's queue where the shim
    allows, through its on_end otherwise (a subclass, or the shim declining): the same span."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    class Counting(BatchSpanProcessor):  # a subclass: its on_end is called
        ends = 0

        def on_end(self, span: Any) -> None:
            Counting.ends += 1
            super().on_end(span)

    exported = []
    for shim in (True, False):
        if not shim:
            monkeypatch.setattr(_sdk, "batch_emit", lambda processor: None)
        plain, counted = InMemorySpanExporter(), InMemorySpanExporter()
        tp = TracerProvider(resource=Resource.create({"service.name": "svc"}))
        tp.add_span_processor(BatchSpanProcessor(plain))
        tp.add_span_processor(Counting(counted))
        observer = OTelObserver(tracer_provider=tp, metrics=False)
        _call(CostTracker(ledger="memory://", observers=[observer]))
        assert observer._direct is not None
        [direct_emit, on_end] = observer._direct._on_end_sampled
        assert (getattr(direct_emit, "__name__", "") == "emit_queued") is shim
        assert getattr(on_end, "__func__", None) is Counting.on_end
        tp.force_flush()
        [a] = plain.get_finished_spans()
        [b] = counted.get_finished_spans()
        assert a is b
        exported.append((a.name, _same(a)))
        tp.shutdown()
    assert Counting.ends == 2 and exported[0] == exported[1]
