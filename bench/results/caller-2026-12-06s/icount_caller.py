"""The caller thread's pieces of one LangChain call of the cheap bench model, in instructions
(run with ``../callcpu-2026-12-06c/count_pieces.sh``): the handler's two callbacks with the
ledger's real ``write`` (its lock included), then the steps inside them."""

import functools
import gc
import os
import sys
import tempfile
import time
import uuid
from functools import partial

sys.path.insert(0, os.getcwd())
import bench._common as bench_common
from llm_cost_hooks.langchain import CostCallbackHandler
from llm_cost_hooks.langchain import _callback as cb
from llm_cost_hooks.tracking import _calls as calls
from llm_cost_hooks.tracking import _usage as usage_mod
from llm_cost_hooks.tracking._attribution import ATTR_KEY_SET

handler = CostCallbackHandler(ledger=f"sqlite:///{tempfile.mkdtemp()}/x.db", defaults={"feature": "bench"})
tracker, ledger = handler.tracker, handler.tracker.ledger
ledger._wake_at = 10**9  # the writer wakes on its timer only: no wake-up inside a count
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
meta, inv = start_kw["metadata"], start_kw["invocation_params"]
print("metadata", sorted(meta), "inv", sorted(inv), flush=True)
handler.flush()
N = 2000
ids = iter([uuid.uuid4() for _ in range(10 * N)])


def call() -> None:
    rid = next(ids)
    handler.on_chat_model_start(ser, msgs, run_id=rid, **start_kw)
    handler.on_llm_end(res, run_id=rid, **end_kw)


for _ in range(200):
    call()
handler.flush()


def m(label, f, n=N):  # type: ignore[no-untyped-def]
    print("LABEL", label, n, flush=True)
    functools.reduce(lambda acc, _: (f(), acc)[1], range(n), 0)


m("empty", lambda: None)
gc.disable()
m("start+end (real ledger.write)", call)
handler.flush()
block = [next(ids) for _ in range(N)]
it = iter(block)
m("on_chat_model_start", lambda: handler.on_chat_model_start(ser, msgs, run_id=next(it), **start_kw))
pairs = iter([(r, calls.run_id_text(r)) for r in block])


def end_only() -> None:
    rid, text = next(pairs)
    handler._last_id = (rid, text)
    handler.on_llm_end(res, run_id=rid, **end_kw)


m("on_llm_end (id text known, incl. a tuple store ~0.4k)", end_only)
handler.flush()
if os.environ.get("QUICK"):
    sys.exit(0)
m("partial(_to_openai, msgs[0])", lambda: partial(cb._to_openai, msgs[0]))
m("model_params", lambda: calls.model_params(ser, meta, inv, None))
m("run_id_text", lambda: calls.run_id_text(block[0]))
m("ATTR_KEY_SET.isdisjoint(meta)", lambda: ATTR_KEY_SET.isdisjoint(meta))
m("attributions.cached", lambda: tracker._attributions.cached(meta, tracker.defaults))
m("time.perf_counter_ns + time_ns", lambda: (time.perf_counter_ns(), time.time_ns()))
texts = iter([str(uuid.uuid4()) for _ in range(N)])
params = {}
m(
    "tracker._start",
    lambda: tracker._start(next(texts), None, cb._LLM, "x", meta, [], "gpt-4o-mini", "openai", params, None),
)
um = res.generations[0][0].message.usage_metadata
m("counts_from_metadata", lambda: usage_mod.counts_from_metadata(um))
m("replayed_by_cache", lambda: usage_mod.replayed_by_cache(um))
queued: list = []
real_write = ledger.write
ledger.write = queued.append
texts2 = [str(uuid.uuid4()) for _ in range(N)]
for t in texts2:
    tracker._start(t, None, cb._LLM, "x", meta, [], "gpt-4o-mini", "openai", {}, None)
it2 = iter(texts2)
counts = (412, 14, 256, 0, 0)
m(
    "tracker.end_llm (write = list.append)",
    lambda: tracker.end_llm(next(it2), counts, model="gpt-4o-mini", outputs=res, defer=True),
)
ledger.write = real_write
p = queued[0]
m("ledger.write(p) (real)", lambda: ledger.write(p))
ledger._buffer.clear()
