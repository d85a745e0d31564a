"""pytest plugin: force the package's unseeded RNGs. FORCE_RNG=lo|hi|<int>."""

import os
import random
import types

MODE = os.environ.get("FORCE_RNG", "")
HITS = {"n": 0}


class _Forced(random.Random):
    def __init__(self, seed=None):
        self._forced = seed is None
        if seed is None and MODE.isdigit():
            seed = int(MODE)
        super().__init__(seed)

    def random(self):
        if self._forced:
            HITS["n"] += 1
            if MODE == "lo":
                return 0.0
            if MODE == "hi":
                return 0.9999999
        return super().random()


def pytest_configure(config):
    if not MODE:
        return
    import importlib

    for name in (
        "llm_cost_hooks.cache._core",
        "llm_cost_hooks.routing._shadow",
        "llm_cost_hooks.cache._calibrate",
    ):
        m = importlib.import_module(name)
        ns = types.ModuleType("random")
        ns.__dict__.update(vars(random))
        ns.Random = _Forced
        m.random = ns


def pytest_terminal_summary(terminalreporter):
    if MODE:
        terminalreporter.write_line(f"FORCE_RNG={MODE}: unseeded draws={HITS['n']}")
