"""The guard rows of ``python -m bench cache`` this change touches: near-misses, keyed and
free-text intent rows (``--quick`` samples, or the full splits with ``full``)."""

import os
import sys

sys.path.insert(
    0, os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
)
from bench.bench_cache import free_text_rows, near_miss_rows

quick = "full" not in sys.argv[1:]
rows = free_text_rows(quick) + (near_miss_rows() if quick else [])
for r in rows:
    print(f"{r.metric}: {r.value:.4f} ok={r.ok} | {r.note}")
