"""Where the OTel observer's process CPU goes, per model call: the handler called directly
(the cheap model's events), SQLite ledger (spans made on its writer thread), batch span
processor + in-memory exporter, in-memory metric reader. Each stage of the observer is
wrapped with a per-thread CPU timer (``time.thread_time_ns``; the timer itself costs
~0.3 us per call, so small stages read high); the exporter thread's export and the
metric collection are timed too. Rounds of N calls, flushed and collected in the round.

Interleaved with the same loop unwrapped, with a no-op deferrable observer, and with no
observer, so the stage sums can be read against the measured process-CPU differences.

``GC=off``: the garbage collector off in every arm. ``MODE=invoke``: through ``model.invoke`` (as ``python -m bench telemetry``) instead.

Run: N=2000 ROUNDS=11 PYTHONPATH=$PWD python bench/results/otel-2026-12-06c/stages.py
"""

import collections
import gc
import os
import statistics
import tempfile
import time

from _events import handler_calls, invoke_calls, pipeline
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_cost_hooks.langchain import CostCallbackHandler
from llm_cost_hooks.telemetry import OTelObserver, _direct, _metrics
from llm_cost_hooks.tracking import RunObserver

n = int(os.environ.get("N", "2000"))
rounds = int(os.environ.get("ROUNDS", "11"))
tmp = tempfile.mkdtemp()

totals: dict[str, int] = collections.defaultdict(int)
clock = time.thread_time_ns


def wrap(owner, name, label):
    raw = owner.__dict__[name]  # restored as found (a staticmethod stays one)
    fn = getattr(owner, name)

    def timed(*a, **k):
        t0 = clock()
        try:
            return fn(*a, **k)
        finally:
            totals[label] += clock() - t0

    setattr(owner, name, staticmethod(timed) if isinstance(raw, staticmethod) else timed)
    return raw


class NoOp(RunObserver):
    deferrable = True


providers = []


def otel():
    tp, exporter, reader, mp = pipeline()
    providers.append((tp, exporter, reader))
    return OTelObserver(tracer_provider=tp, meter_provider=mp)


arms = {
    "none": CostCallbackHandler(ledger=f"sqlite:///{tmp}/a.db"),
    "noop": CostCallbackHandler(ledger=f"sqlite:///{tmp}/b.db", observers=[NoOp()]),
    "otel": CostCallbackHandler(ledger=f"sqlite:///{tmp}/c.db", observers=[otel()]),
}


exported = [0]
invoke = os.environ.get("MODE", "direct") == "invoke"


def calls(h, count):
    (invoke_calls if invoke else handler_calls)(h, count)
    h.flush(300)
    for tp, exporter, reader in providers:
        tp.force_flush()
        reader.get_metrics_data()
        exported[0] += len(exporter.get_finished_spans())
        exporter.clear()


for h in arms.values():
    calls(h, 500)
if os.environ.get("GC") == "off":  # how much of the difference is the garbage collector's
    gc.disable()
cpu = {k: [] for k in arms}
cpu["otel timed"] = []
stage_rounds = []


def timed_round():
    originals = [
        (OTelObserver, "on_run_start", wrap(OTelObserver, "on_run_start", "on_run_start (caller)")),
        (OTelObserver, "on_run_end", wrap(OTelObserver, "on_run_end", "on_run_end (writer), total")),
        (_metrics._Metrics, "record", wrap(_metrics._Metrics, "record", "  metrics.record (queue)")),
        (OTelObserver, "_llm_static_attrs", wrap(OTelObserver, "_llm_static_attrs", "  static attrs lookup")),
        (OTelObserver, "_start_blind", wrap(OTelObserver, "_start_blind", "  start_blind check")),
        (
            _direct.DirectSpans,
            "sample",
            wrap(_direct.DirectSpans, "sample", "  sample (sampler, ids, context)"),
        ),
        (OTelObserver, "_call_attrs", wrap(OTelObserver, "_call_attrs", "  per-call attributes")),
        (
            OTelObserver,
            "_response_attrs",
            wrap(OTelObserver, "_response_attrs", "    of which response attrs"),
        ),
        (OTelObserver, "_record_attrs", wrap(OTelObserver, "_record_attrs", "    of which record attrs")),
        (_direct.DirectSpans, "end", wrap(_direct.DirectSpans, "end", "  ReadableSpan + processor on_end")),
        (BatchSpanProcessor, "on_end", wrap(BatchSpanProcessor, "on_end", "    of which processor on_end")),
        (
            InMemorySpanExporter,
            "export",
            wrap(InMemorySpanExporter, "export", "exporter.export (export thread)"),
        ),
        (_metrics._Metrics, "drain", wrap(_metrics._Metrics, "drain", "metric drain (collect)")),
        (
            InMemoryMetricReader,
            "get_metrics_data",
            wrap(InMemoryMetricReader, "get_metrics_data", "metric collection total"),
        ),
    ]
    totals.clear()
    c0 = time.process_time()
    calls(arms["otel"], n)
    cpu["otel timed"].append((time.process_time() - c0) / n * 1e6)
    stage_rounds.append({k: v / n / 1e3 for k, v in totals.items()})
    for owner, name, fn in originals:
        setattr(owner, name, fn)


for r in range(rounds):
    order = list(arms.items())
    if r % 2:
        order.reverse()
    for name, h in order:
        gc.collect()
        c0 = time.process_time()
        calls(h, n)
        cpu[name].append((time.process_time() - c0) / n * 1e6)
    timed_round()

errors = arms["otel"].tracker.observers[0].stats.observer_errors
assert errors == 0, f"observer errors: {errors}"
with open("/proc/loadavg") as f:
    print("load:", f.read().strip())
print(f"observer errors {errors}, spans exported {exported[0]}")
print(f"N={n} rounds={rounds}; process CPU per call, us (median over rounds)")
for k, v in cpu.items():
    print(f"  {k:12s} {statistics.median(v):8.2f}")
for a, b in (("noop", "none"), ("otel", "none"), ("otel", "noop")):
    d = [x - y for x, y in zip(cpu[a], cpu[b])]
    print(f"  {a} - {b} (median paired): {statistics.median(d):6.2f} us")
print("stages (thread CPU per call, us, median over rounds; timer cost included):")
keys = list(dict.fromkeys(k for s in stage_rounds for k in s))
for k in keys:
    print(f"  {k:45s} {statistics.median(s.get(k, 0) for s in stage_rounds):7.2f}")
