"""GSM8K and MT-Bench rows of ``python -m bench routing`` (``_two_model``: the saved-router
path, 5 seeds, confidences 0.5 and 0.9) with each text's embedding kept in
bench/.cache/routecal_emb.pkl between runs (the same vectors); used for routing_cal.md:

    LLM_COST_HOOKS_DATA_DIR=/work/shared/data PYTHONPATH=. python bench/results/routing_cal_twomodel.py
"""

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.getcwd())
from bench import bench_routing as b
from bench._common import format_table
from bench.results.routing_cal_emb import cached_embedder

emb, _save = cached_embedder()
rows: list = []
t0 = time.time()
with tempfile.TemporaryDirectory(prefix="routecal-") as tmp:
    b._two_model("gsm8k", b._gsm8k_data(False), emb, rows, Path(tmp))
    b._two_model("mt-bench", b._mtbench_data(), emb, rows, Path(tmp))
print(format_table(rows))
print(f"# {time.time() - t0:.0f} s; {b._load()}")
