"""The OTel observer's own CPU per model call, main (``llm_cost_hooks_base``, from
``BASE_PKG_DIR``) against this tree, in one process: one model run of each package's tracker
(cheap model's numbers, tenant/feature/route attribution, a root run so the task totals are
on the span) is started and ended on its observer again and again (``on_run_start`` +
``on_run_end`` with the record, as the ledger's writer calls it), spans through a batch span
processor into an in-memory exporter (cleared every round), metrics queued and collected
every round. Thread CPU of this thread only (the exporter thread's list append is left out).
Interleaved rounds; medians and the median paired difference.

Run: N=20000 ROUNDS=15 BASE_PKG_DIR=/tmp/otel-basepkg PYTHONPATH=$PWD \\
     python bench/results/otel-2026-12-06c/ab_observer_calls.py
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/otel-basepkg"))

import llm_cost_hooks_base as base_pkg
from _events import pipeline

import llm_cost_hooks as new_pkg

n = int(os.environ.get("N", "20000"))
rounds = int(os.environ.get("ROUNDS", "15"))


def setup(pkg):
    from importlib import import_module

    telemetry = import_module(pkg.__name__ + ".telemetry")
    tracking = import_module(pkg.__name__ + ".tracking")
    kept = []

    class Keep(tracking.RunObserver):
        def on_run_end(self, run, *, record, error, task, outputs=None):
            kept.append((run, record, task))

    tracker = pkg.CostTracker(ledger="memory://", observers=[Keep()])
    tracker.start_llm(
        "r1",
        None,
        model="gpt-4o-mini",
        provider="openai",
        messages=[],
        metadata={"tenant_id": "acme", "feature": "qa", "route": "cheap"},
    )
    tracker.end_llm("r1", pkg.TokenUsage(input_tokens=412, output_tokens=14, cache_read_tokens=256))
    run, record, task = kept[0]
    tp, exporter, reader, mp = pipeline()
    observer = telemetry.OTelObserver(tracer_provider=tp, meter_provider=mp)
    return observer, run, record, task, tp, exporter, reader


arms = {"base": setup(base_pkg), "new": setup(new_pkg)}


def loop(arm, count):
    observer, run, record, task, tp, exporter, reader = arm
    start, end = observer.on_run_start, observer.on_run_end
    t0 = time.thread_time()
    for _ in range(count):
        start(run)
        end(run, record=record, error=None, task=task, outputs=None)
    reader.get_metrics_data()
    cpu = time.thread_time() - t0
    tp.force_flush()
    spans = len(exporter.get_finished_spans())
    exporter.clear()
    return cpu / count * 1e6, spans


for arm in arms.values():
    loop(arm, 2000)
cpu = {k: [] for k in arms}
spans = dict.fromkeys(arms, 0)
for r in range(rounds):
    for name in ("base", "new") if r % 2 == 0 else ("new", "base"):
        us, s = loop(arms[name], n)
        cpu[name].append(us)
        spans[name] += s
with open("/proc/loadavg") as f:
    print("load:", f.read().strip())
print(f"N={n} rounds={rounds}; observer thread CPU per call (start + end + metric collection), us")
for k, v in cpu.items():
    print(f"  {k:5s} median {statistics.median(v):7.2f}  min {min(v):7.2f}  spans {spans[k]}")
d = [a - b for a, b in zip(cpu["new"], cpu["base"])]
print(
    f"  new - base (median paired): {statistics.median(d):7.2f} us; ratio of medians {statistics.median(cpu['new']) / statistics.median(cpu['base']):.3f}"
)
