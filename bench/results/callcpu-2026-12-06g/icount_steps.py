# ruff: noqa: E402
"""The steps of the handler's two callbacks, in instructions (run with
``../callcpu-2026-12-06c/count_pieces.sh``): each callback alone, and the functions they call
with the cheap bench model's arguments. PKG=llm_cost_hooks_base measures main's copy."""

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
calls = importlib.import_module(PKG + ".tracking._calls")
usage_mod = importlib.import_module(PKG + ".tracking._usage")
from langchain_core.callbacks import BaseCallbackHandler

from bench._common import fixed_usage_model


class _Capture(BaseCallbackHandler):
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
print("start kwargs", sorted(start_kw), "end kwargs", sorted(end_kw))
tmp = tempfile.mkdtemp()
h = lc.CostCallbackHandler(ledger=f"sqlite:///{tmp}/x.db", defaults={"feature": "bench"})
led = h.tracker.ledger
time.sleep(0.2)
N = 2000
ids = [uuid.uuid4() for _ in range(5 * N + 400)]
start_kw = {k: v for k, v in start_kw.items() if k != "run_id"}
end_kw = {k: v for k, v in end_kw.items() if k != "run_id"}
meta = start_kw["metadata"]
print("metadata", meta)
for rid in ids[:200]:
    h.on_chat_model_start(ser, msgs, run_id=rid, **start_kw)
    h.on_llm_end(res, run_id=rid, **end_kw)
h.flush()
items: list = []
led.write = items.append


def m(label, f, n=N):
    print("LABEL", label, n, flush=True)
    functools.reduce(lambda acc, _: (f(), acc)[1], range(n), 0)


m("empty", lambda: None)
gc.disable()
it = iter(ids[200 : 200 + N])


def both():
    rid = next(it)
    h.on_chat_model_start(ser, msgs, run_id=rid, **start_kw)
    h.on_llm_end(res, run_id=rid, **end_kw)


m("start+end", both)
block = ids[200 + N : 200 + 2 * N]
it = iter(block)
m("on_chat_model_start", lambda: h.on_chat_model_start(ser, msgs, run_id=next(it), **start_kw))
texts = [calls.run_id_text(r) for r in block]
pairs = iter(list(zip(block, texts)))


def end_only():
    rid, text = next(pairs)
    h._last_id = (rid, text)
    h.on_llm_end(res, run_id=rid, **end_kw)


m("on_llm_end (id text known)", end_only)
m("  h._last_id = tuple (subtract)", lambda: setattr(h, "_last_id", (None, "")))
inv = start_kw.get("invocation_params")
m("call_model", lambda: calls.call_model(ser, meta, start_kw, None))
rid0 = ids[0]
m("run_id_text", lambda: calls.run_id_text(rid0))
tr = h.tracker
m("attributions.cached", lambda: tr._attributions.cached(meta, tr.defaults))
um = res.generations[0][0].message.usage_metadata
print("usage_metadata", um)
m("counts_from_metadata", lambda: usage_mod.counts_from_metadata(um))
m("time.perf_counter_ns + time_ns", lambda: (time.perf_counter_ns(), time.time_ns()))
print("items", len(items), flush=True)
runs_mod = importlib.import_module(PKG + ".tracking._runs")
deferred = importlib.import_module(PKG + ".tracking._deferred")
att = tr.defaults
m(
    "RunInfo(...)",
    lambda: runs_mod.RunInfo(
        "r", None, "r", "llm", "n", None, 1, meta, (), att, True, "m", "p", {}, None, 1, None, 0, 0, 5
    ),
)
run0 = runs_mod.RunInfo("r", None, "r", "llm", "n", None, 1, meta, (), att, True, "m", "p", {})
m(
    "PendingRecord(...)",
    lambda: deferred.PendingRecord(
        tr._builder, None, None, [], None, run0, (1, 2, 0, 0, 0), "m", 5, "miss", None, False, None, False
    ),
)
m("tracker._defers_observers()", lambda: tr._defers_observers())
