"""Same-process A/B of the record path: main's handler (a copy of main's package importable as
``llm_cost_hooks_base``) vs this tree's, called directly (on_chat_model_start / on_llm_end with a
realistic result, no LangChain machinery around them), SQLite ledger, flushed inside the window.

Alternating rounds of N calls; per round: the caller thread's CPU and the process CPU (caller +
the ledger's writer, which builds and inserts the deferred records) per call, and the writer's
share (process - caller). Medians over rounds and of the paired differences new - main."""

import gc
import os
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/recperf/basepkg"))
from langchain_core.messages import HumanMessage
from langchain_core.outputs import LLMResult
from llm_cost_hooks_base.langchain import CostCallbackHandler as Main

from bench._common import fixed_usage_model
from llm_cost_hooks.langchain import CostCallbackHandler as New

tmp = tempfile.mkdtemp()
# The events LangChain sends for a call of the benchmarks' cheap model (same answer and usage).
model = fixed_usage_model()
msgs = [[HumanMessage("When will my card arrive?")]]
res = LLMResult(generations=[model._generate(msgs[0]).generations])
meta = {"tenant_id": "acme", "prompt_version": "v1", **model._get_ls_params()}
ser = {"name": type(model).__name__}
inv = {"_type": model._llm_type, "stop": None}
n = int(os.environ.get("N", "5000"))
rounds = int(os.environ.get("ROUNDS", "15"))
handlers = {
    "main": Main(ledger=f"sqlite:///{tmp}/main.db", defaults={"feature": "bench"}),
    "new": New(ledger=f"sqlite:///{tmp}/new.db", defaults={"feature": "bench"}),
}
ids = [uuid.uuid4() for _ in range((n * rounds + 500) * 2)]
it = iter(ids)


def calls(h, count):
    for _ in range(count):
        rid = next(it)
        h.on_chat_model_start(
            ser,
            msgs,
            run_id=rid,
            parent_run_id=None,
            tags=[],
            metadata=meta,
            invocation_params=inv,
            name=None,
        )
        h.on_llm_end(res, run_id=rid, parent_run_id=None, tags=[])
    assert h.flush(300)


print("load at start", os.getloadavg(), flush=True)
for h in handlers.values():
    calls(h, 500)
out = {k: {"caller": [], "process": []} for k in handlers}
for rnd in range(rounds):
    order = list(handlers) if rnd % 2 == 0 else list(reversed(list(handlers)))
    for name in order:
        h = handlers[name]
        gc.collect()
        t0, p0 = time.thread_time(), time.process_time()
        calls(h, n)
        out[name]["caller"].append((time.thread_time() - t0) / n * 1e6)
        out[name]["process"].append((time.process_time() - p0) / n * 1e6)
for name, h in handlers.items():
    assert h.ledger.stats.written == n * rounds + 500 and h.ledger.stats.dropped == 0
    c, p = out[name]["caller"], out[name]["process"]
    w = [b - a for a, b in zip(c, p)]
    print(
        f"{name:5s} caller {statistics.median(c):6.1f} us  process {statistics.median(p):6.1f} us  "
        f"writer {statistics.median(w):6.1f} us per call (medians of {rounds} rounds x {n})"
    )
for clock in ("caller", "process"):
    d = [b - a for a, b in zip(out["main"][clock], out["new"][clock])]
    r = [b / a for a, b in zip(out["main"][clock], out["new"][clock])]
    print(
        f"new - main {clock}: median {statistics.median(d):+.1f} us, new/main median {statistics.median(r):.3f}"
    )
print("load at end", os.getloadavg())
for h in handlers.values():
    h.tracker.close()
