"""The observer's metric queue: calls kept as plain values per attribute key until a reader
collects, turned into measurements column by column (or call by call when their cache
statuses differ), bounded, and drained by a background thread past its threshold."""

from __future__ import annotations

import time
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from llm_cost_hooks import CacheStatus, CostTracker, TokenUsage
from llm_cost_hooks.telemetry import OTelObserver
from llm_cost_hooks.telemetry import _metrics as metrics_module

META_A = {"tenant_id": "acme", "feature": "qa", "route": "cheap"}
META_B = {"tenant_id": "beta"}
# (metadata, model, usage, cache status): two keys, each with mixed and with uniform statuses
CALLS: list[tuple[dict[str, Any], str, TokenUsage, CacheStatus]] = [
    (
        META_A,
        "gpt-4o-mini",
        TokenUsage(input_tokens=412, output_tokens=14, cache_read_tokens=256),
        CacheStatus.MISS,
    ),
    (META_A, "gpt-4o-mini", TokenUsage(input_tokens=333, output_tokens=7), CacheStatus.EXACT),
    (META_A, "gpt-4o-mini", TokenUsage(input_tokens=1000, output_tokens=99), CacheStatus.MISS),
    (
        META_A,
        "gpt-4o-mini",
        TokenUsage(input_tokens=17, output_tokens=3, reasoning_tokens=2),
        CacheStatus.MISS,
    ),
    (META_B, "gpt-4o", TokenUsage(input_tokens=10, output_tokens=2), CacheStatus.MISS),
    (META_B, "gpt-4o", TokenUsage(input_tokens=1234, output_tokens=56), CacheStatus.MISS),
    (META_B, "gpt-4o", TokenUsage(input_tokens=77, output_tokens=0), CacheStatus.MISS),
]


def _exported(semconv: str, call_by_call: bool, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    reader = InMemoryMetricReader()
    observer = OTelObserver(meter_provider=MeterProvider(metric_readers=[reader]), semconv=semconv)  # type: ignore[arg-type]
    m = observer._metrics
    assert m is not None
    if call_by_call:
        width = metrics_module._WIDTH
        monkeypatch.setattr(
            m,
            "_measure_columns",
            lambda key, values, samples: m._measure_each(
                key, [values[i::width] for i in range(width)], samples
            ),
        )
    tracker = CostTracker(ledger="memory://", observers=[observer])
    for i, (meta, model, usage, status) in enumerate(CALLS * 3):
        tracker.start_llm(f"r{i}", None, model=model, provider="openai", metadata=meta, messages=[])
        tracker.end_llm(f"r{i}", usage, cache_status=status)
        if i % 4 == 0:  # and a failed call (its own key: the error type)
            tracker.start_llm(f"f{i}", None, model=model, provider="openai", metadata=meta, messages=[])
            tracker.error_llm(
                f"f{i}", RuntimeError("down"), usage=TokenUsage(input_tokens=i, output_tokens=0)
            )
    assert sum(len(v) for v in m._queued.values()) == metrics_module._WIDTH * (len(CALLS) * 3 + 6)
    points = []
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for p in metric.data.data_points:
                    if "duration" in metric.name:  # real latencies: their count only
                        value: Any = p.count
                    elif hasattr(p, "bucket_counts"):
                        value = (p.sum, p.count, tuple(p.bucket_counts), p.min, p.max)
                    else:
                        value = p.value
                    points.append((metric.name, sorted(p.attributes.items()), value))
    assert observer.stats.observer_errors == 0 and not m._queued
    tracker.close()
    return sorted(points, key=repr)


@pytest.mark.parametrize("semconv", ["legacy", "latest"])
def test_column_drain_exports_what_the_call_by_call_drain_does(
    semconv: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    columns = _exported(semconv, False, monkeypatch)
    each = _exported(semconv, True, monkeypatch)
    assert columns == each
    names = {name for name, _, _ in columns}
    assert "llm_cost_hooks.cost" in names and "llm_cost_hooks.cost.saved" in names
    # the exact-cache hits count in the money counters, not in the GenAI histograms
    assert any(("llm_cost_hooks.cache.status", "exact") in attrs for _, attrs, _ in columns)
    assert any(("error.type", "RuntimeError") in attrs for _, attrs, _ in columns)


def _bare_metrics(**bounds: int) -> tuple[OTelObserver, Any, InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    observer = OTelObserver(meter_provider=provider)
    meter = provider.get_meter("t")
    m = metrics_module._Metrics(meter, observer.names, observer.limiter, observer, **bounds)
    return observer, m, reader


KEY = ("gpt-4o-mini", "openai", "acme", None, None, None, "chat")
VALUES = ("miss", 0.5, 0.0, 120.0, True, 100, 10, 0, 0, 0)


def test_a_full_queue_drops_and_counts() -> None:
    observer, m, _ = _bare_metrics(max_queue=3, drain_at=100)
    for _ in range(5):
        m._queue_call(KEY, VALUES)
    assert observer.stats.metric_measurements_dropped == 2
    assert m.drain() == 3 and m.drain() == 0
    assert [round(value, 9) for _, value in m._cost.values()] == [1.5]


def test_past_the_threshold_a_background_thread_drains() -> None:
    _, m, _ = _bare_metrics(max_queue=100, drain_at=2)
    for _ in range(3):
        m._queue_call(KEY, VALUES)
    deadline = time.monotonic() + 10
    while (m._queued or m._count) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert m._drainer is not None and not m._queued
    with m._lock:
        assert sum(value for _, value in m._cost.values()) == pytest.approx(1.5)


def test_an_unhashable_key_is_measured_on_its_own_or_counted() -> None:
    observer, m, _ = _bare_metrics()
    m._queue_call((["gpt-4o-mini"], *KEY[1:]), VALUES)  # a list where a model name belongs
    m._queue_call(KEY, VALUES)
    assert len(m._odd) == 1
    measured = m.drain()
    assert measured + observer.stats.observer_errors == 2 and measured >= 1
    assert not m._odd and not m._queued


def test_a_batch_with_a_missing_latency_measures_the_others() -> None:
    # A call without a latency adds no duration sample; the batch's other calls keep theirs.
    samples = []
    for column_path in (True, False):
        observer, m, _ = _bare_metrics()
        latencies = (120.0, None, 30.0, 4500.0)
        for latency in latencies:
            m._queue_call(KEY, (*VALUES[:3], latency, *VALUES[4:]))
        found: Any = {}
        if column_path:
            m._measure_each = None  # the column pass handles the batch itself
            assert m._measure_columns(KEY, m._queued[KEY], found) == len(latencies)
        else:
            width = metrics_module._WIDTH
            m._measure_each(KEY, [m._queued[KEY][i::width] for i in range(width)], found)
        assert observer.stats.observer_errors == 0
        samples.append({h.name: list(v) for h, _, v in found.values()})
    assert samples[0] == samples[1]
    assert samples[0][m.duration.name] == [0.12, 0.03, 4.5]
