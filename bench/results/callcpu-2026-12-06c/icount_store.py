# ruff: noqa: E402
"""The SQLite store's work per row, in instructions (run with count_pieces.sh): rows as the
writer makes them for the cheap bench model's calls (``ledger_row()`` of the handler's queued
calls, each with its own request id and timestamp), written with ``_write_batch`` one row a
transaction (a writer that finds one call per wake-up) and 256 rows a transaction (a busy
writer). The file already holds 20,000 rows. PKG=llm_cost_hooks_base measures main's copy."""

import functools
import importlib
import os
import sys
import tempfile
import uuid

sys.path.insert(0, os.getcwd())
PKG = os.environ.get("PKG", "llm_cost_hooks")
if PKG != "llm_cost_hooks":
    sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/callcpu/basepkg"))
lc = importlib.import_module(PKG + ".langchain")
ledger_mod = importlib.import_module(PKG + ".ledger")
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
items: list = []
h.tracker.ledger.write = items.append
rid = uuid.uuid4()
h.on_chat_model_start(ser, msgs, **{**start_kw, "run_id": rid})
h.on_llm_end(res, **{**end_kw, "run_id": rid})
template = items[0].ledger_row()
assert isinstance(template, tuple)
print("template", template)

ledger = ledger_mod.SQLiteLedger(os.path.join(tmp, "store.db"), background=False)
counter = iter(range(10**7))


def fresh_row() -> tuple:
    i = next(counter)
    ts = f"2026-12-06T10:{i // 60_000_000 % 60:02d}:{i // 1_000_000 % 60:02d}.{i % 1_000_000:06d}+00:00"
    return (str(uuid.uuid4()), template[1], template[2], ts, *template[4:])


ledger._write_batch([fresh_row() for _ in range(20_000)], [])
one = [[fresh_row()] for _ in range(1000)]
many = [[fresh_row() for _ in range(256)] for _ in range(20)]


def m(label, f, n=2000, per=None):
    print("LABEL", label, per or n, flush=True)
    functools.reduce(lambda acc, _: (f(), acc)[1], range(n), 0)


m("empty", lambda: None, 1000)
it1 = iter(one)
m("_write_batch, 1 row", lambda: ledger._write_batch(next(it1), []), 1000)
itn = iter(many)
m("_write_batch, 256 rows (per row)", lambda: ledger._write_batch(next(itn), []), 20, 20 * 256)
ledger.close()
