# ruff: noqa: E402
"""Defaults + verify_share 0.05 on both intent sets, both checks, several seeds (see README.md).

Env: SETS, SEEDS, FAS (false-"same" shares), TAG, CFG (extra CacheConfig fields, a dict literal),
KNOBS (module constants of llm_cost_hooks.cache._core to set, e.g. "_LOW_BAR=0.72,_LOW_VERIFY=0.2").
"""

import ast
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import bench.cache_free_text as cf
import llm_cost_hooks.cache._core as core_mod
from bench.bench_cache import _embed_cached, _intent_sets, _TableEmbedder

for kv in filter(None, os.environ.get("KNOBS", "").split(",")):
    k, v = kv.split("=")
    setattr(core_mod, k, type(getattr(core_mod, k))(ast.literal_eval(v)))
from llm_cost_hooks.cache import CacheConfig, CacheCore, EmbeddedBackend

extra = ast.literal_eval(os.environ.get("CFG", "{}"))
sets = os.environ.get("SETS", "banking77,hwu64").split(",")
seeds = [int(s) for s in os.environ.get("SEEDS", "0,1,2").split(",")]
fas = [float(s) for s in os.environ.get("FAS", "0,0.05").split(",")]
tag = os.environ.get("TAG", "")
for name, (tr, trl, te, tel) in _intent_sets(False).items():
    if name not in sets:
        continue
    emb = _TableEmbedder(tr + te, np.concatenate([_embed_cached(tr), _embed_cached(te)]))
    texts, labels = tr + te, trl + tel
    for fa in fas:
        for seed in seeds:
            j = cf._judge({f"answer-{i}": lab for i, lab in enumerate(labels)}, fa, 0.0, seed)
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
                f"{tag} {name:9} fa{fa} s{seed}: test {a / len(te):.4f} p {b / max(a, 1):.4f} "
                f"| stream {x / len(texts):.4f} p {y / max(x, 1):.4f} | ver {st.verifications} "
                f"dis {st.verified_disagree} checks {st.equivalence_checks} "
                f"[{time.process_time() - t0:.0f}s cpu]",
                flush=True,
            )
