"""The cache's quality rows (near-misses, Banking77/HWU64 free-text and keyed, MRPC; --quick
samples) with the default fp32 vectors or with the int8-matmul graph's vectors.

    python bench/results/embed-2026-12-07g/quality.py fp32|int8 [full]

``full``: only the intent-set rows, on the full test splits (not --quick samples).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from llm_cost_hooks.embeddings import _onnx  # noqa: E402

if sys.argv[1] == "int8":
    _onnx._defaults[False] = _onnx.OnnxEmbedder(int8_matmul=True)

from bench import bench_cache  # noqa: E402

print("embedder:", _onnx.default_embedder().name, "load", os.getloadavg())
if sys.argv[2:] == ["full"]:
    rows = bench_cache.free_text_rows(False)
else:
    rows = bench_cache.near_miss_rows() + bench_cache.free_text_rows(True) + bench_cache.mrpc_rows(True)
for r in rows:
    print(
        f"{r.metric:70s} {r.value:10.4f} {r.unit:6s} anchor {r.anchor_name}={r.anchor_value} ok={r.ok} | {r.note}"
    )
print("load", os.getloadavg())
