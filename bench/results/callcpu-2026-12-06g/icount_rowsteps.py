# ruff: noqa: E402
"""The steps of the writer's row for one queued call (``PendingRecord.ledger_row``), in
instructions (run with ``../callcpu-2026-12-06c/count_pieces.sh``), with the cheap bench
model's call. PKG=llm_cost_hooks_base measures main's copy."""

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
rec = importlib.import_module(PKG + "._records")
pricing = importlib.import_module(PKG + ".tracking._pricing")
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
tmp = tempfile.mkdtemp()
h = lc.CostCallbackHandler(ledger=f"sqlite:///{tmp}/x.db", defaults={"feature": "bench"})
led = h.tracker.ledger
time.sleep(0.2)
N = 2000
start_kw = {k: v for k, v in start_kw.items() if k != "run_id"}
end_kw = {k: v for k, v in end_kw.items() if k != "run_id"}
for _ in range(200):
    rid = uuid.uuid4()
    h.on_chat_model_start(ser, msgs, run_id=rid, **start_kw)
    h.on_llm_end(res, run_id=rid, **end_kw)
h.flush()
items: list = []
led.write = items.append
for _ in range(3 * N):
    rid = uuid.uuid4()
    h.on_chat_model_start(ser, msgs, run_id=rid, **start_kw)
    h.on_llm_end(res, run_id=rid, **end_kw)
p = items[0]
b = p.builder
print("row", p.ledger_row(), flush=True)


def m(label, f, n=N):
    print("LABEL", label, n, flush=True)
    functools.reduce(lambda acc, _: (f(), acc)[1], range(n), 0)


m("empty", lambda: None)
gc.disable()
it = iter(items[:N])
m("ledger_row", lambda: next(it).ledger_row())
it = iter(items[N : 2 * N])
m("builder._row", lambda: b._row(next(it), None, False))
m("pricer.flat", lambda: b.pricer.flat(p.model, p.run.provider))
rates = b.pricer.flat(p.model, p.run.provider)[0]
counts = p.usage
m("flat_parts", lambda: pricing.flat_parts(counts, rates))
m("flat_savings", lambda: pricing.flat_savings(rates, counts))
ns = p.run.wall_ns
m("utc_isoformat_ns", lambda: rec.utc_isoformat_ns(ns))
print("items", len(items), flush=True)

# Candidate texts of a clock reading (the same text as utc_isoformat_ns).
_D3 = tuple(f"{i:03d}" for i in range(1000))
_last_b = ("", "")


def by_text(ns):
    global _last_b
    text = str(ns // 1000)
    head = text[:-6]
    last, prefix = _last_b
    if head != last:
        prefix = rec.utc_isoformat_ns(int(head) * 1_000_000_000)[:19]
        _last_b = (head, prefix)
    tail = text[-6:]
    return f"{prefix}.{tail}+00:00" if tail != "000000" else prefix + "+00:00"


_last_c = (-1, "")


def by_divmod(ns):
    global _last_c
    second, us = divmod(ns // 1000, 1_000_000)
    last, prefix = _last_c
    if second != last:
        prefix = rec.utc_isoformat_ns(second * 1_000_000_000)[:19]
        _last_c = (second, prefix)
    return f"{prefix}.{str(us + 1_000_000)[1:]}+00:00" if us else prefix + "+00:00"


for f in (by_text, by_divmod):
    for x in (ns, ns - ns % 1000_000_000, ns + 123_000):
        assert f(x) == rec.utc_isoformat_ns(x), (f, x)
m("candidate: by_text", lambda: by_text(ns))
m("candidate: by_divmod", lambda: by_divmod(ns))
