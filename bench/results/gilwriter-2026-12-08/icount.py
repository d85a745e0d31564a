"""Instructions per call of CostCallbackHandler's own work, on one thread: the caller's
part (on_chat_model_start + on_llm_end with the arguments LangChain passes for a call of
the foundation bench's cheap or realistic model, SQLite ledger, the writer kept asleep),
then the writer's part (the queued calls drained through Ledger._drain_once in batches of
B, as the writer thread does: build, INSERT, COMMIT, bookkeeping).

    N=2000 B=256 valgrind --tool=callgrind --collect-atstart=no \
        --toggle-collect=functools_reduce --toggle-collect=_operator_call \
        --callgrind-out-file=cg.out python bench/results/reccpu-2026-12-08/icount.py
    callgrind_annotate --inclusive=yes cg.out | grep -E "functools_reduce|_operator_call"

functools_reduce's inclusive count is the caller's part, _operator_call's the writer's.
Garbage collection is off during both parts (gc_count.py counts the collections the real
flow triggers). Without valgrind it prints thread CPU per call of each part.
"""

import functools
import gc
import operator
import os
import tempfile
import time
import uuid

from langchain_core.callbacks import BaseCallbackHandler

from bench._common import fixed_usage_model, realistic_model
from llm_cost_hooks.langchain import CostCallbackHandler
from llm_cost_hooks.ledger import SQLiteLedger

n, b = int(os.environ.get("N", "2000")), int(os.environ.get("B", "256"))
if os.environ.get("SIZES"):  # rows per INSERT statement to try (SIZES=120,60,30,16,8,4,2,1)
    import llm_cost_hooks.ledger._stores as stores

    stores._INSERT_SIZES = tuple(int(x) for x in os.environ["SIZES"].split(","))
model = realistic_model() if os.environ.get("MODEL") == "realistic" else fixed_usage_model()
meta = {"tenant_id": "acme", "prompt_version": "v1"}
captured: dict = {}


class Capture(BaseCallbackHandler):
    def on_chat_model_start(self, serialized, messages, **kw):  # type: ignore[no-untyped-def]
        captured["start"] = (serialized, messages, kw)

    def on_llm_end(self, response, **kw):  # type: ignore[no-untyped-def]
        captured["end"] = (response, kw)


model.invoke("When will my card arrive?", config={"callbacks": [Capture()], "metadata": meta})
tmp = tempfile.mkdtemp()
led = SQLiteLedger(f"{tmp}/i.db", flush_interval=3600)
led._wake_at = 10**9
led._batch_size = b
h = CostCallbackHandler(ledger=led, defaults={"feature": "bench"})
s, msgs, skw = captured["start"]
resp, ekw = captured["end"]
skw, ekw = dict(skw), dict(ekw)


def calls(count: int) -> None:
    for _ in range(count):
        rid = uuid.uuid4()  # LangChain makes one per call (not ours: made outside the part)
        skw["run_id"] = ekw["run_id"] = rid
        h.on_chat_model_start(s, msgs, **skw)
        h.on_llm_end(resp, **ekw)


def drain() -> None:
    while led._buffer:
        led._drain_once()


calls(300)  # warm: prices, shapes, statements
drain()
calls(255)  # a batch of 255 rows: a statement of every size below 256 prepared before the parts
drain()
ids = [uuid.uuid4() for _ in range(n)]


def caller_part() -> None:
    for rid in ids:
        skw["run_id"] = ekw["run_id"] = rid
        h.on_chat_model_start(s, msgs, **skw)
        h.on_llm_end(resp, **ekw)


# Garbage collection off: with the writer asleep the queue grows to N calls and every
# collection walks it (gc_count.py counts the collections of the real flow instead).
gc.disable()
t0 = time.thread_time_ns()
functools.reduce(lambda _, __: caller_part(), [0], None)
t1 = time.thread_time_ns()
operator.call(drain)
t2 = time.thread_time_ns()
written = led.stats.written
print(
    f"caller {(t1 - t0) / n / 1e3:.2f} us/call, writer alone {(t2 - t1) / n / 1e3:.2f} us/record; written {written}"
)
h.tracker.close()
