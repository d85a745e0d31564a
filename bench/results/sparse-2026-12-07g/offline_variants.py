"""Offline sweep of the neighbourhood path (no contrast checks, no exact tier: an upper
bound on hits) over the same stores as curve.py, keyed answers, seeds 0-2 pooled.
Variants: the gap below the nearest entry at which other answers count (D), a cap on the
margin when all ten neighbours agree (C), a floor on the nearest similarity (s1min).

    LLM_COST_HOOKS_DATA_DIR=/work/shared/data python offline_variants.py   # offline_variants.txt
"""

import os
import pickle
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from offline_common import _TAU, W, build

cache = os.path.join(os.environ.get("TMPDIR", "/tmp"), "sparse_neigh.pkl")
if os.path.exists(cache):
    with open(cache, "rb") as f:
        data = pickle.load(f)
else:
    data = build()
    with open(cache, "wb") as f:
        pickle.dump(data, f)


def score(s, same, D=None, C=None):
    s1 = s[:, :1]
    sd = s if D is None else np.where(~same, np.maximum(s, s1 - D), s)
    anyd = (~same).any(1)
    diffmax = np.where(~same, sd, -np.inf).max(1)
    margin = s1[:, 0] - np.where(np.isfinite(diffmax), diffmax, 0)
    if C is not None:
        margin = np.where(anyd, margin, np.minimum(margin, C))
    w = np.exp((sd - s1) / _TAU)
    a5 = (w[:, :5] * same[:, :5]).sum(1) / w[:, :5].sum(1)
    a10 = (w * same).sum(1) / w.sum(1)
    F = np.stack([s[:, 0], s[:, 1], margin, a5, a10, s1[:, 0] - sd[:, 4]], 1)
    z = W[-1] + F @ np.asarray(W[:-1])
    return 1 / (1 + np.exp(-np.clip(z, -50, 50)))


def summary(label, D=None, C=None, s1min=0.5):
    rows = {}
    for name, size, seed, ss, same, correct in data:
        p = score(ss, same, D, C)
        ag = (ss[:, 1:] >= 0.5) & same[:, 1:]
        d = (ss[:, 0] >= s1min) & (ag.sum(1) >= 2) & (p >= 0.95)
        rows.setdefault((name, size), []).append((d.sum(), (d & correct).sum(), len(d)))
    s = []
    for (name, size), v in rows.items():
        h = sum(x[0] for x in v)
        g = sum(x[1] for x in v)
        n = sum(x[2] for x in v)
        s.append(f"{name[:3]}{size}:{h / n:.3f}/{(g / h if h else float('nan')):.4f}")
    print(f"{label:22s}", " ".join(s), flush=True)


print("cells: <set><stored>:<hit rate>/<precision>; 'quick' = first 3,000 train rows, first 600 test rows")
summary("before")
for D in (0.05, 0.1, 0.15, 0.2, 0.25):
    summary(f"D={D}", D=D)
for C in (0.15, 0.3, 0.45):
    summary(f"D=0.15 C={C}", D=0.15, C=C)
for m in (0.7, 0.78, 0.8):
    summary(f"D=0.15 s1min={m}", D=0.15, s1min=m)
print("load", os.getloadavg())
