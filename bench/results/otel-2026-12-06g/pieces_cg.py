"""Instructions per call of the pieces of the OTel observer's writer-side work for one model
call (``on_model_row``), each in its own warm loop of N calls under callgrind, with the
arguments of one real call (cheap model, SQLite ledger, ``invoke``) captured first. One
callgrind dump per piece (``noop`` is the loop and dump overhead; ``harness`` the copy of the
run that ``full`` makes before each ``on_model_row``).

    N=5000 valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=cg.out \
        python bench/results/otel-2026-12-06g/pieces_cg.py
    for f in $(ls -v cg.out.*); do grep -h '^desc: Trigger\\|^summary' $f | tr '\n' ' '; echo; done
"""

import copy
import gc
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.join(os.getcwd(), "bench/results/otel-2026-12-06c"))
from _events import ATTRIBUTION, PROMPT, model, pipeline
from opentelemetry.trace import SpanKind

from llm_cost_hooks.langchain import CostCallbackHandler
from llm_cost_hooks.telemetry import OTelObserver
from llm_cost_hooks.telemetry import _observer as O

tp, exporter, reader, mp = pipeline()
obs = OTelObserver(tracer_provider=tp, meter_provider=mp)
first: list = []
told = obs.on_model_row


def keep_first(run, **kwargs):
    """The first call's arguments, taken before the observer pops its start state."""
    if not first:
        first.append((copy.copy(run), dict(run.observer_data), kwargs))
    told(run, **kwargs)


obs.on_model_row = keep_first
h = CostCallbackHandler(ledger=f"sqlite:///{tempfile.mkdtemp()}/x.db", observers=[obs])
model.invoke(PROMPT, config={"callbacks": [h], "metadata": ATTRIBUTION})
assert h.flush(60) and first
obs.on_model_row = told
run0, data0, kw = first[0]
row, task, outputs = kw["row"], kw["task"], kw["outputs"]
obs._start_blind()
direct = obs._direct
N = int(os.environ.get("N", "5000"))
pid = str(os.getpid())
res = {}


def cg(name, f):
    gc.collect()
    gc.disable()
    subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
    for _ in range(N):
        f()
    subprocess.run(["callgrind_control", "-d", name, pid], check=True, capture_output=True)
    gc.enable()


m = obs._metrics
cg("noop", lambda: None)


def rr():
    m.record_row(run0, row)


cg("record_row", rr)
m.drain()
cg("start_blind", obs._start_blind)
cg("static", lambda: obs._llm_static_attrs(run0))
parent = data0[obs._parent_key]
cg("sample", lambda: direct.sample(parent, "chat x", SpanKind.CLIENT))
name, static = obs._llm_static_attrs(run0)


def cost():
    attrs = static.copy()
    obs._cost_attrs(
        attrs,
        row[O._COST_FROM : O._COST_TO],
        row[O._TOKENS_ESTIMATED_AT],
        row[O._PRICE_ESTIMATED_AT],
        O._EMPTY,
    )


cg("copy_cost", cost)
cg("response", lambda: obs._response_attrs(outputs, {}))
cg("task", lambda: O._task_attrs(task, True, True, {}))
s = direct.sample(parent, "chat x", SpanKind.CLIENT)
attrs = static.copy()


def end():
    direct.end(s, name, SpanKind.CLIENT, attrs, 1, 2)


cg("end_emit", end)
tp.force_flush()
exporter.clear()


def harness():
    run = copy.copy(run0)
    run.observer_data = dict(data0)


def full():
    run = copy.copy(run0)
    run.observer_data = dict(data0)
    obs.on_model_row(run, row=row, task=task, outputs=outputs)


cg("harness", harness)
cg("full", full)
tp.force_flush()
exporter.clear()
os._exit(0)
