"""Defaults + verify_share 0.05 on both intent sets, both checks, seeds 0, 1 and 2 (see README.md).

The sweep of ``../freetext-2026-12-06d/seed_sweep.py`` (env SETS, SEEDS, FAS, TAG, CFG), with
SEEDS 0,1,2 by default and KNOBS: module constants of ``llm_cost_hooks.cache._core`` to set first,
e.g. ``KNOBS=_LOW_CONFIRM=3,_LOW_VERIFY=0.3``.
"""

import ast
import os
import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import llm_cost_hooks.cache._core as core_mod

for kv in filter(None, os.environ.get("KNOBS", "").split(",")):
    k, v = kv.split("=")
    setattr(core_mod, k, type(getattr(core_mod, k))(ast.literal_eval(v)))
os.environ.setdefault("SEEDS", "0,1,2")
runpy.run_path(
    str(Path(__file__).resolve().parents[1] / "freetext-2026-12-06d" / "seed_sweep.py"), run_name="__main__"
)
