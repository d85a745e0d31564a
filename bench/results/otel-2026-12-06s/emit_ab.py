"""A finished model span handed to the SDK's batch span processor (``DirectSpans.end``):
through the SDK's ``emit`` and through the queue shim (``_sdk.batch_emit``), alternating
in one process, thread CPU per span (ns), ROUNDS rounds of N spans per side, the queue
exported between rounds (outside the windows).

    PYTHONPATH=$PWD N=2000 ROUNDS=40 python bench/results/otel-2026-12-06s/emit_ab.py
"""

import gc
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "otel-2026-12-06c"))
from _events import pipeline
from opentelemetry.trace import SpanKind

from llm_cost_hooks.telemetry import OTelObserver, _sdk

with open("/proc/loadavg") as f:
    print("load at start:", f.read().strip())
tp, exporter, _, mp = pipeline()
observer = OTelObserver(tracer_provider=tp, meter_provider=mp)
observer._start_blind()
direct = observer._direct
assert direct is not None
processor = tp._active_span_processor._span_processors[0]
arms = {"sdk": (processor._batch_processor.emit,), "shim": (_sdk.batch_emit(processor),)}
assert arms["shim"][0] != arms["sdk"][0]
sampled = direct.sample(None, "chat gpt-4o-mini", SpanKind.CLIENT)
attrs = {"gen_ai.operation.name": "chat"}
n, rounds = int(os.environ.get("N", "2000")), int(os.environ.get("ROUNDS", "40"))
cpu: dict[str, list[float]] = {"sdk": [], "shim": []}
for r in range(rounds):
    for arm in ("sdk", "shim") if r % 2 else ("shim", "sdk"):
        direct._on_end_sampled = arms[arm]
        gc.disable()
        t0 = time.thread_time_ns()
        for _ in range(n):
            direct.end(sampled, "chat gpt-4o-mini", SpanKind.CLIENT, attrs, 1, 2)
        cpu[arm].append((time.thread_time_ns() - t0) / n)
        gc.enable()
        tp.force_flush()
        exporter.clear()
for arm, values in cpu.items():
    q = statistics.quantiles(values, n=10)
    print(f"{arm}: median {statistics.median(values):.0f} ns, p10-p90 {q[0]:.0f}-{q[-1]:.0f}")
diffs = [b - a for a, b in zip(cpu["sdk"], cpu["shim"])]
q = statistics.quantiles(diffs, n=10)
print(
    f"shim - sdk, paired per round: median {statistics.median(diffs):+.0f} ns, p10-p90 {q[0]:+.0f} to {q[-1]:+.0f}"
)
with open("/proc/loadavg") as f:
    print("load at end:", f.read().strip())
os._exit(0)
