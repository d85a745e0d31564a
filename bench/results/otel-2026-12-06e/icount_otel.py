"""Instructions per call, whatever the load: run under callgrind, the script zeroes the counters
after warm-up (callgrind_control -z), makes N ``model.invoke`` calls of the benchmarks' cheap
model with the cost handler on a SQLite ledger and ARM=none | noop (a no-op deferrable
observer) | noop_rows (the same, reading ledger rows) | otel (OTelObserver: batch span processor + in-memory exporter, in-memory metric
reader; otel_nometrics: the same with metrics=False), then flushes the ledger, exports the spans and collects the metrics inside the counted
window, and dumps (callgrind_control -d). PKG=llm_cost_hooks_base measures main's copy
(BASE_PKG_DIR, see ab_otel.py). All threads are counted (the ledger's writer, the exporter).

    CG=1 N=500 ARM=otel valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=cg.out \
        python bench/results/otel-2026-12-06e/icount_otel.py
    grep ^summary cg.out.1        # instructions for N calls
"""

import gc
import importlib
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "otel-2026-12-06c"))
pkg = os.environ.get("PKG", "llm_cost_hooks")
if pkg != "llm_cost_hooks":
    sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/otel-basepkg"))
from _events import ATTRIBUTION, PROMPT, model, pipeline  # noqa: E402

lc = importlib.import_module(pkg + ".langchain")
telemetry = importlib.import_module(pkg + ".telemetry")
tracking = importlib.import_module(pkg + ".tracking")


class NoOp(tracking.RunObserver):
    deferrable = True


class NoOpRows(NoOp):
    reads_rows = True  # main's tracker ignores it (a record reader there)


arm = os.environ.get("ARM", "otel")
tmp = tempfile.mkdtemp()
pipe = None
observers = []
if arm == "noop":
    observers = [NoOp()]
elif arm == "noop_rows":
    observers = [NoOpRows()]
elif arm in ("otel", "otel_nometrics"):
    pipe = pipeline()
    observers = [
        telemetry.OTelObserver(tracer_provider=pipe[0], meter_provider=pipe[3], metrics=arm == "otel")
    ]
h = lc.CostCallbackHandler(ledger=f"sqlite:///{tmp}/x.db", observers=observers)
c = {"callbacks": [h], "metadata": ATTRIBUTION}


def drain():
    assert h.flush(300)
    if pipe is not None:
        tp, exporter, reader, _ = pipe
        tp.force_flush()
        reader.get_metrics_data()
        exporter.clear()


for _ in range(200):
    model.invoke(PROMPT, config=c)
drain()
gc.collect()
if os.environ.get("CG"):  # with --instr-atstart=no the set-up runs uninstrumented
    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "-z", str(os.getpid())], check=True, capture_output=True)
n = int(os.environ.get("N", "0"))
for _ in range(n):
    model.invoke(PROMPT, config=c)
drain()
if os.environ.get("CG"):
    subprocess.run(["callgrind_control", "-d", str(os.getpid())], check=True, capture_output=True)
assert h.ledger.stats.written == n + 200, h.ledger.stats
os._exit(0)
