"""Precision and hit rate of served semantic hits against the number of stored entries.

Through ``CacheCore`` with its default configuration (``bench.bench_cache._default_core``),
as ``python -m bench cache`` does: N training questions stored (a seeded random sample, or
the first N rows as ``--quick`` takes them), every test question looked up once. Keyed
answers (answer = intent) and free-text answers (each entry its own answer).

    LLM_COST_HOOKS_DATA_DIR=/work/shared/data python bench/results/sparse-2026-12-07g/curve.py \
        [--sizes 100,300,1000,3000,all] [--seeds 0,1,2] [--out FILE.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[3]))  # llm_cost_hooks: from PYTHONPATH
from bench.bench_cache import _default_core, _embed_cached, _intent_sets, _TableEmbedder


def run(name, tr, trl, te, tel, idx, protocol, emb):
    from llm_cost_hooks.cache import CacheScope

    core = _default_core(emb)
    scope = CacheScope(tenant="t")
    for i in idx:
        ans = f"answer-{i}" if protocol == "free-text" else f"answer for {trl[i]}"
        core.update(core.request(tr[i], llm_string="m", scope=scope), ans)
    stored = {trl[i] for i in idx}
    sem = good = exact = absent_wrong = 0
    wrong = []
    for t, lab in zip(te, tel):
        h = core.lookup(core.request(t, llm_string="m", scope=scope))
        if h is None:
            continue
        if h.status == "exact":
            exact += 1
            continue
        sem += 1
        ok = (
            trl[int(h.entry.answer.split("-")[1])] == lab
            if protocol == "free-text"
            else h.entry.answer == f"answer for {lab}"
        )
        good += ok
        if not ok:
            absent_wrong += lab not in stored
            wrong.append((t, h.entry.query, round(h.similarity, 4), round(h.score, 4), lab in stored))
    return {
        "set": name,
        "protocol": protocol,
        "stored": len(idx),
        "queries": len(te),
        "semantic_hits": sem,
        "correct": good,
        "hit_rate": sem / len(te),
        "precision": good / sem if sem else None,
        "exact_hits": exact,
        "wrong_with_intent_absent": absent_wrong,
        "intents_stored": len(stored),
        "wrong": wrong[:40],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,300,1000,3000,all")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--protocols", default="keyed,free-text")
    ap.add_argument("--sets", default="banking77,hwu64")
    ap.add_argument("--prefix", action="store_true", help="also the --quick sample (first 3000 / 600 rows)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    import llm_cost_hooks

    print("llm_cost_hooks from", llm_cost_hooks.__file__, "load", os.getloadavg(), flush=True)
    out = open(a.out, "w") if a.out else None  # noqa: SIM115
    sets = _intent_sets(False)
    for name in a.sets.split(","):
        tr, trl, te, tel = sets[name]
        emb = _TableEmbedder(tr + te, np.concatenate([_embed_cached(tr), _embed_cached(te)]))
        jobs = []
        for size in a.sizes.split(","):
            if size == "all":
                jobs.append(("all", "-", list(range(len(tr))), te, tel))
                continue
            for seed in a.seeds.split(","):
                rng = np.random.default_rng(int(seed))
                idx = sorted(rng.choice(len(tr), min(int(size), len(tr)), replace=False).tolist())
                jobs.append((size, seed, idx, te, tel))
        if a.prefix:
            jobs.append(("quick", "first rows", list(range(3000)), te[:600], tel[:600]))
        for protocol in a.protocols.split(","):
            for size, seed, idx, qs, ql in jobs:
                t0 = time.time()
                r = run(name, tr, trl, qs, ql, idx, protocol, emb)
                r.update(size=size, seed=seed, seconds=round(time.time() - t0, 1))
                p = "  nan " if r["precision"] is None else f"{r['precision']:.4f}"
                print(
                    f"{name:9s} {protocol:9s} N={size:>5s} seed={seed:10s} hit {r['hit_rate']:.4f} "
                    f"prec {p} ({r['correct']}/{r['semantic_hits']}; wrong with intent absent "
                    f"{r['wrong_with_intent_absent']}; intents stored {r['intents_stored']}) exact {r['exact_hits']}",
                    flush=True,
                )
                if out:
                    out.write(json.dumps(r) + "\n")
                    out.flush()
    print("load", os.getloadavg())


if __name__ == "__main__":
    main()
