"""The wrong nearest questions among the test queries nearest to a stored question.

``python bench/results/pairverif-2026-12-06/top_wrong_hits.py [N]``: for Banking77 and HWU64,
the N test queries (default 400) with the highest top-1 cosine against train, how many of
their nearest train questions carry another intent, and those pairs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bench.bench_cache import _embed_cached, _intent_sets


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    for name, (tr, trl, te, tel) in _intent_sets(quick=False).items():
        s = _embed_cached(te) @ _embed_cached(tr).T
        top, cos = s.argmax(1), s.max(1)
        order = np.argsort(-cos, kind="stable")[:n]
        wrong = [i for i in order if trl[top[i]] != tel[i]]
        print(
            f"{name}: {len(wrong)} of the {n} nearest (cosine >= {cos[order[-1]]:.3f}) carry another intent"
        )
        for i in wrong:
            print(f"  {cos[i]:.3f} {te[i]!r} [{tel[i]}] <- {tr[top[i]]!r} [{trl[top[i]]}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
