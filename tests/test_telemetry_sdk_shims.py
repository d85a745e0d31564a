"""The OpenTelemetry SDK private-field shims (telemetry/_sdk.py): each one on the installed
SDK, the version check, and the public-API path they fall back to."""

from __future__ import annotations

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
