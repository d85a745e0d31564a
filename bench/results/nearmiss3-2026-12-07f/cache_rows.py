"""The decision-quality rows of ``python -m bench cache --quick`` (near-miss, text-kind, intent
and MRPC rows; not the latency, Redis or ANN rows, which do not depend on the contrast checks).

LLM_COST_HOOKS_DATA_DIR=/work/shared/data PYTHONPATH=<tree> python cache_rows.py
"""

from bench import bench_cache as b
from bench._common import format_table

rows = b.near_miss_rows() + b.text_kind_rows() + b.free_text_rows(True) + b.mrpc_rows(True)
print(format_table(rows))
