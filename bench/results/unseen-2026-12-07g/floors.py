"""The floor curve: a minimum similarity of the nearest entry for the neighbourhood path.
Per floor: precision per setting kind (seeds pooled), the share of unseen-intent questions
served, and the hit rate on questions whose intent is stored."""

import sys
from collections import defaultdict

import numpy as np
from offline_unseen import base_accept, evaluate, prepare

for name in sys.argv[1:]:
    data = prepare(name)
    print(f"== {name}")
    for f in (0.5, 0.7, 0.75, 0.8, 0.85, 0.9):
        pooled = defaultdict(lambda: np.zeros(5))
        for d in data:
            acc0, _ = base_accept(d)
            s, g, uw, hr = evaluate(d, acc0 & (d["ss"][:, 0] >= f))
            pooled[d["label"]] += [s, g, uw, (~d["known"]).sum(), hr * d["known"].sum()]
            pooled[d["label"] + "k"] += [0, 0, 0, 0, d["known"].sum()]
        cells = []
        for lab in ("30%all", "60%all", "100%all", "30%x10", "100%x10", "quick"):
            s, g, uw, nu, hk = pooled[lab]
            nk = pooled[lab + "k"][4]
            cells.append(
                f"{lab}: P {g / s if s else 1:.4f} ({int(g)}/{int(s)}) unseen served {uw / nu if nu else 0:.3f} hr {hk / nk:.3f}"
            )
        print(f"floor {f}: " + " | ".join(cells))
    sys.stdout.flush()
