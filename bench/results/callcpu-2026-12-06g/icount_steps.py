"""Where a cheap bench model's call goes in our code, in instructions (run with
``../callcpu-2026-12-06c/count_pieces.sh``): the handler's two callbacks, each alone, and the
functions they call, then the steps of the writer's row for one queued call
(``PendingRecord.ledger_row``). PKG=llm_cost_hooks_base measures main's copy (functions main
does not have are skipped)."""

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


def mod(name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"{PKG}.{name}")


bench_common = importlib.import_module("bench._common")
handler = mod("langchain").CostCallbackHandler(
    ledger=f"sqlite:///{tempfile.mkdtemp()}/x.db", defaults={"feature": "bench"}
)
tracker, ledger = handler.tracker, handler.tracker.ledger
# The arguments LangChain passes the handler, taken from one real call.
events: dict = {}
for event in ("on_chat_model_start", "on_llm_end"):
    real = getattr(handler, event)
    setattr(handler, event, lambda *a, _e=event, _f=real, **k: (events.setdefault(_e, (a, k)), _f(*a, **k)))
bench_common.fixed_usage_model().invoke(
    "When will my card arrive?",
    config={"callbacks": [handler], "metadata": {"tenant_id": "acme", "prompt_version": "v1"}},
)
del handler.on_chat_model_start, handler.on_llm_end
(ser, msgs), start_kw = events["on_chat_model_start"]
(res,), end_kw = events["on_llm_end"]
start_kw = {k: v for k, v in start_kw.items() if k != "run_id"}
end_kw = {k: v for k, v in end_kw.items() if k != "run_id"}
meta = start_kw["metadata"]
print("start kwargs", sorted(start_kw), "end kwargs", sorted(end_kw))
time.sleep(0.2)
N = 2000
ids = iter([uuid.uuid4() for _ in range(8 * N)])


def call() -> None:
    rid = next(ids)
    handler.on_chat_model_start(ser, msgs, run_id=rid, **start_kw)
    handler.on_llm_end(res, run_id=rid, **end_kw)


for _ in range(200):
    call()
handler.flush()
queued: list = []
ledger.write = queued.append


def m(label, f, n=N):  # type: ignore[no-untyped-def]
    print("LABEL", label, n, flush=True)
    functools.reduce(lambda acc, _: (f(), acc)[1], range(n), 0)


m("empty", lambda: None)
gc.disable()
m("start+end", call)
calls, usage_mod = mod("tracking._calls"), mod("tracking._usage")
block = [next(ids) for _ in range(N)]
it = iter(block)
m("on_chat_model_start", lambda: handler.on_chat_model_start(ser, msgs, run_id=next(it), **start_kw))
pairs = iter([(r, calls.run_id_text(r)) for r in block])


def end_only() -> None:
    rid, text = next(pairs)
    handler._last_id = (rid, text)
    handler.on_llm_end(res, run_id=rid, **end_kw)


m("on_llm_end (id text known)", end_only)
m("  handler._last_id = tuple (to subtract)", lambda: setattr(handler, "_last_id", (None, "")))
m("call_model", lambda: calls.call_model(ser, meta, start_kw, None))
m("run_id_text", lambda: calls.run_id_text(block[0]))
m("attributions.cached", lambda: tracker._attributions.cached(meta, tracker.defaults))
um = res.generations[0][0].message.usage_metadata
m("counts_from_metadata", lambda: usage_mod.counts_from_metadata(um))
m("time.perf_counter_ns + time_ns", lambda: (time.perf_counter_ns(), time.time_ns()))
runs = mod("tracking._runs")
m("RunInfo(...)", lambda: runs.RunInfo("r", None, "r", "llm", "n", None, 1, meta, (), tracker.defaults, True))

# The writer's row of a queued call.
for _ in range(2 * N):
    call()
p = queued[0]
b = p.builder
print("row", p.ledger_row(), flush=True)
it = iter(queued[:N])
m("ledger_row", lambda: next(it).ledger_row())
it = iter(queued[N : 2 * N])
m("builder._row", lambda: b._row(next(it), None, False))
pricing, records = mod("tracking._pricing"), mod("_records")
rates = b.pricer.flat(p.model, p.run.provider)[0]
m("pricer.flat", lambda: b.pricer.flat(p.model, p.run.provider))
m("flat_parts", lambda: pricing.flat_parts(p.usage, rates))
m("flat_savings", lambda: pricing.flat_savings(rates, p.usage))
m("utc_isoformat_ns", lambda: records.utc_isoformat_ns(p.run.wall_ns))
