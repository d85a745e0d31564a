"""Per-call overhead of OpenTelemetry cost spans and metrics.

Same run, same model, same handler: ``model.invoke`` with no handler, with LangChain's
``UsageMetadataCallbackHandler`` (anchor), with the cost handler alone, and with the
handler plus an :class:`OTelObserver` (batch span processor + in-memory exporter, meter
provider + in-memory reader). Two models: a cheap fixed-usage one and a realistic one
(parses an OpenAI JSON response), see ``bench/_common.py``. The sides alternate every
20 calls, so a change in the machine's speed hits every side alike
(:func:`bench._common.interleaved_cost`).

Three clocks per row: wall, the caller's thread CPU, and the whole process's CPU: the
caller's CPU over the side's calls plus the CPU of the side's own background threads (its
ledger's writer, the span processor's worker), read from their per-thread clocks, with
everything the calls queued done every round: the ledger flushed (records priced,
written, spans ended on its writer), the spans exported, and the metrics collected
(queued calls turned into counter sums and histogram samples, as a periodic reader does
in production). Values are means over the rounds; the notes give 90% intervals from
resampling the rounds.

Two ledgers: the default SQLite one (a background writer: the target rows) and
``memory://`` (no writer thread: everything on the caller's thread).

Three anchors split the telemetry overhead: the same handler with a deferrable observer that
does nothing (what telling an observer that reads records costs the tracker: the record
object the writer then builds, the call's objects kept until then), the same with a no-op
observer that reads ledger rows as the OTel observer does (no record object with a SQLite
ledger), and the SDK floor: one bare span
(``start_span`` + ``end``, no attributes) through the same batch span processor and
exporter, per span, whole-process CPU with the export in the window.

Run: ``python -m bench telemetry`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import _common as common
from bench._common import CLOCK_LABELS, CLOCKS, Row

TARGET_US = 40.0
# The sides alternate every BLOCK calls (see bench_foundation); a round is CPU_ROUNDS[0]
# blocks a side, then every side's drain; CPU_ROUNDS[1] rounds.
BLOCK = 20
CPU_ROUNDS = (12, 20)


def _measure(ledger_for: Any, model: Any, quick: bool) -> dict[str, Any]:
    """Interleaved rounds of no handler / usage anchor / handler only / handler + telemetry."""
    from langchain_core.callbacks import UsageMetadataCallbackHandler
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from llm_cost_hooks.langchain import CostCallbackHandler
    from llm_cost_hooks.telemetry import OTelObserver
    from llm_cost_hooks.tracking import RunObserver

    class NoOpObserver(RunObserver):
        deferrable = True

    class NoOpRowObserver(RunObserver):
        deferrable = True
        reads_rows = True

    prompt = "When will my card arrive?"
    meta = {"tenant_id": "acme", "feature": "qa", "route": "cheap"}

    # Each side's background threads (its ledger's writer; the span processor's worker) are
    # read from their own CPU clocks and charged to it, whichever side is running meanwhile.
    plain, plain_threads = common.threads_started_by(lambda: CostCallbackHandler(ledger=ledger_for("plain")))
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()

    def make_traced() -> tuple[Any, Any, Any, Any]:
        tp = TracerProvider()
        tp.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=4096, schedule_delay_millis=200))
        mp = MeterProvider(metric_readers=[reader])
        observer = OTelObserver(tracer_provider=tp, meter_provider=mp)
        return tp, mp, observer, CostCallbackHandler(ledger=ledger_for("traced"), observers=[observer])

    (tp, mp, observer, traced), traced_threads = common.threads_started_by(make_traced)
    told, told_threads = common.threads_started_by(
        lambda: CostCallbackHandler(ledger=ledger_for("told"), observers=[NoOpObserver()])
    )
    told_rows, told_rows_threads = common.threads_started_by(
        lambda: CostCallbackHandler(ledger=ledger_for("told_rows"), observers=[NoOpRowObserver()])
    )

    cfg_none = {"metadata": meta}
    cfg_usage = {"callbacks": [UsageMetadataCallbackHandler()], "metadata": meta}
    cfg_plain = {"callbacks": [plain], "metadata": meta}
    cfg_traced = {"callbacks": [traced], "metadata": meta}
    cfg_told = {"callbacks": [told], "metadata": meta}
    cfg_told_rows = {"callbacks": [told_rows], "metadata": meta}
    collect_cpu: list[float] = []
    spans_seen = [0]

    def drain_traced() -> None:
        traced.tracker.flush()
        tp.force_flush()
        c0 = time.thread_time()
        reader.get_metrics_data()
        collect_cpu.append(time.thread_time() - c0)
        spans_seen[0] += len(exporter.get_finished_spans())
        exporter.clear()

    blocks, rounds = (4, 5) if quick else CPU_ROUNDS
    warmup = 200
    run = common.interleaved_cost(
        {
            "bare": common.Arm(lambda: model.invoke(prompt, config=cfg_none)),
            "usage": common.Arm(lambda: model.invoke(prompt, config=cfg_usage)),
            "plain": common.Arm(
                lambda: model.invoke(prompt, config=cfg_plain), plain_threads, plain.tracker.flush
            ),
            "told": common.Arm(
                lambda: model.invoke(prompt, config=cfg_told), told_threads, told.tracker.flush
            ),
            "told_rows": common.Arm(
                lambda: model.invoke(prompt, config=cfg_told_rows), told_rows_threads, told_rows.tracker.flush
            ),
            "traced": common.Arm(
                lambda: model.invoke(prompt, config=cfg_traced), traced_threads, drain_traced
            ),
        },
        block=BLOCK,
        blocks_per_round=blocks,
        rounds=rounds,
        warmup=warmup,
    )
    out = {
        "run": run,
        "cost": run.cost,
        # the first drain is the warm-up's
        "collect": statistics.fmean(collect_cpu[1:]) / run.calls_per_round,
        "spans": spans_seen[0],
        "calls": warmup + run.calls,
        "observer_errors": observer.stats.observer_errors,
        "deferred": traced.tracker._defers_observers(),
    }
    plain.tracker.close()
    told.tracker.close()
    told_rows.tracker.close()
    traced.tracker.close()
    tp.shutdown()
    mp.shutdown()
    return out


def _sdk_floor(quick: bool) -> tuple[float, int, int]:
    """Process CPU per bare SDK span (start_span + end, no attributes) through the batch span
    processor and in-memory exporter the observer rows use, export in the window: the
    median of the rounds, the rounds and spans per round."""
    from opentelemetry import context as otel_context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=4096, schedule_delay_millis=200))
    tracer = tp.get_tracer("bench")

    def one() -> None:
        # What the observer's SDK path does at least: a parented span with both times.
        start = time.time_ns()
        span = tracer.start_span(
            "chat gpt-4o-mini", context=otel_context.get_current(), kind=SpanKind.CLIENT, start_time=start
        )
        span.end(end_time=time.time_ns())

    number, rounds = (200, 5) if quick else (1000, 9)
    cpu = []
    for r in range(rounds + 1):
        p0 = time.process_time()
        for _ in range(number):
            one()
        tp.force_flush()
        if r:  # the first round warms up
            cpu.append((time.process_time() - p0) / number)
        exporter.clear()
    tp.shutdown()
    return sorted(cpu)[len(cpu) // 2], rounds, number


def run(quick: bool) -> list[Row]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-telemetry-"))
    floor, floor_rounds, floor_number = _sdk_floor(quick)
    rows: list[Row] = [
        Row(
            "telemetry",
            "SDK floor: one bare span (start_span + end) through the same batch processor (process CPU)",
            floor * 1e6,
            "us/span",
            note=f"median of {floor_rounds} rounds x {floor_number} spans, export in the window; the "
            "telemetry rows' model spans go through the SDK's own span only when a sampler or span "
            "processor could watch an open span (else they are handed finished to the processor)",
        )
    ]
    try:
        for mlabel, model in (
            ("cheap model", common.fixed_usage_model()),
            ("realistic model", common.realistic_model()),
        ):
            for label, ledger_for, target in (
                ("SQLite ledger", lambda name, m=mlabel: f"sqlite:///{tmp / (name + m[:5])}.db", True),
                ("memory:// ledger", lambda name: "memory://", False),
            ):
                rows += _rows(f"{label}, {mlabel}", _measure(ledger_for, model, quick), target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def _rows(label: str, m: dict[str, Any], target: bool) -> list[Row]:
    cost = m["cost"]
    run = m["run"]
    how = (
        f"means over {run.how()}; {m['spans']} spans exported for {m['calls']} calls; observer errors "
        f"{m['observer_errors']}; span work "
        + ("on the ledger's writer thread" if m["deferred"] else "on the caller's thread")
        + f"; CPU of threads of no side {run.unowned_cpu * 1e6:.1f} us/call; {run.seconds:.1f} s for these rounds"
    )

    def over(a: str, b: str, clock: str = "process") -> tuple[float, str]:
        mean, lo, hi = cost[a].excess(cost[b], clock)
        return mean * 1e6, f"90% interval from resampling the rounds {lo * 1e6:+.1f} to {hi * 1e6:+.1f} us"

    def base(name: str, clock: str = "process") -> float:
        return float(cost[name].mean(clock) * 1e6)

    usage_over, _ = over("usage", "bare")
    plain_over, plain_spread = over("plain", "bare")
    rows = [
        Row("telemetry", f"{label}: no handler (process CPU)", base("bare"), "us/call"),
        Row(
            "telemetry",
            f"{label}: handler only, overhead (process CPU)",
            plain_over,
            "us/call",
            anchor_name="UsageMetadataCallbackHandler overhead (process CPU)",
            anchor_value=usage_over,
            note=plain_spread,
        ),
    ]
    for clock in CLOCKS:
        value, spread = over("traced", "plain", clock)
        is_target = target and clock == "process"
        note = spread
        if clock == "process":
            note = (
                f"{spread} ({value / base('bare') * 100:.1f}% of the no-handler call's CPU); {how}; "
                "includes the metric collection of these calls (next rows split it out)"
            )
        rows.append(
            Row(
                "telemetry",
                f"{label}: telemetry overhead ({CLOCK_LABELS[clock]})",
                value,
                "us/call",
                anchor_name=f"handler only ({CLOCK_LABELS[clock]})",
                anchor_value=base("plain", clock),
                target=f"<= +{TARGET_US:.0f} us" if is_target else "",
                ok=(value <= TARGET_US) if is_target else None,
                note=note,
            )
        )
    collect_us = m["collect"] * 1e6
    told_over, told_spread = over("told", "plain")
    told_rows_over, told_rows_spread = over("told_rows", "plain")
    traced_told, traced_told_spread = over("traced", "told")
    traced_plain, _ = over("traced", "plain")
    rows += [
        Row(
            "telemetry",
            f"{label}: a no-op deferrable observer, overhead (process CPU)",
            told_over,
            "us/call",
            anchor_name="handler only (process CPU)",
            anchor_value=base("plain"),
            note="the tracker's share of an observer that reads records: the record object built for "
            f"observers, the call's objects kept until the writer takes them; {told_spread}",
        ),
        Row(
            "telemetry",
            f"{label}: a no-op deferrable observer that reads rows, overhead (process CPU)",
            told_rows_over,
            "us/call",
            anchor_name="handler only (process CPU)",
            anchor_value=base("plain"),
            note="the tracker's share of an observer that reads ledger rows, as the OTel observer "
            f"does (with a SQLite ledger no record object is built for it); {told_rows_spread}",
        ),
        Row(
            "telemetry",
            f"{label}: telemetry overhead over the no-op observer (process CPU)",
            traced_told,
            "us/call",
            anchor_name="no-op observer (process CPU)",
            anchor_value=base("told"),
            note=traced_told_spread,
        ),
        Row(
            "telemetry",
            f"{label}: telemetry overhead excl. metric collection (process CPU)",
            traced_plain - collect_us,
            "us/call",
            anchor_name="handler only (process CPU)",
            anchor_value=base("plain"),
        ),
        Row(
            "telemetry",
            f"{label}: metric collection per call (process CPU)",
            collect_us,
            "us/call",
            note="queued calls turned into counter sums and histogram samples (added to the SDK's "
            "aggregations one batch per attribute set) when a reader collects, once a round",
        ),
    ]
    return rows
