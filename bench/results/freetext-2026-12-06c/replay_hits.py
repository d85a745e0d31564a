"""Every served semantic hit of a learned-keys stream with its class's check record (hits_<judge>.pkl).

``python bench/results/freetext-2026-12-06c/replay_hits.py all 0.0`` from the repository root; the README
numbers were taken on main (657dc00), before the learned-key similarity bar.
"""

import pickle
import sys
from collections import Counter, defaultdict

import numpy as np

sys.path.insert(0, ".")
from bench.bench_cache import _embed_cached, _intent_sets, _TableEmbedder
from bench.cache_free_text import _core, _judge
from llm_cost_hooks.cache import CacheScope

fa = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
out = {}
for name, (tr, trl, te, tel) in _intent_sets(False).items():
    if sys.argv[1] not in ("all", name):
        continue
    emb = _TableEmbedder(tr + te, np.concatenate([_embed_cached(tr), _embed_cached(te)]))
    texts, labels = tr + te, trl + tel
    intent_of = {f"answer-{i}": lab for i, lab in enumerate(labels)}
    core = _core(emb, True, _judge(intent_of, fa, 0.0, 0))
    checks = defaultdict(lambda: [0, 0])
    cur = []
    orig = core._agrees

    def ag(new, entry, orig=orig):
        r = orig(new, entry)
        c = core._key_class(entry.answer_key)
        checks[c][0 if r else 1] += 1
        cur.append((entry.answer_key, r))
        return r

    core._agrees = ag
    refutes = {}  # entry id -> list of raw keys checked different
    seen = Counter()
    scope = CacheScope(tenant="t")
    rows = []
    for i, (t, lab) in enumerate(zip(texts, labels)):
        req = core.request(t, llm_string="m", scope=scope)
        hit = core.lookup(req)
        if hit is not None:
            if hit.status == "semantic":
                served = intent_of[hit.entry.answer]
                cls = core._key_class(hit.entry.answer_key)
                neigh = core.backend.search(req.partition, core._vector(req), 10)
                ref_sims = [
                    n.similarity
                    for n in neigh
                    if any(core._key_class(k) == cls for k in refutes.get(n.entry_id, ()))
                ]
                ch = checks[cls]
                rows.append(
                    dict(
                        i=i,
                        test=i >= len(tr),
                        ok=served == lab,
                        seen=seen[lab],
                        agree=ch[0],
                        dis=ch[1],
                        sim=hit.similarity,
                        score=hit.score,
                        floor=core._class_floor.get(cls, -1),
                        ref_max=max(ref_sims, default=-1),
                        nref=len(ref_sims),
                        top=neigh[0].similarity,
                    )
                )
            seen[lab] += 1
            continue
        seen[lab] += 1
        cur.clear()
        e = core.update(req, f"answer-{i}")
        bad = [k for k, r in cur if not r]
        if bad:
            refutes[e.id] = bad
    out[name] = (rows, len(tr), len(te), len(texts))
    print(name, len(rows), sum(not r["ok"] for r in rows))
with open(f"hits_{fa}.pkl", "wb") as fh:
    pickle.dump(out, fh)
