"""``../callcpu-2026-12-06/icount_invoke.py`` with a flush that waits as long as it takes:
under callgrind the first load of the price map (JSON parse and sha256 of the map file) can
outlast the 10 s default flush of the warm-up and then lands in the counted calls (66M
instructions of sha256 alone: +66k per call over 1,000 calls). Same environment variables.

    CG=1 N=1000 CFG=ours MODEL=real valgrind --tool=callgrind --separate-threads=yes \\
        --callgrind-out-file=cg.out python bench/results/callcpu-2026-12-06b/icount_invoke.py
"""

import importlib
import os
import runpy
import sys

sys.path.insert(0, os.getcwd())
if os.environ.get("PKG", "llm_cost_hooks") != "llm_cost_hooks":
    sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/callcpu/basepkg"))
handler = importlib.import_module(os.environ.get("PKG", "llm_cost_hooks") + ".langchain").CostCallbackHandler
_flush = handler.flush
handler.flush = lambda self, timeout=600.0: _flush(self, timeout)  # type: ignore[method-assign]
runpy.run_path(
    os.path.join(os.path.dirname(__file__), "..", "callcpu-2026-12-06", "icount_invoke.py"),
    run_name="__main__",
)
