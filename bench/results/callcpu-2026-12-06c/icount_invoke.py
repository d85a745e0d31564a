"""``../callcpu-2026-12-06b/icount_invoke.py`` (instructions per ``invoke``, all threads, SQLite
ledger flushed), with BATCHED=1: the ledger's writer wakes only when 256 calls are queued (or
on flush) instead of every 50 ms. Under callgrind a call takes about 50 times longer, so the
50 ms timer finds one or two calls a wake-up and every record pays a transaction of its own;
at full speed (``python -m bench foundation``) a wake-up finds about 200. BATCHED=1 counts
the writer's work as the timed benchmark batches it. Same environment variables otherwise.

    CG=1 N=1000 CFG=ours MODEL=cheap BATCHED=1 valgrind --tool=callgrind --separate-threads=yes \\
        --callgrind-out-file=cg.out python bench/results/callcpu-2026-12-06c/icount_invoke.py
"""

import importlib
import os
import runpy
import sys

sys.path.insert(0, os.getcwd())
if os.environ.get("PKG", "llm_cost_hooks") != "llm_cost_hooks":
    sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/callcpu/basepkg"))
if os.environ.get("BATCHED"):
    ledger = importlib.import_module(os.environ.get("PKG", "llm_cost_hooks") + ".ledger")
    _init = ledger.SQLiteLedger.__init__

    def _batched(self, path, **kwargs):  # type: ignore[no-untyped-def]
        _init(self, path, **{**kwargs, "flush_interval": 3600.0})

    ledger.SQLiteLedger.__init__ = _batched  # type: ignore[method-assign]
runpy.run_path(
    os.path.join(os.path.dirname(__file__), "..", "callcpu-2026-12-06b", "icount_invoke.py"),
    run_name="__main__",
)
