"""A forked worker's spans name the worker, not the parent that built the observer.

The SDK gives a forked child its own ``service.instance.id`` (its providers re-detect the
process-dependent resource after ``fork``); a pre-fork server's workers keep the parent's
observer, so the spans this package hands to the SDK itself must carry the child's
resource too, or a collector sees every worker's spans as the parent's.
"""

from __future__ import annotations

import json
import os
import sys

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_cost_hooks import CostTracker, TokenUsage
from llm_cost_hooks.telemetry import OTelObserver

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _call(tracker: CostTracker, run_id: str) -> None:
    tracker.start_llm(
        run_id, None, model="gpt-4o-mini", provider="openai", messages=[], params={}, metadata={}
    )
    tracker.end_llm(run_id, TokenUsage(input_tokens=100, output_tokens=20))


def test_forked_child_spans_carry_the_childs_resource() -> None:
    tp = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    exporter = InMemorySpanExporter()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    observer = OTelObserver(tracer_provider=tp, metrics=False)
    tracker = CostTracker(ledger="memory://", observers=[observer])
    _call(tracker, "parent-call")
    [parent_span] = exporter.get_finished_spans()
    parent_id = parent_span.resource.attributes["service.instance.id"]
    assert observer._direct is not None  # the path under test: spans built by this package
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what its span carries, then leave without exit hooks
        code = 1
        try:
            exporter.clear()
            _call(tracker, "child-call")
            [span] = exporter.get_finished_spans()
            child_id = tp.resource.attributes["service.instance.id"]
            got = span.resource.attributes["service.instance.id"]
            os.write(write, f"{child_id} {got}".encode())
            code = 0
        except BaseException as exc:  # pragma: no cover - reported through the pipe
            os.write(write, f"error {exc!r}".encode())
        finally:
            sys.stdout.flush()
            os._exit(code)
    os.close(write)
    out = b""
    while chunk := os.read(read, 4096):
        out += chunk
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out.decode()
    child_id, got = out.decode().split()
    assert child_id != parent_id  # the SDK re-detected it in the child
    assert got == child_id


def test_forked_child_cost_counter_starts_from_its_own_calls() -> None:
    """The cost counter is cumulative per process: a forked worker (a new
    ``service.instance.id``) that reported the parent's pre-fork dollars as its own would
    have a collector count them once more per worker."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    mp = MeterProvider(resource=Resource.create({"service.name": "svc"}), metric_readers=[reader])
    observer = OTelObserver(tracer_provider=TracerProvider(), meter_provider=mp)
    tracker = CostTracker(ledger="memory://", observers=[observer])
    for i in range(3):
        _call(tracker, f"parent-{i}")
    tracker.flush()

    def cost() -> float:
        data = reader.get_metrics_data()
        return sum(
            p.value
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == "llm_cost_hooks.cost"
            for p in m.data.data_points
        )

    per_call = cost() / 3
    assert per_call > 0
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _call(tracker, "child-0")
            tracker.flush()
            os.write(write, repr(cost()).encode())
            code = 0
        except BaseException as exc:  # pragma: no cover - reported through the pipe
            os.write(write, f"error {exc!r}".encode())
        finally:
            os._exit(code)
    os.close(write)
    out = b""
    while chunk := os.read(read, 4096):
        out += chunk
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out.decode()
    assert float(out.decode()) == pytest.approx(per_call)  # one call: the child's
    assert cost() == pytest.approx(3 * per_call)  # the parent's own, unchanged


def _points(reader: object) -> dict[str, float]:
    """Per metric: the histograms' sample count, the counters' value, summed over points."""
    out: dict[str, float] = {}
    data = reader.get_metrics_data()  # type: ignore[attr-defined]
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for p in m.data.data_points:
                    value = getattr(p, "count", None)
                    out[m.name] = out.get(m.name, 0) + (p.value if value is None else value)
    return out


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_forked_child_exports_only_its_own_histogram_samples(temporality: str) -> None:
    """The SDK's MeterProvider gives a forked child a new ``service.instance.id`` but keeps
    the parent's aggregations: a child exporting the parent's duration and token samples
    (cumulative), or a negative dollar delta (delta), would be summed wrong by a backend."""
    from opentelemetry.sdk.metrics import Histogram, MeterProvider, ObservableCounter
    from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

    kw = {}
    if temporality == "delta":
        delta = AggregationTemporality.DELTA
        kw = {"preferred_temporality": {Histogram: delta, ObservableCounter: delta}}
    reader = InMemoryMetricReader(**kw)  # type: ignore[arg-type]
    mp = MeterProvider(resource=Resource.create({"service.name": "svc"}), metric_readers=[reader])
    observer = OTelObserver(tracer_provider=TracerProvider(), meter_provider=mp)
    tracker = CostTracker(ledger="memory://", observers=[observer])
    for i in range(3):
        _call(tracker, f"parent-{i}")
    tracker.flush()
    before = _points(reader)  # collected: the parent's three calls are in the SDK now
    duration = observer.names.duration_metric
    assert before[duration] == 3
    _call(tracker, "parent-late")  # queued, not collected yet at the fork
    tracker.flush()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _call(tracker, "child-0")
            tracker.flush()
            os.write(write, json.dumps(_points(reader)).encode())
            code = 0
        except BaseException as exc:  # pragma: no cover - reported through the pipe
            os.write(write, f"error {exc!r}".encode())
        finally:
            os._exit(code)
    os.close(write)
    out = b""
    while chunk := os.read(read, 4096):
        out += chunk
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out.decode()
    child = json.loads(out)
    per_call = before["llm_cost_hooks.cost"] / 3
    assert child[duration] == 1  # the child's one call
    assert child["llm_cost_hooks.cost"] == pytest.approx(per_call)
    after = _points(reader)
    # The parent's call queued at the fork is exported once, by the parent.
    assert after[duration] == (4 if temporality == "cumulative" else 1)
    assert after["llm_cost_hooks.cost"] == pytest.approx((4 if temporality == "cumulative" else 1) * per_call)
