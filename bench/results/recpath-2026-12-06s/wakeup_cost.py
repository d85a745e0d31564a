"""Thread CPU of each writer wake-up (``_drain_once``, ``_materialize``, ``_write_batch``) and its
batch size, with the writer waking every ``FI`` s, in the interleaved harness (cheap model)."""

import os
import statistics
import tempfile
import time

from langchain_core.callbacks import UsageMetadataCallbackHandler

from bench._common import Arm, fixed_usage_model, interleaved_cost, threads_started_by
from llm_cost_hooks.langchain import CostCallbackHandler as New
from llm_cost_hooks.ledger import SQLiteLedger


def read(path):
    with open(path) as f:
        return f.read()


def loadavg():
    return read("/proc/loadavg").strip()


model = fixed_usage_model()
tmp = tempfile.mkdtemp()
meta = {"tenant_id": "acme", "prompt_version": "v1"}
prompt = "q"
fi = float(os.environ.get("FI", "0.05"))
log = []


def mk():
    led = SQLiteLedger(f"{tmp}/x.db", flush_interval=fi)
    orig = led._drain_once
    om = led._materialize
    ow = led._write_batch

    def mat(recs):
        t0 = time.thread_time()
        out = om(recs)
        log[-1][2] += time.thread_time() - t0
        return out

    def wb(r, o):
        t0 = time.thread_time()
        ow(r, o)
        log[-1][3] += time.thread_time() - t0

    led._materialize = mat
    led._write_batch = wb

    def d():
        n = len(led._buffer)
        log.append([n, 0.0, 0.0, 0.0])
        t0 = time.thread_time()
        r = orig()
        log[-1][1] = time.thread_time() - t0
        return r

    led._drain_once = d
    return New(ledger=led, defaults={"feature": "bench"})


h, t = threads_started_by(mk)
cf = {
    "bare": {"metadata": meta},
    "usage": {"callbacks": [UsageMetadataCallbackHandler()], "metadata": meta},
    "ours": {"callbacks": [h], "metadata": meta},
}
arms = {
    k: Arm(
        (lambda k=k: model.invoke(prompt, config=cf[k])),
        t if k == "ours" else (),
        h.flush if k == "ours" else None,
    )
    for k in cf
}
run = interleaved_cost(arms, block=20, blocks_per_round=20, rounds=10)
log = [x for x in log if x[0] > 0]
# The first batch holds the warm-up calls (and the price book's first load): left out.
log = log[1:]
tot = sum(x[1] for x in log)
n = sum(x[0] for x in log)
print(
    "load",
    loadavg(),
    f"FI={fi} batches {len(log)} records {n}, drain CPU {tot / n * 1e6:.1f} us/rec; materialize {sum(x[2] for x in log) / n * 1e6:.1f}, write_batch {sum(x[3] for x in log) / n * 1e6:.1f}",
)
small = [x for x in log if x[0] < 100]
big = [x for x in log if x[0] >= 100]
for name, g in (("<100", small), (">=100", big)):
    if g:
        print(
            name,
            len(g),
            "median n",
            statistics.median(x[0] for x in g),
            f"us/rec drain {sum(x[1] for x in g) / sum(x[0] for x in g) * 1e6:.1f} mat {sum(x[2] for x in g) / sum(x[0] for x in g) * 1e6:.1f} wb {sum(x[3] for x in g) / sum(x[0] for x in g) * 1e6:.1f}",
        )
for i, name in ((1, "drain"), (2, "materialize"), (3, "write_batch")):
    per = sorted(x[i] / x[0] * 1e6 for x in log)
    print(
        f"  {name}: median {statistics.median(per):.1f} us/rec per batch (quartiles {per[len(per) // 4]:.1f}-{per[3 * len(per) // 4]:.1f})"
    )
c = run.cost
print(
    "writer+drain per call (process-thread) %.1f"
    % ((c["ours"].mean("process") - c["ours"].mean("thread")) * 1e6)
)
