"""Shared helpers for benchmarks: timing and the results table.

Every benchmark module ``bench/bench_*.py`` defines ``run(quick: bool) -> list[Row]``.
A row compares a measurement with an anchor measured in the same run, so the ratio
means something on any machine.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Row:
    """One line of the table. ``target`` is a human-readable goal, ``ok`` whether met."""

    bench: str
    metric: str
    value: float
    unit: str
    anchor_name: str = ""
    anchor_value: float | None = None
    target: str = ""
    ok: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.anchor_value in (None, 0):
            return None
        return self.value / self.anchor_value


def time_per_call(fn: Callable[[], object], *, number: int, repeat: int = 5, warmup: int = 50) -> float:
    """Median seconds per call over ``repeat`` rounds of ``number`` calls."""
    for _ in range(warmup):
        fn()
    rounds = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            rounds.append((time.perf_counter() - t0) / number)
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(rounds)


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def format_table(rows: list[Row]) -> str:
    head = ["bench", "metric", "value", "unit", "anchor", "anchor value", "ratio", "target", "met"]
    body = []
    for r in rows:
        body.append(
            [
                r.bench,
                r.metric,
                f"{r.value:,.3f}" if abs(r.value) < 1000 else f"{r.value:,.0f}",
                r.unit,
                r.anchor_name,
                ""
                if r.anchor_value is None
                else (f"{r.anchor_value:,.3f}" if abs(r.anchor_value) < 1000 else f"{r.anchor_value:,.0f}"),
                "" if r.ratio is None else f"{r.ratio:.2f}x",
                r.target,
                "" if r.ok is None else ("yes" if r.ok else "NO"),
            ]
        )
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    notes = [f"[{r.bench}/{r.metric}] {r.note}" for r in rows if r.note]
    return "\n".join(lines + ([""] + notes if notes else []))
