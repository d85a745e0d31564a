"""What the first tenant-less call of a cache pays to learn whether its store already holds a
tenant's entries (require_tenant="auto"): the embedded backend's one pass over its in-memory
entries, Redis's FT.TAGVALS on the tenant tag. Run from the repository root (Redis Stack from
the test servers): PYTHONPATH=.:tests python bench/results/tenantless-2026-12-07f/store_check_cost.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from _servers import RedisServer

from llm_cost_hooks.cache import CacheEntry, EmbeddedBackend, RedisBackend
from llm_cost_hooks.cache._scope import DEFAULT_TENANT

N = 100_000


def entry(i: int, tenant: str) -> CacheEntry:
    return CacheEntry(
        partition=f"p{i % 50}",
        exact_key=f"k{i}",
        tenant=tenant,
        query="q",
        normalized_query="q",
        embedding_model="toy",
        answer="a",
        answer_key="a",
    )


def timed(fn, repeat: int = 7) -> str:
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000)
    return (
        f"min {min(ts):.2f} ms, median {statistics.median(ts):.2f} ms, max {max(ts):.2f} ms ({repeat} runs)"
    )


b = EmbeddedBackend(max_entries=2 * N)
for i in range(N):
    b.put(entry(i, DEFAULT_TENANT), None)
print(
    f"embedded, {N} tenant-less entries (worst case, full pass):",
    timed(lambda: b.has_named_tenants(DEFAULT_TENANT)),
)

server = RedisServer().start()
try:
    r = RedisBackend(server.url, prefix="cost")
    vec = np.zeros(8, np.float32)
    vec[0] = 1
    tenants = [DEFAULT_TENANT] + [f"t{k}" for k in range(1000)]
    pipe_n = 20_000
    for i in range(pipe_n):
        r.put(entry(i, tenants[i % len(tenants)]), vec)
    print(
        f"redis, {pipe_n} entries of {len(tenants)} tenants:",
        timed(lambda: r.has_named_tenants(DEFAULT_TENANT)),
    )
    r2 = RedisBackend(server.url, prefix="cost2")
    for i in range(2000):
        r2.put(entry(i, DEFAULT_TENANT), vec)
    print(
        "redis, 2000 tenant-less entries:",
        timed(lambda: r2.has_named_tenants(DEFAULT_TENANT)),
        "->",
        r2.has_named_tenants(DEFAULT_TENANT),
    )
finally:
    server.stop()
