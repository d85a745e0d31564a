# ruff: noqa: E402, E741
"""Defaults + verify_share 0.05 on both intent sets, both checks, seeds 0 and 1 (see README.md)."""

import os
import time

import numpy as np

import bench.cache_free_text as cf
import llm_cost_hooks.cache._core as core_mod
from bench.bench_cache import _embed_cached, _intent_sets, _TableEmbedder

for k in ("_SKIP_VETOED", "_LEARN_CANDIDATES", "_MERGE_VOTES"):
    if k in os.environ:
        setattr(core_mod, k, int(os.environ[k]))
from llm_cost_hooks.cache import CacheConfig, CacheCore, EmbeddedBackend

extra = eval(os.environ.get("CFG", "{}"))
sets = os.environ.get("SETS", "banking77,hwu64").split(",")
seeds = [int(s) for s in os.environ.get("SEEDS", "0,1").split(",")]
fas = [float(s) for s in os.environ.get("FAS", "0,0.05").split(",")]
tag = os.environ.get("TAG", "")
for name, (tr, trl, te, tel) in _intent_sets(False).items():
    if name not in sets:
        continue
    emb = _TableEmbedder(tr + te, np.concatenate([_embed_cached(tr), _embed_cached(te)]))
    texts, labels = tr + te, trl + tel
    for fa in fas:
        for seed in seeds:
            j = cf._judge({f"answer-{i}": l for i, l in enumerate(labels)}, fa, 0.0, seed)
            c = CacheCore(
                EmbeddedBackend(max_entries=50000),
                embedder=emb,
                config=CacheConfig(audit_sample_rate=0.0, verify_share=0.05, **extra),
                equivalence=j,
                seed=seed,
            )
            t0 = time.process_time()
            r = cf.stream(c, texts, labels, len(tr))
            st = c.stats
            a, b = r["test semantic"]
            x, y = r["stream semantic"]
            print(
                f"{tag} {name:9} fa{fa} s{seed}: test {a / len(te):.4f} p {b / max(a, 1):.4f} | stream {x / len(texts):.4f} p {y / max(x, 1):.4f} | ver {st.verifications} dis {st.verified_disagree} checks {st.equivalence_checks} [{time.process_time() - t0:.0f}s cpu]",
                flush=True,
            )
