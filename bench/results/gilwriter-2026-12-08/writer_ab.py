"""The ledger writer's thread per record in the real flow: whole LangChain calls of the
foundation bench's cheap (or realistic) model with CostCallbackHandler and a SQLite ledger,
the writer thread running as shipped (0.25 s timer, woken at 256 queued). Reads the writer
thread's CPU clock and its context switches (/proc/self/task/<tid>/status) around N calls
and the final flush, after a warm-up of 600 calls (statements prepared, caches filled).

    PYTHONPATH=<tree> N=6000 MODEL=cheap python writer_ab.py
"""

import os
import tempfile
import threading
import time

from bench._common import fixed_usage_model, realistic_model
from llm_cost_hooks.langchain import CostCallbackHandler

n = int(os.environ.get("N", "6000"))
model = realistic_model() if os.environ.get("MODEL") == "realistic" else fixed_usage_model()
tmp = tempfile.mkdtemp()
h = CostCallbackHandler(ledger=f"sqlite:///{tmp}/w.db", defaults={"feature": "bench"})
cfg = {"callbacks": [h], "metadata": {"tenant_id": "acme", "prompt_version": "v1"}}
writer = h.ledger._thread
assert isinstance(writer, threading.Thread) and writer.native_id is not None
clock = time.pthread_getcpuclockid(writer.ident)  # type: ignore[arg-type]


def switches() -> tuple[int, int]:
    with open(f"/proc/self/task/{writer.native_id}/status") as f:
        d = dict(line.split(":", 1) for line in f)
    return int(d["voluntary_ctxt_switches"]), int(d["nonvoluntary_ctxt_switches"])


def calls(k: int) -> None:
    for _ in range(k):
        model.invoke("When will my card arrive?", config=cfg)


calls(600)
h.flush()
w0, s0, p0, c0 = time.clock_gettime(clock), switches(), time.process_time(), time.thread_time()
calls(n)
c1 = time.thread_time()
h.flush()
w1, s1, p1 = time.clock_gettime(clock), switches(), time.process_time()
stats = h.ledger.stats
with open("/proc/loadavg") as f:
    load = f.read().split()[0]
print(
    f"{os.environ.get('TAG', '?')}: writer {(w1 - w0) / n * 1e6:.2f} us/record, "
    f"switches/100 records vol {(s1[0] - s0[0]) * 100 / n:.2f} invol {(s1[1] - s0[1]) * 100 / n:.2f}; "
    f"caller {(c1 - c0) / n * 1e6:.1f} us/call; process {(p1 - p0) / n * 1e6:.1f} us/call; "
    f"written {stats.written}; load {load}"
)
h.tracker.close()
