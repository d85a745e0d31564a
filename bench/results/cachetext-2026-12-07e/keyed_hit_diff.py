"""Every hit of the keyed protocol of ``python -m bench cache`` (the free_text_rows keyed
runs), one line per hit, to diff two versions of the package: keyed_hit_diff.py [quick|full]."""

from __future__ import annotations

import sys

import numpy as np

from bench.bench_cache import _default_core, _embed_cached, _intent_sets, _TableEmbedder
from llm_cost_hooks.cache import CacheScope


def main() -> None:
    quick = sys.argv[1:2] != ["full"]
    for name, (tr, trl, te, tel) in _intent_sets(quick).items():
        TR, TE = _embed_cached(tr), _embed_cached(te)
        core = _default_core(_TableEmbedder(tr + te, np.concatenate([TR, TE])))
        scope = CacheScope(tenant="t")
        for t, lab in zip(tr, trl):
            core.update(core.request(t, llm_string="m", scope=scope), f"answer for {lab}")
        served = good = 0
        for t, lab in zip(te, tel):
            h = core.lookup(core.request(t, llm_string="m", scope=scope))
            if h is not None:
                ok = h.entry.answer == f"answer for {lab}"
                served, good = served + 1, good + ok
                print("HIT", name, ok, repr(t), "->", repr(h.entry.query))
        print("SUMMARY", name, len(te), served, good, good / max(served, 1))


if __name__ == "__main__":
    main()
