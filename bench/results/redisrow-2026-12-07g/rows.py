"""The benchmark's own Redis lookup rows: ``bench_cache.lookup_rows(quick=True)``, Redis rows only.

``python bench/results/redisrow-2026-12-07g/rows.py`` from the repository root.
"""

from __future__ import annotations

import sys
from pathlib import Path

root = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(root), str(root / "tests")]

from bench import bench_cache as bc  # noqa: E402
from bench._common import format_table  # noqa: E402

url, srv = bc._redis()
try:
    print(format_table([r for r in bc.lookup_rows(True, url) if "redis" in r.metric.lower()]))
finally:
    if srv is not None:
        srv.stop()
