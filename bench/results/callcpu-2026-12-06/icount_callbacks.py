# ruff: noqa: E402
"""The handler's two callbacks and the writer's row for one queued call, in instructions (run
with count_pieces.sh): ``on_chat_model_start`` + ``on_llm_end`` with the cheap bench model's
events (a ledger whose ``write`` only collects the queued calls), then ``ledger_row()`` of each
queued call, then pieces of the row. PKG=llm_cost_hooks_base measures main's copy (the pieces
after ``ledger_row`` use this tree's helpers)."""

import functools
import gc
import os
import sys
import tempfile
import uuid

sys.path.insert(0, os.getcwd())
PKG = os.environ.get("PKG", "llm_cost_hooks")
if PKG != "llm_cost_hooks":
    sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/callcpu/basepkg"))
import importlib

lc = importlib.import_module(PKG + ".langchain")
from langchain_core.callbacks import BaseCallbackHandler

from bench._common import fixed_usage_model


class _Capture(BaseCallbackHandler):
    """Keeps the arguments LangChain passes a handler for one call of the model."""

    def on_chat_model_start(self, serialized, messages, **kwargs):  # type: ignore[no-untyped-def]
        self.start = (serialized, messages, kwargs)

    def on_llm_end(self, response, **kwargs):  # type: ignore[no-untyped-def]
        self.end = (response, kwargs)


capture = _Capture()
fixed_usage_model().invoke(
    "When will my card arrive?",
    config={"callbacks": [capture], "metadata": {"tenant_id": "acme", "prompt_version": "v1"}},
)
ser, msgs, start_kw = capture.start
res, end_kw = capture.end
tmp = tempfile.mkdtemp()
h = lc.CostCallbackHandler(ledger=f"sqlite:///{tmp}/x.db", defaults={"feature": "bench"})
led = h.tracker.ledger
led._wake_at = 10**9
led._flush_interval = 1e9
import time

time.sleep(0.2)
ids = iter([uuid.uuid4() for _ in range(10000)])


def call():
    rid = next(ids)
    h.on_chat_model_start(ser, msgs, **{**start_kw, "run_id": rid})
    h.on_llm_end(res, **{**end_kw, "run_id": rid})


for _ in range(200):
    call()
h.flush()
led._wake_at = 10**9
led._flush_interval = 1e9
items = []
led.write = items.append


def m(label, f):
    print("LABEL", label, flush=True)
    functools.reduce(lambda acc, _: (f(), acc)[1], range(2000), 0)


m("empty", lambda: None)
gc.disable()
m("handler start+end", call)
print("items", len(items), flush=True)
it = iter(items)
m("ledger_row", lambda: next(it).ledger_row())
from llm_cost_hooks.tracking._pricing import flat_parts, flat_savings

x = items[0]
b = x.builder
task = x.task or __import__("llm_cost_hooks.tracking._runs", fromlist=["TaskState"]).TaskState("t", "r")
rates, est = b.pricer.flat(x.model, x.run.provider)
m("pricer.flat", lambda: b.pricer.flat(x.model, x.run.provider))
m("flat_parts", lambda: flat_parts(x.usage, rates))
m("flat_savings", lambda: flat_savings(rates, x.usage))
m("isoformat", lambda: x.run.start_time.isoformat())
m("add_call", lambda: task.add_call(1.0, 1.0, True, 1, 2))
m("row(x, None)", lambda: b.row(x, None))
