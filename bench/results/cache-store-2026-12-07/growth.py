"""The embedded store growing to 100k entries in one partition: memory, disk, lookup
latency at each size, and the time to open the file again.

    python growth.py [--n 100000] [--dir DIR]

Vectors are random unit vectors of the default embedder's size (384): the store and its
index are what is measured, not the embedder (embedding 100k texts is minutes of CPU on
this shared machine). Latency is the backend's ``search`` (k=10) and ``get_exact`` alone,
wall and CPU, 300 queries per checkpoint; the queries are stored vectors plus noise.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from llm_cost_hooks.cache import CacheEntry, EmbeddedBackend


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def disk_mib(path: Path) -> float:
    return sum(os.path.getsize(f"{path}{s}") for s in ("", "-wal") if os.path.exists(f"{path}{s}")) / 2**20


def entry(i: int) -> CacheEntry:
    q = f"customer question number {i} about cards, transfers and fees"
    return CacheEntry(
        id=f"{i:032x}",
        partition="p",
        exact_key=f"x{i}",
        tenant="acme",
        query=q,
        normalized_query=q,
        embedding_model="random-384",
        answer=json.dumps({"v": 1, "choices": [{"text": f"answer {i} " * 20}]}),
        answer_key=f"k{i}",
    )


def timed(fn, args_list):  # type: ignore[no-untyped-def]
    wall, cpu = [], []
    for args in args_list:
        t, c = time.perf_counter(), time.process_time()
        fn(*args)
        wall.append((time.perf_counter() - t) * 1e3)
        cpu.append((time.process_time() - c) * 1e3)
    wall.sort()
    return {
        "p50_ms": round(statistics.median(wall), 3),
        "p99_ms": round(wall[int(len(wall) * 0.99) - 1], 3),
        "cpu_mean_ms": round(statistics.fmean(cpu), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    d = Path(args.dir or tempfile.mkdtemp(prefix="cache-growth-"))
    path = d / "growth.db"
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((args.n, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    base_rss = rss_mib()
    b = EmbeddedBackend(path, max_entries=args.n)
    checkpoints = [c for c in (1_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000) if c <= args.n]
    rows = []
    t_ins = time.perf_counter()
    done = 0
    for cp in checkpoints:
        for i in range(done, cp):
            b.put(entry(i), vecs[i])
        done = cp
        picks = rng.integers(0, cp, 300)
        qs = vecs[picks] + 0.05 * rng.standard_normal((300, 384)).astype(np.float32)
        qs /= np.linalg.norm(qs, axis=1, keepdims=True)
        search = timed(b.search, [("p", q, 10) for q in qs])
        found = sum(
            b.search("p", q, 1)[0].entry_id == f"{int(i):032x}" for q, i in zip(qs[:100], picks[:100])
        )
        exact = timed(b.get_exact, [(f"x{int(i)}",) for i in picks])
        row = {
            "entries": cp,
            "search": search,
            "nearest_is_source_of_100": int(found),
            "get_exact": exact,
            "rss_mib_over_start": round(rss_mib() - base_rss, 1),
            "disk_mib": round(disk_mib(path), 1),
            "insert_s_total": round(time.perf_counter() - t_ins, 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    t = time.perf_counter()
    b.close()
    close_s = time.perf_counter() - t
    del b
    rss_before_open = rss_mib()
    t = time.perf_counter()
    b2 = EmbeddedBackend(path, max_entries=args.n)
    open_s = time.perf_counter() - t
    qs = vecs[:300]
    after = {
        "close_and_save_graph_s": round(close_s, 2),
        "reopen_s": round(open_s, 2),
        "reopened_entries": b2.count(),
        "rss_mib_reopened": round(rss_mib() - rss_before_open, 1),
        "search_after_reopen": timed(b2.search, [("p", q, 10) for q in qs]),
        "disk_mib_after_close": round(disk_mib(path), 1),
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(after), flush=True)
    b2.close()
    (d / "growth.json").write_text(
        json.dumps({"rows": rows, "after": after, "python": sys.version.split()[0]})
    )


if __name__ == "__main__":
    main()
