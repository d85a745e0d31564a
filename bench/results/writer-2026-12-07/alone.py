"""The writer's work done alone on one thread: N calls of the cheap (or realistic) model
through CostCallbackHandler queue deferred records (the writer kept asleep), then the main
thread builds and writes them in batches of B, as the writer would (THRASH: that many calls without a handler before each batch,
as the caller runs between the writer's wake-ups). Prints thread CPU per
record of the build and the write; run under callgrind for instructions per part.

    PYTHONPATH=$PWD N=4000 B=200 MODEL=cheap python bench/results/writer-2026-12-07/alone.py
"""

import functools
import operator
import os
import resource
import tempfile
import time

from bench._common import fixed_usage_model, realistic_model
from llm_cost_hooks.langchain import CostCallbackHandler
from llm_cost_hooks.ledger import SQLiteLedger

n, b = int(os.environ.get("N", "4000")), int(os.environ.get("B", "200"))
model = fixed_usage_model() if os.environ.get("MODEL", "cheap") == "cheap" else realistic_model()
tmp = tempfile.mkdtemp()
led = SQLiteLedger(f"{tmp}/a.db", flush_interval=3600)
led._wake_at = 10**9
h = CostCallbackHandler(ledger=led, defaults={"feature": "bench"})
cfg = {"callbacks": [h], "metadata": {"tenant_id": "acme", "prompt_version": "v1"}}
for _ in range(200):
    model.invoke("When will my card arrive?", config=cfg)
h.flush()
for _ in range(n):
    model.invoke("When will my card arrive?", config=cfg)
with led._lock:
    pending, led._buffer = led._buffer, []
build = write = 0
flt0 = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
thrash = int(os.environ.get("THRASH", "0"))
bare = {"metadata": {"tenant_id": "acme", "prompt_version": "v1"}}
for i in range(0, len(pending), b):
    for _ in range(thrash):
        model.invoke("When will my card arrive?", config=bare)
    t0 = time.thread_time_ns()
    # through C entry points callgrind can be told to count (--toggle-collect=functools_reduce
    # for the build, --toggle-collect=_operator_call for the write)
    rows = functools.reduce(lambda _, chunk: led._materialize(chunk), [pending[i : i + b]], None)
    t1 = time.thread_time_ns()
    operator.call(led._write_batch, rows, [])
    write += time.thread_time_ns() - t1
    build += t1 - t0
flt = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - flt0
print(
    f"{len(pending)} records, batches of {b}, {thrash} calls without handler between batches: build {build / len(pending) / 1e3:.2f} us/rec, write {write / len(pending) / 1e3:.2f} us/rec, page faults {flt / len(pending):.2f}/rec"
)
h.tracker.close()
