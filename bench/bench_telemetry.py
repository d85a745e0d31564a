"""Per-call overhead of OpenTelemetry cost spans and metrics.

Same run, same model, same handler: ``FakeChatModelWithUsage(report_usage=True).invoke``
with the cost handler alone, and with the handler plus an :class:`OTelObserver`
(batch span processor + in-memory exporter, meter provider + in-memory reader). The
difference is what telemetry adds to one model call. The rounds are interleaved so a
drift of the machine hits both sides alike.

Run: ``python -m bench telemetry`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import statistics
import time

from bench._common import Row, time_per_call

TARGET_US = 40.0


def run(quick: bool) -> list[Row]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
    from llm_cost_hooks.telemetry import OTelObserver

    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["Paris is the capital of France."],
                                   report_usage=True)
    prompt = "What is the capital of France?"
    meta = {"tenant_id": "acme", "feature": "qa", "route": "cheap"}

    plain = CostCallbackHandler(ledger="memory://")
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=4096, schedule_delay_millis=200))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    observer = OTelObserver(tracer_provider=tp, meter_provider=mp)
    traced = CostCallbackHandler(ledger="memory://", observers=[observer])

    cfg_none = {"metadata": meta}
    cfg_plain = {"callbacks": [plain], "metadata": meta}
    cfg_traced = {"callbacks": [traced], "metadata": meta}

    number = 200 if quick else 1000
    rounds = 5 if quick else 15
    bare_t, plain_t, traced_t, collect_t = [], [], [], []
    plain_cpu, traced_cpu = [], []
    for _ in range(rounds):
        bare_t.append(time_per_call(lambda: model.invoke(prompt, config=cfg_none), number=number, repeat=1, warmup=20))
        c0 = time.process_time()
        plain_t.append(time_per_call(lambda: model.invoke(prompt, config=cfg_plain), number=number, repeat=1, warmup=20))
        plain_cpu.append((time.process_time() - c0) / (number + 20))
        c0 = time.process_time()
        traced_t.append(time_per_call(lambda: model.invoke(prompt, config=cfg_traced), number=number, repeat=1, warmup=20))
        # CPU view: every thread of the process, with the span export of these calls done
        # inside the window (metric collection is timed on its own below).
        tp.force_flush()
        traced_cpu.append((time.process_time() - c0) / (number + 20))
        # The metric measurements of these calls are made when a reader collects (on the
        # exporter's thread in production): time that work too.
        t0 = time.perf_counter()
        reader.get_metrics_data()
        collect_t.append((time.perf_counter() - t0) / (number + 20))
        # keep memory flat: drop what the in-memory sinks collected
        tp.force_flush()
        exporter.clear()
        plain.ledger.flush()
        traced.ledger.flush()

    bare = statistics.median(bare_t)
    without = statistics.median(plain_t)
    with_otel = statistics.median(traced_t)
    # Paired per round (same seconds of machine load on both sides), then the median.
    overhead_us = statistics.median(t - p for t, p in zip(traced_t, plain_t)) * 1e6
    collect_us = statistics.median(collect_t) * 1e6
    cpu_overhead_us = statistics.median(t - p for t, p in zip(traced_cpu, plain_cpu)) * 1e6
    spans = observer.stats
    rows = [
        Row("telemetry", "invoke, handler + spans + metrics", with_otel * 1e6, "us/call",
            anchor_name="invoke, handler only", anchor_value=without * 1e6),
        Row("telemetry", "telemetry overhead per call", overhead_us, "us/call",
            anchor_name="invoke, handler only", anchor_value=without * 1e6,
            target=f"<= +{TARGET_US:.0f} us", ok=overhead_us <= TARGET_US,
            note=f"median of {rounds} paired rounds x {number} calls; observer errors {spans.observer_errors}"),
        Row("telemetry", "deferred metric work per call (collector thread)", collect_us, "us/call",
            anchor_name="invoke, handler only", anchor_value=without * 1e6,
            note="queued calls turned into counter sums and histogram samples at collection, off the caller's thread"),
        Row("telemetry", "telemetry overhead per call, process CPU incl. span export", cpu_overhead_us,
            "us/call", anchor_name="invoke, handler only (CPU)", anchor_value=statistics.median(plain_cpu) * 1e6,
            target=f"<= +{TARGET_US:.0f} us", ok=cpu_overhead_us <= TARGET_US,
            note="CPU of every thread (caller, span processor), spans exported inside the window; "
                 "other processes barely move this clock; metric collection is the row above"),
        Row("telemetry", "invoke, no handler", bare * 1e6, "us/call",
            anchor_name="invoke, handler only", anchor_value=without * 1e6),
    ]
    tp.shutdown()
    mp.shutdown()
    return rows
