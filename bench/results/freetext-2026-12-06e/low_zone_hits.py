"""Served semantic hits by zone (under / over ``learned_min_similarity``) and outcome.

``SET=banking77 SEED=2 FA=0.05 python bench/results/freetext-2026-12-06e/low_zone_hits.py``
(defaults + verify_share 0.05, the check wrong "same" on FA of different pairs).
"""

import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import bench.cache_free_text as cf
from bench.bench_cache import _embed_cached, _intent_sets, _TableEmbedder
from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, EmbeddedBackend

name = os.environ.get("SET", "banking77")
seed = int(os.environ.get("SEED", "2"))
fa = float(os.environ.get("FA", "0.05"))
tr, trl, te, tel = _intent_sets(False)[name]
emb = _TableEmbedder(tr + te, np.concatenate([_embed_cached(tr), _embed_cached(te)]))
texts, labels = tr + te, trl + tel
intent = {f"answer-{i}": lab for i, lab in enumerate(labels)}
core = CacheCore(
    EmbeddedBackend(max_entries=50000),
    embedder=emb,
    config=CacheConfig(audit_sample_rate=0.0, verify_share=0.05),
    equivalence=cf._judge(intent, fa, 0.0, seed),
    seed=seed,
)
bar = core.config.learned_min_similarity
scope, out = CacheScope(tenant="t"), Counter()
for i, (t, lab) in enumerate(zip(texts, labels)):
    req = core.request(t, llm_string="m", scope=scope)
    hit = core.lookup(req)
    if hit is None:
        core.update(req, f"answer-{i}")
    elif hit.status == "semantic":
        part = "test" if i >= len(tr) else "train"
        zone = "under the bar" if hit.similarity < bar else "over the bar"
        out[(part, zone, "right" if intent[hit.entry.answer] == lab else "WRONG")] += 1
for k, v in sorted(out.items()):
    print(*k, v)
