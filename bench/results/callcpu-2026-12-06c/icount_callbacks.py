# ruff: noqa: E402
"""The handler's two callbacks and the writer's row for one queued call, in instructions (run
with count_pieces.sh): ``on_chat_model_start`` + ``on_llm_end`` with the cheap bench model's
events (a ledger whose ``write`` only collects the queued calls), then ``ledger_row()`` of each
queued call, then the writer's pass over a batch (``_materialize``). TAGS=1: the handler's
defaults carry two cost tags. PKG=llm_cost_hooks_base measures main's copy."""

import functools
import gc
import importlib
import os
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.getcwd())
PKG = os.environ.get("PKG", "llm_cost_hooks")
if PKG != "llm_cost_hooks":
    sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/callcpu/basepkg"))
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
defaults = {"feature": "bench"}
if os.environ.get("TAGS"):
    defaults["cost_tags"] = {"team": "support", "env": "prod"}
h = lc.CostCallbackHandler(ledger=f"sqlite:///{tmp}/x.db", defaults=defaults)
led = h.tracker.ledger
time.sleep(0.2)
ids = iter([uuid.uuid4() for _ in range(20000)])
start_kw = {k: v for k, v in start_kw.items() if k != "run_id"}
end_kw = {k: v for k, v in end_kw.items() if k != "run_id"}


def call():
    rid = next(ids)
    h.on_chat_model_start(ser, msgs, run_id=rid, **start_kw)
    h.on_llm_end(res, run_id=rid, **end_kw)


for _ in range(200):
    call()
h.flush()
items: list = []
led.write = items.append


def m(label, f, n=2000, per=None):
    print("LABEL", label, per or n, flush=True)
    functools.reduce(lambda acc, _: (f(), acc)[1], range(n), 0)


m("empty", lambda: None)
gc.disable()
m("handler start+end", call)
print("items", len(items), flush=True)
it = iter(items[-2000:])
m("ledger_row", lambda: next(it).ledger_row())
for _ in range(2000):
    call()
batches = [items[-2000:][i : i + 250] for i in range(0, 2000, 250)]
bit = iter(batches)
m("_materialize (per call, 250 a batch)", lambda: led._materialize(next(bit)), 8, 2000)
rid0 = uuid.uuid4()
m("str(run_id)", lambda: str(rid0))
