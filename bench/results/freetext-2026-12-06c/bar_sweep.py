"""Real streams with ``learned_min_similarity`` X: ``python bench/results/freetext-2026-12-06c/bar_sweep.py 0.78``."""

import sys

import numpy as np

sys.path.insert(0, ".")
from bench.bench_cache import _embed_cached, _intent_sets, _TableEmbedder
from bench.cache_free_text import _fmt, _judge, stream
from llm_cost_hooks.cache import CacheConfig, CacheCore, EmbeddedBackend

lms = float(sys.argv[1])
for name, (tr, trl, te, tel) in _intent_sets(False).items():
    emb = _TableEmbedder(tr + te, np.concatenate([_embed_cached(tr), _embed_cached(te)]))
    texts, labels = tr + te, trl + tel
    for fa in (0.0, 0.05):
        intent_of = {f"answer-{i}": lab for i, lab in enumerate(labels)}
        core = CacheCore(
            EmbeddedBackend(max_entries=50_000),
            embedder=emb,
            config=CacheConfig(audit_sample_rate=0.0, learn_answer_keys=True, learned_min_similarity=lms),
            equivalence=_judge(intent_of, fa, 0.0, seed=0),
        )
        r = stream(core, texts, labels, len(tr))
        print(
            f"lms {lms} {name} fa {fa}: test sem {_fmt(*r['test semantic'], len(te))} | stream {_fmt(*r['stream semantic'], len(texts))}",
            flush=True,
        )
