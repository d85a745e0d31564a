"""Stricter combinations, and the s1 floor each setting would need for precision 0.99."""

import sys

import numpy as np
from offline_unseen import base_accept, evaluate, feats, prepare
from variants import spread

for name in sys.argv[1:]:
    print(f"== {name}")
    tab = {}
    for d in prepare(name):
        ss, same = d["ss"], d["same"]
        acc0, _ = base_accept(d)
        s2 = np.concatenate([ss, ss[:, :1] - 0.15], 1)
        sm2 = np.concatenate([same, np.zeros((len(ss), 1), bool)], 1)
        cap = acc0 & (feats(s2, sm2) >= 0.95)
        sp = spread(d)
        bar = np.array([sp[lab] for lab in d["trl"][d["idx"]][d["nidx"][:, 0]]])
        v = {
            "floor0.85": acc0 & (ss[:, 0] >= 0.85),
            "floor0.9": acc0 & (ss[:, 0] >= 0.9),
            "cap+floor0.8": cap & (ss[:, 0] >= 0.8),
            "cap+spread0": cap & (ss[:, 0] >= bar),
            "spread0+floor0.8": acc0 & (ss[:, 0] >= np.maximum(bar, 0.8)),
        }
        for k, acc in v.items():
            tab.setdefault(k, []).append((d["label"], d["seed"], *evaluate(d, acc)))
        # the s1 floor reaching 0.99 on this setting (base decision, contrast applied)
        a = acc0.copy()
        for f in np.arange(0.5, 1.0, 0.01):
            s, g, _, hr = evaluate(d, a & (ss[:, 0] >= f))
            if not s or g / s >= 0.99:
                break
        tab.setdefault("needed floor", []).append((d["label"], d["seed"], f, hr))
    for k, rows in tab.items():
        if k == "needed floor":
            print(k, " ".join(f"{lab}/{seed}:{f:.2f}@{hr:.2f}" for lab, seed, f, hr in rows))
            continue
        worst = min(g / s if s else 1.0 for _, _, s, g, _, _ in rows)
        print(
            f"{k:18s} worstP={worst:.4f} | "
            + " ".join(f"{lab}/{seed}:{g / s if s else 1:.3f}@{hr:.2f}" for lab, seed, s, g, _, hr in rows)
        )
