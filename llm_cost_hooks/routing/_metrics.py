"""Cost-quality curve metrics: RouterBench's AIQ and RouteLLM's APGR / CPT.

* **AIQ** (RouterBench): the area under the router's *non-decreasing convex hull* of
  (cost, quality) points, over a fixed cost range ``[c_min, c_max]`` (by default the
  cheapest and dearest single model), divided by the range's width. Left of the
  router's cheapest point the hull counts as 0; right of its best point it stays flat.
* **PGR** (RouteLLM): performance gap recovered, ``(q - q_weak) / (q_strong - q_weak)``.
  The x axis is the share of calls to the strong model for two tiers (RouteLLM's
  definition), or for any number of tiers the cost normalised to
  ``(c - c_weak) / (c_strong - c_weak)``. The curve is the running best quality at or
  below each x, interpolated linearly.
* **APGR**: PGR averaged over x in [0, 1]. **CPT(p)**: the smallest x whose PGR >= p.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["aiq", "apgr", "cpt", "nondecreasing_hull", "pgr_curve"]


def nondecreasing_hull(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The upper convex hull of ``(cost, quality)`` points, cut at the best quality.

    >>> nondecreasing_hull([(0, 0.5), (1, 0.6), (2, 0.9), (3, 0.8)])
    [(0.0, 0.5), (2.0, 0.9)]
    """
    pts = sorted({(float(c), float(q)) for c, q in points}, key=lambda p: (p[0], -p[1]))
    # Keep the best quality per cost.
    best: list[tuple[float, float]] = []
    for c, q in pts:
        if best and best[-1][0] == c:
            continue
        best.append((c, q))
    hull: list[tuple[float, float]] = []
    for p in best:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # Remove the middle point if it lies on or below the segment hull[-2] -> p.
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    top = max(range(len(hull)), key=lambda i: (hull[i][1], -hull[i][0])) if hull else -1
    return hull[: top + 1]


def _hull_value(hull: list[tuple[float, float]], x: np.ndarray) -> np.ndarray:
    xs = np.array([p[0] for p in hull])
    ys = np.array([p[1] for p in hull])
    out = np.interp(x, xs, ys, left=0.0, right=ys[-1])
    return np.where(x < xs[0], 0.0, out)


def aiq(points: Sequence[tuple[float, float]], c_min: float, c_max: float, *, grid: int = 4001) -> float:
    """Average quality under the non-decreasing convex hull over ``[c_min, c_max]``."""
    if not points or c_max <= c_min:
        return float("nan")
    hull = nondecreasing_hull(points)
    x = np.linspace(c_min, c_max, grid)
    return float(np.trapezoid(_hull_value(hull, x), x) / (c_max - c_min))


def pgr_curve(
    xq: Sequence[tuple[float, float]], q_weak: float, q_strong: float, *, grid: int = 1001
) -> tuple[np.ndarray, np.ndarray]:
    """(x grid on [0, 1], PGR) from ``(x, quality)`` points (x already normalised)."""
    gap = q_strong - q_weak
    pts = sorted((float(min(max(x, 0.0), 1.0)), float(q)) for x, q in xq)
    xs: list[float] = []
    ys: list[float] = []
    run = -np.inf
    for x, q in pts:
        run = max(run, q)
        if xs and xs[-1] == x:
            ys[-1] = run
        else:
            xs.append(x)
            ys.append(run)
    grid_x = np.linspace(0.0, 1.0, grid)
    curve = np.interp(grid_x, xs, ys)
    pgr = np.asarray((curve - q_weak) / gap) if gap != 0 else np.zeros_like(curve)
    return grid_x, pgr


def apgr(xq: Sequence[tuple[float, float]], q_weak: float, q_strong: float) -> float:
    """Average performance gap recovered over x in [0, 1]."""
    x, p = pgr_curve(xq, q_weak, q_strong)
    return float(np.trapezoid(p, x))


def cpt(xq: Sequence[tuple[float, float]], q_weak: float, q_strong: float, target: float) -> float:
    """Smallest normalised cost / strong-call share whose PGR reaches ``target`` (nan if never)."""
    x, p = pgr_curve(xq, q_weak, q_strong)
    hit = np.nonzero(p >= target - 1e-12)[0]
    return float(x[hit[0]]) if len(hit) else float("nan")
