"""Same-process A/B of what a no-op deferrable observer costs the tracker: the base package (a
copy importable as ``llm_cost_hooks_base``) vs this tree, each with no observer and with a no-op
deferrable observer, SQLite ledger, handler called directly (on_chat_model_start / on_llm_end with
a realistic result), flushed inside the window.

Interleaved rounds of N calls; per round the process CPU per call (caller + the ledger's writer).
Prints medians per arm and the median paired observer overhead (noop - none) per package."""

import os
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/obsview/basepkg"))
from langchain_core.messages import HumanMessage
from langchain_core.outputs import LLMResult
from llm_cost_hooks_base.langchain import CostCallbackHandler as Base
from llm_cost_hooks_base.tracking import RunObserver as BaseObserver

from bench._common import fixed_usage_model
from llm_cost_hooks.langchain import CostCallbackHandler as New
from llm_cost_hooks.tracking import RunObserver as NewObserver


class BaseNoOp(BaseObserver):
    deferrable = True


class NewNoOp(NewObserver):
    deferrable = True


tmp = tempfile.mkdtemp()
model = fixed_usage_model()
msgs = [[HumanMessage("When will my card arrive?")]]
res = LLMResult(generations=[model._generate(msgs[0]).generations])
meta = {"tenant_id": "acme", "prompt_version": "v1", **model._get_ls_params()}
ser = {"name": type(model).__name__}
inv = {"_type": model._llm_type, "stop": None}
n = int(os.environ.get("N", "3000"))
rounds = int(os.environ.get("ROUNDS", "11"))
handlers = {
    "base none": Base(ledger=f"sqlite:///{tmp}/b0.db"),
    "base noop": Base(ledger=f"sqlite:///{tmp}/b1.db", observers=[BaseNoOp()]),
    "new none": New(ledger=f"sqlite:///{tmp}/n0.db"),
    "new noop": New(ledger=f"sqlite:///{tmp}/n1.db", observers=[NewNoOp()]),
}


def calls(h, count):
    for _ in range(count):
        rid = uuid.uuid4()
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


if os.environ.get("PROFILE"):
    import cProfile
    import pstats
    import threading

    h = handlers[os.environ["PROFILE"]]
    calls(h, 500)
    threading.setprofile(None)
    pr = cProfile.Profile()
    # profile every thread: the writer too
    import sys as _s

    _s.setprofile(None)
    threading.setprofile_all_threads = None
    pr.enable()
    calls(h, n)
    pr.disable()
    pstats.Stats(pr).sort_stats("tottime").print_stats(25)
    sys.exit()

for h in handlers.values():
    calls(h, 500)
cpu = {k: [] for k in handlers}
for r in range(rounds):
    order = list(handlers.items())
    if r % 2:
        order.reverse()
    for name, h in order:
        c0 = time.process_time()
        calls(h, n)
        cpu[name].append((time.process_time() - c0) / n * 1e6)
with open("/proc/loadavg") as f:
    print("load:", f.read().strip())
print(f"N={n} rounds={rounds}; process CPU per call, us (median over rounds)")
for k, v in cpu.items():
    print(f"  {k:10s} {statistics.median(v):8.2f}")
for pkg in ("base", "new"):
    d = [a - b for a, b in zip(cpu[f"{pkg} noop"], cpu[f"{pkg} none"])]
    print(f"  {pkg} observer overhead (noop - none, median paired): {statistics.median(d):6.2f} us")
d = [
    (a - b) - (c - e)
    for a, b, c, e in zip(cpu["new noop"], cpu["new none"], cpu["base noop"], cpu["base none"])
]
print(f"  overhead change new - base (median paired): {statistics.median(d):6.2f} us")
