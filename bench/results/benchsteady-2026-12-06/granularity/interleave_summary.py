"""Scratch check: ratio of totals and intervals over groups of cycles of interleave_exp.py outputs."""

import json
import random
import sys


def boot(fn, n, reps=400, seed=1):
    rng = random.Random(seed)
    rs = []
    for _ in range(reps):
        idx = [rng.randrange(n) for _ in range(n)]
        rs.append(fn(idx))
    rs.sort()
    return rs[int(reps * 0.05)], rs[int(reps * 0.95) - 1]


for f in sys.argv[1:]:
    with open(f) as fh:
        d = json.load(fh)
    b, u = d["bare"]["t"], d["usage"]["t"]
    o = [x + y for x, y in zip(d["ours"]["t"], d["writer"])]
    n = len(b)
    # group into G groups
    for G in (n, 60, 20):
        g = n // G
        bb = [sum(b[i * g : (i + 1) * g]) for i in range(G)]
        uu = [sum(u[i * g : (i + 1) * g]) for i in range(G)]
        oo = [sum(o[i * g : (i + 1) * g]) for i in range(G)]

        def r_sum(idx):
            return sum(oo[i] - bb[i] for i in idx) / sum(uu[i] - bb[i] for i in idx)

        def r_norm(idx):
            return sum((oo[i] - bb[i]) / (bb[i] + uu[i] + oo[i]) for i in idx) / sum(
                (uu[i] - bb[i]) / (bb[i] + uu[i] + oo[i]) for i in idx
            )

        a = boot(r_sum, G)
        c = boot(r_norm, G)
        print(
            f"{f.split('/')[-1]:22s} G={G:5d} sum {r_sum(range(G)):.2f} [{a[0]:.2f},{a[1]:.2f}]  norm {r_norm(range(G)):.2f} [{c[0]:.2f},{c[1]:.2f}]"
        )
