"""The pair verifier as a second, independent veto on the neighbourhood path's hits."""

import sys

import numpy as np
from offline_unseen import base_accept, evaluate, prepare

from llm_cost_hooks.cache._verifier import PairVerifier

V = PairVerifier.default()
_p = {}


def pv(q, t, c):
    k = (q, t)
    if k not in _p:
        _p[k] = V.probability(q, t, float(c))
    return _p[k]


for name in sys.argv[1:]:
    print(f"== {name}")
    tab = {}
    for d in prepare(name):
        ss = d["ss"]
        acc0, _ = base_accept(d)
        p = np.zeros(len(ss))
        for i in np.flatnonzero(acc0):
            p[i] = pv(d["q"][i], d["top"][i], ss[i, 0])
        v = {"base": acc0}
        for t in (0.1, 0.2, 0.3, 0.5, 0.7):
            v[f"pair>={t}"] = acc0 & (p >= t)
        for t in (0.2, 0.3, 0.5):
            v[f"pair>={t}+floor0.8"] = acc0 & (p >= t) & (ss[:, 0] >= 0.8)
        for k, acc in v.items():
            tab.setdefault(k, []).append((d["label"], d["seed"], *evaluate(d, acc)))
    for k, rows in tab.items():
        worst = min(g / s if s else 1.0 for _, _, s, g, _, _ in rows)
        print(
            f"{k:20s} worstP={worst:.4f} | "
            + " ".join(f"{lab}/{seed}:{g / s if s else 1:.3f}@{hr:.2f}" for lab, seed, s, g, _, hr in rows)
        )
    sys.stdout.flush()
