"""The layout check's cost on a hit without a key: the parse before (JSON validation only) and
now (layout marker, then the same validation), interleaved in one process, CPU time.

    python layout_cost.py
"""

from __future__ import annotations

import statistics
import time

from llm_cost_hooks.cache import RedisBackend
from llm_cost_hooks.cache._entry import CacheEntry

entry = CacheEntry(
    partition="p" * 32, exact_key="k" * 32, tenant="t", query="When will my card arrive?",
    normalized_query="when will my card arrive?", embedding_model="none",
    answer="Your card arrives in 3-5 working days. " * 12, answer_key="a" * 32,
)  # fmt: skip
backend = RedisBackend.__new__(RedisBackend)  # the parse only: no server
backend._key, backend.corrupt, backend.on_corrupt, backend._corrupt_logged = None, 0, None, False
raw = backend._dump(entry)
N = 20000


def before() -> float:
    t0 = time.process_time()
    for _ in range(N):
        CacheEntry.model_validate_json(raw)
    return (time.process_time() - t0) / N * 1e6


def now() -> float:
    t0 = time.process_time()
    for _ in range(N):
        backend._parse(raw, "k")
    return (time.process_time() - t0) / N * 1e6


a, b = [], []
for r in range(9):
    for f, out in ((before, a), (now, b)) if r % 2 == 0 else ((now, b), (before, a)):
        out.append(f())
d = [y - x for x, y in zip(a, b)]
print(
    f"before: median {statistics.median(a):.2f} µs (min {min(a):.2f}, max {max(a):.2f}); "
    f"now: median {statistics.median(b):.2f} µs (min {min(b):.2f}, max {max(b):.2f}); "
    f"paired difference median {statistics.median(d):+.2f} µs (min {min(d):+.2f}, max {max(d):+.2f}), 9 rounds"
)
