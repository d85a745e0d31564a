"""The `budgets` bench rows of this checkout and its comparison with the checkout named by
LLM_COST_HOOKS_BENCH_BASE (alternating subprocesses), printed as the bench prints them."""

import os
import sys

sys.path.insert(0, os.getcwd())
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
from bench._common import format_table
from bench.bench_budgets import _base_rows, _guard_rows


def load() -> str:
    with open("/proc/loadavg") as f:
        return f.read().strip()


print("load", load())
rows = _guard_rows(False) + _base_rows(False)
print(format_table(rows))
print("load", load())
