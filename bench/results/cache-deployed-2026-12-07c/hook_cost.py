"""The cost the configurable check adds to each model run's scope hook: ``begin_run`` +
``end_run`` as before (metadata only) and now (also the enclosing config's configurable),
interleaved, CPU time.

    python hook_cost.py          # a bare model call: no enclosing config
    python hook_cost.py chain    # inside a chain whose config has a configurable
"""

import statistics
import sys
import time
import uuid

from langchain_core.runnables.config import var_child_runnable_config

from llm_cost_hooks.cache._scope import begin_run, end_run

meta = {"tenant_id": "acme", "ls_provider": "openai", "ls_model_name": "gpt-4o-mini"}
rid = uuid.uuid4()
N = 100000


def old():
    t0 = time.process_time()
    for _ in range(N):
        begin_run(rid, meta)
        end_run(rid)
    return (time.process_time() - t0) / N * 1e9


def new():
    t0 = time.process_time()
    for _ in range(N):
        begin_run(rid, meta, (var_child_runnable_config.get() or {}).get("configurable"))
        end_run(rid)
    return (time.process_time() - t0) / N * 1e9


tok = (
    var_child_runnable_config.set({"configurable": {"thread_id": "t1"}, "metadata": meta})
    if sys.argv[1:] == ["chain"]
    else None
)
a, b = [], []
for r in range(7):
    for f, out in ((old, a), (new, b)) if r % 2 == 0 else ((new, b), (old, a)):
        out.append(f())
d = [y - x for x, y in zip(a, b)]
print(
    f"{sys.argv[1:] or ['bare']}: before {statistics.median(a):.0f} ns, now {statistics.median(b):.0f} ns per model run start+end; paired diff median {statistics.median(d):+.0f} ns (min {min(d):+.0f}, max {max(d):+.0f}), 7 rounds"
)
