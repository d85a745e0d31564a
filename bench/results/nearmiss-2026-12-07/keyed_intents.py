"""Banking77 and HWU64 with keyed answers (answer = intent), the shipped defaults: every test
question against a cache of the train questions, as ``python -m bench cache`` runs it (full
sets). Prints hit rate and precision, and writes the served test questions to --out so two
versions of the contrast checks can be compared query by query.

PYTHONPATH=<tree with llm_cost_hooks>:<worktree> python keyed_intents.py --out served.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bench.bench_cache import _default_core, _embed_cached, _intent_sets, _TableEmbedder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    from llm_cost_hooks.cache import CacheScope

    out = {}
    for name, (tr, trl, te, tel) in _intent_sets(False).items():
        t0 = time.time()
        TR, TE = _embed_cached(tr), _embed_cached(te)
        emb = _TableEmbedder(tr + te, np.concatenate([TR, TE]))
        core = _default_core(emb)
        scope = CacheScope(tenant="t")
        for t, lab in zip(tr, trl):
            core.update(core.request(t, llm_string="m", scope=scope), f"answer for {lab}")
        served = []
        for i, (t, lab) in enumerate(zip(te, tel)):
            h = core.lookup(core.request(t, llm_string="m", scope=scope))
            if h is not None:
                served.append([i, t, h.entry.query, h.entry.answer == f"answer for {lab}"])
        good = sum(s[3] for s in served)
        print(
            f"{name}: hit rate {len(served) / len(te):.4f} ({len(served)} of {len(te)}), "
            f"precision {good / max(1, len(served)):.4f} ({good} correct) [{time.time() - t0:.0f}s]",
            flush=True,
        )
        out[name] = served
    with open(a.out, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
