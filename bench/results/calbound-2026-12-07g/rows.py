"""The bench's calibration rows alone (``bench/bench_cache.py::calibration_rows``), quick and full.

LLM_COST_HOOKS_DATA_DIR=/work/shared/data python bench/results/calbound-2026-12-07g/rows.py [--full]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bench.bench_cache import calibration_rows

for row in calibration_rows("--full" not in sys.argv):
    print(f"{row.metric}: {row.value:.4f} ok={row.ok}\n    {row.note}", flush=True)
