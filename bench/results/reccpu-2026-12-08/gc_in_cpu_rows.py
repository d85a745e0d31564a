"""Garbage collections during `python -m bench foundation`'s CPU rows (bench_foundation._cpu_rows):
how many of each generation, and the thread CPU they took, over the whole run (all arms).

    PYTHONPATH=<tree> python bench/results/reccpu-2026-12-08/gc_in_cpu_rows.py
"""

import gc
import time

from bench.bench_foundation import _cpu_rows

counts = [0, 0, 0]
cpu = [0, 0, 0]
started = [0]


def on_gc(phase: str, info: dict) -> None:
    if phase == "start":
        started[0] = time.thread_time_ns()
    else:
        counts[info["generation"]] += 1
        cpu[info["generation"]] += time.thread_time_ns() - started[0]


gc.callbacks.append(on_gc)
rows = _cpu_rows(False)
gc.callbacks.remove(on_gc)
for r in rows:
    if "process CPU" in r.metric and "overhead" in r.metric:
        ratio = f"  {r.ratio:.2f}x" if r.ratio is not None else ""
        print(f"{r.metric}: {r.value:.1f} {r.unit}{ratio}")
print(
    "collections gen0/1/2:", "/".join(map(str, counts)), " CPU ms:", "/".join(f"{c / 1e6:.1f}" for c in cpu)
)
