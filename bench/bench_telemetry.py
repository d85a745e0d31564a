"""Per-call overhead of OpenTelemetry cost spans and metrics.

Same run, same model, same handler: ``FakeChatModelWithUsage(report_usage=True).invoke``
with the cost handler alone, and with the handler plus an :class:`OTelObserver`
(batch span processor + in-memory exporter, meter provider + in-memory reader). The
difference is what telemetry adds to one model call. The rounds are interleaved so a
drift of the machine hits both sides alike.

Two ledgers: the default SQLite one (a background writer: records are priced and spans
built there, off the caller's thread; the target row) and ``memory://`` (no writer
thread: everything on the caller's thread), plus the process-CPU view of each, which
counts the work moved to other threads.

Run: ``python -m bench telemetry`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import Row, time_per_call

TARGET_US = 40.0


def _measure(ledger_for: Any, quick: bool) -> dict[str, Any]:
    """Interleaved rounds of bare / handler-only / handler + telemetry calls."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
    from llm_cost_hooks.telemetry import OTelObserver

    model = FakeChatModelWithUsage(
        model_name="gpt-4o-mini", responses=["Paris is the capital of France."], report_usage=True
    )
    prompt = "What is the capital of France?"
    meta = {"tenant_id": "acme", "feature": "qa", "route": "cheap"}

    plain = CostCallbackHandler(ledger=ledger_for("plain"))
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=4096, schedule_delay_millis=200))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    observer = OTelObserver(tracer_provider=tp, meter_provider=mp)
    traced = CostCallbackHandler(ledger=ledger_for("traced"), observers=[observer])

    cfg_none = {"metadata": meta}
    cfg_plain = {"callbacks": [plain], "metadata": meta}
    cfg_traced = {"callbacks": [traced], "metadata": meta}

    number = 200 if quick else 1000
    rounds = 5 if quick else 15
    bare_t, plain_t, traced_t, collect_t = [], [], [], []
    plain_cpu, traced_cpu = [], []
    spans_seen = 0
    for _ in range(rounds):
        bare_t.append(
            time_per_call(lambda: model.invoke(prompt, config=cfg_none), number=number, repeat=1, warmup=20)
        )
        c0 = time.process_time()
        plain_t.append(
            time_per_call(lambda: model.invoke(prompt, config=cfg_plain), number=number, repeat=1, warmup=20)
        )
        plain.tracker.flush()  # the records' writer work belongs to this window
        plain_cpu.append((time.process_time() - c0) / (number + 20))
        c0 = time.process_time()
        traced_t.append(
            time_per_call(lambda: model.invoke(prompt, config=cfg_traced), number=number, repeat=1, warmup=20)
        )
        # CPU view: every thread of the process (caller, ledger writer, span processor), with
        # the records written and the spans of these calls exported inside the window
        # (metric collection is timed on its own below).
        traced.tracker.flush()
        tp.force_flush()
        traced_cpu.append((time.process_time() - c0) / (number + 20))
        # The metric measurements of these calls are made when a reader collects (on the
        # exporter's thread in production): time that work too.
        t0 = time.perf_counter()
        reader.get_metrics_data()
        collect_t.append((time.perf_counter() - t0) / (number + 20))
        spans_seen += len(exporter.get_finished_spans())
        exporter.clear()
    out = {
        "bare": statistics.median(bare_t),
        "plain": statistics.median(plain_t),
        "traced": statistics.median(traced_t),
        # Paired per round (same seconds of machine load on both sides), then the median.
        "overhead_us": statistics.median(t - p for t, p in zip(traced_t, plain_t)) * 1e6,
        "collect_us": statistics.median(collect_t) * 1e6,
        "cpu_overhead_us": statistics.median(t - p for t, p in zip(traced_cpu, plain_cpu)) * 1e6,
        "plain_cpu_us": statistics.median(plain_cpu) * 1e6,
        "rounds": rounds,
        "number": number,
        "spans": spans_seen,
        "calls": rounds * (number + 20),
        "observer_errors": observer.stats.observer_errors,
        "deferred": traced.tracker._defers_observers(),
    }
    plain.tracker.close()
    traced.tracker.close()
    tp.shutdown()
    mp.shutdown()
    return out


def run(quick: bool) -> list[Row]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-telemetry-"))
    try:
        sqlite = _measure(lambda name: f"sqlite:///{tmp / name}.db", quick)
        memory = _measure(lambda name: "memory://", quick)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows: list[Row] = []
    for label, m, target in (
        ("default SQLite ledger", sqlite, True),
        ("memory:// ledger, no writer thread", memory, False),
    ):
        plain_us = m["plain"] * 1e6
        how = (
            f"median of {m['rounds']} paired rounds x {m['number']} calls; {m['spans']} spans exported for "
            f"{m['calls']} calls; observer errors {m['observer_errors']}; span work "
            + ("on the ledger's writer thread" if m["deferred"] else "on the caller's thread")
        )
        rows += [
            Row(
                "telemetry",
                f"{label}: invoke, handler + spans + metrics",
                m["traced"] * 1e6,
                "us/call",
                anchor_name="invoke, handler only",
                anchor_value=plain_us,
            ),
            Row(
                "telemetry",
                f"{label}: telemetry overhead per call",
                m["overhead_us"],
                "us/call",
                anchor_name="invoke, handler only",
                anchor_value=plain_us,
                target=f"<= +{TARGET_US:.0f} us" if target else "",
                ok=(m["overhead_us"] <= TARGET_US) if target else None,
                note=how,
            ),
            Row(
                "telemetry",
                f"{label}: overhead, process CPU incl. writer + span export",
                m["cpu_overhead_us"],
                "us/call",
                anchor_name="invoke, handler only (CPU)",
                anchor_value=m["plain_cpu_us"],
                note="CPU of every thread (caller, ledger writer, span processor), records written and spans "
                "exported inside the window; metric collection is the next row",
            ),
            Row(
                "telemetry",
                f"{label}: deferred metric work per call (collector)",
                m["collect_us"],
                "us/call",
                anchor_name="invoke, handler only",
                anchor_value=plain_us,
                note="queued calls turned into counter sums and histogram samples at collection, off the caller",
            ),
            Row(
                "telemetry",
                f"{label}: invoke, no handler",
                m["bare"] * 1e6,
                "us/call",
                anchor_name="invoke, handler only",
                anchor_value=plain_us,
            ),
        ]
    return rows
