"""The decision-quality rows of ``python -m bench cache --quick`` alone (near-miss fixtures,
text kinds, intent sets, MRPC, calibration), for the code on PYTHONPATH.

    PYTHONPATH=<tree> LLM_COST_HOOKS_DATA_DIR=/work/shared/data python bench/results/sparse-2026-12-07g/rows.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[3]))  # llm_cost_hooks: from PYTHONPATH
from bench import bench_cache as bc
from bench._common import format_table

if __name__ == "__main__":
    import llm_cost_hooks

    print("llm_cost_hooks from", llm_cost_hooks.__file__, "load", os.getloadavg(), flush=True)
    rows = bc.near_miss_rows() + bc.text_kind_rows() + bc.free_text_rows(True) + bc.mrpc_rows(True)
    if "--calibration" in sys.argv:
        rows += bc.calibration_rows(True)
    print(format_table(rows))
    print("load", os.getloadavg())
