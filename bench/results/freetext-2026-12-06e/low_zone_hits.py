# Served semantic hits by zone (under / over learned_min_similarity) and outcome: SET=banking77 SEED=2 FA=0.05 python bench/results/freetext-2026-12-06e/low_zone_hits.py
import os, sys, ast
from collections import Counter
import numpy as np
sys.path.insert(0, os.getcwd())
import bench.cache_free_text as cf
import llm_cost_hooks.cache._core as core_mod
from bench.bench_cache import _embed_cached, _intent_sets, _TableEmbedder
for kv in filter(None, os.environ.get("KNOBS", "").split(",")):
    k, v = kv.split("="); setattr(core_mod, k, type(getattr(core_mod, k))(ast.literal_eval(v)))
from llm_cost_hooks.cache import CacheConfig, CacheCore, EmbeddedBackend, CacheScope
name=os.environ.get("SET","banking77"); seed=int(os.environ.get("SEED","2")); fa=float(os.environ.get("FA","0.05"))
tr,trl,te,tel=_intent_sets(False)[name]
emb=_TableEmbedder(tr+te,np.concatenate([_embed_cached(tr),_embed_cached(te)]))
texts,labels=tr+te,trl+tel
intent={f"answer-{i}":l for i,l in enumerate(labels)}
c=CacheCore(EmbeddedBackend(max_entries=50000),embedder=emb,config=CacheConfig(audit_sample_rate=0.0,verify_share=0.05),equivalence=cf._judge(intent,fa,0.0,seed),seed=seed)
scope=CacheScope(tenant="t"); out=Counter()
for i,(t,lab) in enumerate(zip(texts,labels)):
    req=c.request(t,llm_string="m",scope=scope)
    hit=c.lookup(req)
    if hit is not None and hit.status=="semantic":
        ok=intent[hit.entry.answer]==lab
        low=hit.similarity<0.78
        out[("test" if i>=len(tr) else "train","low" if low else "high","ok" if ok else "WRONG")]+=1
    if hit is None:
        c.update(req,f"answer-{i}")
for k,v in sorted(out.items()): print(k,v)
