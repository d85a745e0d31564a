"""The OTel observer's writer-side work for one model call, replayed in a warm loop: the
arguments of one real ``on_model_row`` call (cheap model, SQLite ledger, ``invoke``) are
captured, then ``on_model_row`` is called N times with them (a fresh ``RunInfo`` copy each
time, the pending start state set as ``on_run_start`` leaves it). Spans go through the
batch processor to an in-memory exporter; every 1,000 calls the spans are exported and the
metrics collected (inside the window).

    N=20000 python bench/results/otel-2026-12-06e/replay.py            # us per call, thread CPU
    CG=1 N=3000 valgrind --tool=callgrind --instr-atstart=no ... replay.py   # instructions
    PROF=1 N=20000 ... replay.py                                        # cProfile, top functions
"""

import copy
import gc
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "otel-2026-12-06c"))
from _events import ATTRIBUTION, PROMPT, model, pipeline

from llm_cost_hooks.langchain import CostCallbackHandler
from llm_cost_hooks.telemetry import OTelObserver

captured = []


class Capture(OTelObserver):
    def on_model_row(self, run, *, row, task, outputs=None):
        if not captured:
            captured.append((copy.copy(run), dict(run.observer_data), row, task, outputs))
        super().on_model_row(run, row=row, task=task, outputs=outputs)


tp, exporter, reader, mp = pipeline()
obs = Capture(tracer_provider=tp, meter_provider=mp)
tmp = tempfile.mkdtemp()
h = CostCallbackHandler(ledger=f"sqlite:///{tmp}/x.db", observers=[obs])
model.invoke(PROMPT, config={"callbacks": [h], "metadata": ATTRIBUTION})
assert h.flush(60) and captured
run0, data0, row, task, outputs = captured[0]


def drain():
    tp.force_flush()
    reader.get_metrics_data()
    exporter.clear()


def calls(k):
    for _ in range(k):
        run = copy.copy(run0)
        run.observer_data = dict(data0)
        obs.on_model_row(run, row=row, task=task, outputs=outputs)


calls(2000)
drain()
gc.collect()
n = int(os.environ.get("N", "20000"))
if os.environ.get("CG"):  # with --instr-atstart=no the set-up runs uninstrumented
    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "-z", str(os.getpid())], check=True, capture_output=True)
if os.environ.get("PROF"):
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
t0, c0 = time.perf_counter(), time.process_time()
for _ in range(n // 1000):
    calls(1000)
    drain()
t1, c1 = time.perf_counter(), time.process_time()
if os.environ.get("CG"):
    subprocess.run(["callgrind_control", "-d", str(os.getpid())], check=True, capture_output=True)
if os.environ.get("PROF"):
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(30)
print(f"per call: wall {(t1 - t0) / n * 1e6:.2f} us, process CPU {(c1 - c0) / n * 1e6:.2f} us")
print("errors", obs.stats.snapshot().get("observer_errors"))
os._exit(0)
