"""Candidate decision changes on the unseen-intent settings of both sets (offline)."""

import sys

import numpy as np
from offline_unseen import base_accept, evaluate, prepare


def spread(d):
    # each stored class: median over members of their nearest same-class member's similarity
    TR, idx, trl = d["TR"], d["idx"], d["trl"]
    out = {}
    labs = trl[idx]
    for lab in np.unique(labs):
        m = TR[idx[labs == lab]]
        if len(m) < 2:
            out[lab] = 1.0
            continue
        S = m @ m.T
        np.fill_diagonal(S, -1)
        out[lab] = float(np.median(S.max(1)))
    return out


def variants(d):
    ss, same = d["ss"], d["same"]
    acc0, p = base_accept(d)
    allsame = same.all(1)
    v = {"base": acc0}
    for f in (0.7, 0.75, 0.8):
        v[f"floor{f}"] = acc0 & (ss[:, 0] >= f)
        v[f"floor{f}|allagree"] = acc0 & ((ss[:, 0] >= f) | ~allsame)
    # cap: all ten agree counts as if an eleventh neighbour had another answer at s1 - c
    from offline_unseen import feats

    for c in (0.15, 0.25):
        s2 = np.concatenate([ss, ss[:, :1] - c], 1)
        sm2 = np.concatenate([same, np.zeros((len(ss), 1), bool)], 1)
        pc = feats(s2, sm2)
        v[f"cap{c}"] = acc0 & (pc >= 0.95)
    sp = spread(d)
    labs = d["trl"][d["idx"]][d["nidx"][:, 0]]
    bar = np.array([sp[lab] for lab in labs])
    for dl in (0.0, 0.05, 0.1):
        v[f"spread-{dl}"] = acc0 & (ss[:, 0] >= bar - dl)
        v[f"spread-{dl}|allagree"] = acc0 & ((ss[:, 0] >= bar - dl) | ~allsame)
    return v


if __name__ == "__main__":
    for name in sys.argv[1:]:
        data = prepare(name)
        tab = {}
        for d in data:
            for k, acc in variants(d).items():
                tab.setdefault(k, []).append((d["label"], d["seed"], *evaluate(d, acc)))
        print(f"== {name}")
        for k, rows in tab.items():
            worst = min(g / s if s else 1.0 for _, _, s, g, _, _ in rows)
            cells = " ".join(
                f"{lab}/{seed}:{g / s if s else 1:.3f}@{hr:.2f}" for lab, seed, s, g, _, hr in rows
            )
            print(f"{k:22s} worstP={worst:.4f} | {cells}")
        sys.stdout.flush()
