"""Same-process A/B of the OTel observer's process CPU per call: main (a copy importable as
``llm_cost_hooks_base``, ``BASE_PKG_DIR``) against this tree, each with no observer, a no-op
deferrable observer and the OTel observer (batch span processor + in-memory exporter,
in-memory metric reader), SQLite ledger (spans made on its writer thread).

Interleaved rounds of N calls (the arms in a new random order every round); per round the process
CPU per call (caller + writer + exporter threads), with the ledger flushed, the spans
exported and the metrics collected inside the window. ``MODE=invoke`` (default): the cheap
fixed-usage model's ``invoke`` with the handler, as ``python -m bench telemetry``;
``MODE=direct``: the handler's callbacks called directly with that model's events;
``MODEL=realistic``: the model that parses an OpenAI JSON response; ``LEDGER=memory``: a
``memory://`` ledger (everything on the caller's thread).

Prints medians per arm, the median paired overheads (otel - none, otel - noop) per package
and their change new - base, and the number of spans exported and observer errors per arm.

Run: N=1000 ROUNDS=15 BASE_PKG_DIR=/tmp/otel-basepkg PYTHONPATH=$PWD \
     python bench/results/otel-2026-12-06e/ab_otel.py
(a copy of ../otel-2026-12-06c/ab_otel.py that also prints the load at the start)
"""

import gc
import os
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/otel-basepkg"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "otel-2026-12-06c"))
from _events import handler_calls, invoke_calls, pipeline
from llm_cost_hooks_base.langchain import CostCallbackHandler as Base
from llm_cost_hooks_base.telemetry import OTelObserver as BaseOTel
from llm_cost_hooks_base.tracking import RunObserver as BaseObserver

from llm_cost_hooks.langchain import CostCallbackHandler as New
from llm_cost_hooks.telemetry import OTelObserver as NewOTel
from llm_cost_hooks.tracking import RunObserver as NewObserver


class BaseNoOp(BaseObserver):
    deferrable = True


class NewNoOp(NewObserver):
    deferrable = True


tmp = tempfile.mkdtemp()
mode = os.environ.get("MODE", "invoke")
n = int(os.environ.get("N", "1000"))
rounds = int(os.environ.get("ROUNDS", "15"))
pipelines = {}


def ledger(name):
    return "memory://" if os.environ.get("LEDGER") == "memory" else f"sqlite:///{tmp}/{name}.db"


def otel(name, cls):
    tp, exporter, reader, mp = pipeline()
    observer = cls(tracer_provider=tp, meter_provider=mp)
    pipelines[name] = (tp, exporter, reader, observer, [0])
    return observer


handlers = {
    "base none": Base(ledger=ledger("b0")),
    "base noop": Base(ledger=ledger("b1"), observers=[BaseNoOp()]),
    "base otel": Base(ledger=ledger("b2"), observers=[otel("base otel", BaseOTel)]),
    "new none": New(ledger=ledger("n0")),
    "new noop": New(ledger=ledger("n1"), observers=[NewNoOp()]),
    "new otel": New(ledger=ledger("n2"), observers=[otel("new otel", NewOTel)]),
}


def calls(name, h, count):
    (invoke_calls if mode == "invoke" else handler_calls)(h, count)
    assert h.flush(300)
    if name in pipelines:
        tp, exporter, reader, _, seen = pipelines[name]
        tp.force_flush()
        reader.get_metrics_data()
        seen[0] += len(exporter.get_finished_spans())
        exporter.clear()


with open("/proc/loadavg") as f:
    print("load at start:", f.read().strip())
for name, h in handlers.items():
    calls(name, h, 200)
cpu = {k: [] for k in handlers}
rng = random.Random(int(os.environ.get("SEED", "1")))
for r in range(rounds):
    order = list(handlers.items())
    rng.shuffle(order)  # no arm always runs next to the same one
    for name, h in order:
        gc.collect()
        c0 = time.process_time()
        calls(name, h, n)
        cpu[name].append((time.process_time() - c0) / n * 1e6)
with open("/proc/loadavg") as f:
    print("load at end:", f.read().strip())
print(
    f"MODE={mode} MODEL={os.environ.get('MODEL', 'cheap')} LEDGER={os.environ.get('LEDGER', 'sqlite')} N={n} rounds={rounds}"
)
for name, (_, _, _, observer, seen) in pipelines.items():
    print(
        f"  {name}: spans exported {seen[0]} of {200 + rounds * n} calls, observer errors {observer.stats.observer_errors}"
    )
print("process CPU per call, us (median over rounds)")
for k, v in cpu.items():
    print(f"  {k:10s} {statistics.median(v):8.2f}")


def paired(a, b):
    return statistics.median(x - y for x, y in zip(a, b))


for pkg in ("base", "new"):
    for a, b in (("noop", "none"), ("otel", "none"), ("otel", "noop")):
        print(f"  {pkg} {a} - {b} (median paired): {paired(cpu[f'{pkg} {a}'], cpu[f'{pkg} {b}']):7.2f} us")
for a, b in (("otel", "none"), ("otel", "noop")):
    d = [
        (w - x) - (y - z)
        for w, x, y, z in zip(cpu[f"new {a}"], cpu[f"new {b}"], cpu[f"base {a}"], cpu[f"base {b}"])
    ]
    print(f"  ({a} - {b}) change new - base (median paired): {statistics.median(d):7.2f} us")
for arm in ("none", "noop", "otel"):
    print(f"  {arm}: new - base (median paired): {paired(cpu[f'new {arm}'], cpu[f'base {arm}']):7.2f} us")
