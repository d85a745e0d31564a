"""``../callcpu-2026-12-06/icount_callbacks.py`` (the handler's callbacks and the writer's
row, in instructions) with TAGS=1: the handler's defaults carry two cost tags, so every row
has tags to write as JSON. Run with ``../callcpu-2026-12-06/count_pieces.sh``."""

import importlib
import os
import runpy
import sys

sys.path.insert(0, os.getcwd())
if os.environ.get("PKG", "llm_cost_hooks") != "llm_cost_hooks":
    sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/callcpu/basepkg"))
handler = importlib.import_module(os.environ.get("PKG", "llm_cost_hooks") + ".langchain").CostCallbackHandler
if os.environ.get("TAGS"):
    _init = handler.__init__

    def _with_tags(self, *args, defaults=None, **kwargs):  # type: ignore[no-untyped-def]
        _init(
            self,
            *args,
            defaults={**(defaults or {}), "cost_tags": {"team": "support", "env": "prod"}},
            **kwargs,
        )

    handler.__init__ = _with_tags  # type: ignore[method-assign]
runpy.run_path(
    os.path.join(os.path.dirname(__file__), "..", "callcpu-2026-12-06", "icount_callbacks.py"),
    run_name="__main__",
)
