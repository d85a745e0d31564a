# ruff: noqa: E402, E741
"""Contrast flags on the candidates of test questions that missed (see README.md)."""

import sys
from collections import Counter

import numpy as np

sys.argv = [sys.argv[0]] + sys.argv[1:]
import bench.cache_free_text as cf
from bench.bench_cache import _embed_cached, _intent_sets, _TableEmbedder
from llm_cost_hooks.cache import CacheScope
from llm_cost_hooks.cache._contrast import contrast_flags

name = sys.argv[1]
tr, trl, te, tel = _intent_sets(False)[name]
emb = _TableEmbedder(tr + te, np.concatenate([_embed_cached(tr), _embed_cached(te)]))
texts, labels = tr + te, trl + tel
core = cf._core(emb, True, cf._judge({f"answer-{i}": l for i, l in enumerate(labels)}, 0, 0, 0))
scope = CacheScope(tenant="t")
ai = {}
kinds = Counter()
ex = []
allv = Counter()
for i, (t, lab) in enumerate(zip(texts, labels)):
    req = core.request(t, llm_string="m", scope=scope)
    hit = core.lookup(req)
    if hit is not None:
        continue
    if i >= len(tr):
        pol = core.config.default
        neigh = core.backend.search(req.partition, core._vector(req), pol.k)
        if neigh and neigh[0].similarity >= 0.78:
            f0 = contrast_flags(t, neigh[0].payload.query)
            c = neigh[1] if f0 and len(neigh) > 1 else neigh[0]
            f = contrast_flags(t, c.payload.query)
            if f:
                same = ai[c.payload.answer] == lab
                for k in f:
                    allv[(k, same)] += 1
                if same:
                    ex.append((f, t, c.payload.query, round(c.similarity, 3)))
    ai[f"answer-{i}"] = lab
    core.update(req, f"answer-{i}")
print(allv)
for e in ex:
    print(e)
