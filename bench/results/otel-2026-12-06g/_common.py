"""Shared set-up of this folder's scripts: the benchmarks' cheap model and OTel pipeline
(``../otel-2026-12-06c/_events.py``), the load average, and interleaved rounds."""

import gc
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "otel-2026-12-06c"))


def load() -> str:
    with open("/proc/loadavg") as f:
        return f.read().strip()


def interleaved(arms, calls, n, rounds):
    """Process CPU per call (µs) of ``calls(name, arm, n)`` per arm, rounds in random order."""
    cpu = {name: [] for name in arms}
    rng = random.Random(1)
    for _ in range(rounds):
        order = list(arms.items())
        rng.shuffle(order)  # no arm always runs next to the same one
        for name, arm in order:
            gc.collect()
            c0 = time.process_time()
            calls(name, arm, n)
            cpu[name].append((time.process_time() - c0) / n * 1e6)
    return cpu


def report(cpu, pairs):
    for name, values in cpu.items():
        print(f"  {name:12s} {statistics.median(values):8.2f}")
    for a, b in pairs:
        paired = statistics.median(x - y for x, y in zip(cpu[a], cpu[b]))
        print(f"  {a} - {b} (median paired): {paired:.2f} us")


def run_ab(arms, calls, pairs, rounds_default):
    """Warm every arm, run interleaved rounds (``N`` calls each, ``ROUNDS`` rounds), print."""
    n, rounds = int(os.environ.get("N", "200")), int(os.environ.get("ROUNDS", str(rounds_default)))
    for name, arm in arms.items():
        calls(name, arm, 200)
    print("load at start:", load())
    cpu = interleaved(arms, calls, n, rounds)
    print("load:", load(), f"N={n} rounds={rounds}")
    report(cpu, pairs)
