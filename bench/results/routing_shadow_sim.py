"""Replays the shadow-learning stream (simulate_shadow) on RouteLLM GSM8K for one policy and
some seeds, printing every checkpoint; used for routing_shadow_policy.md:

    LLM_COST_HOOKS_DATA_DIR=... PYTHONPATH=. python bench/results/routing_shadow_sim.py POLICY_JSON SEEDS

The embedding of each text is kept in /tmp/rf/embcache.pkl between runs (same vectors).
"""

import json
import os
import pickle
import sys
import time
from pathlib import Path

sys.path.insert(0, os.getcwd())
from bench import bench_routing as b
from llm_cost_hooks.embeddings import default_embedder
from llm_cost_hooks.routing import QualityTarget
from llm_cost_hooks.routing._shadow import simulate_shadow


class PCache(b._CachedEmbedder):
    pass


emb = PCache(default_embedder(int8_matmul=True))
cp = Path(os.environ.get("EMB_CACHE", "/tmp/rf/embcache.pkl"))
if cp.exists():
    emb._cache = pickle.loads(cp.read_bytes())
data = b._gsm8k_data(False)
policy = json.loads(sys.argv[1]) if len(sys.argv) > 1 else b.SHADOW_POLICY
seeds = [int(s) for s in (sys.argv[2].split(",") if len(sys.argv) > 2 else ["0", "1", "2"])]
for seed in seeds:
    t0 = time.time()
    sim = simulate_shadow(
        data,
        emb,
        seed=seed,
        target=QualityTarget(share=0.95, of=b.GPT4),
        checkpoints=(100, 200, 300, 400, 600, 800),
        **policy,
    )
    f = sim["full"]
    print(
        f"seed {seed} full: q {f['quality_share']:.3f} cost {f['cost_share']:.3f} curve {f['curve_cost_share']:.3f} hull {f['hull_cost_share']:.3f} ({time.time() - t0:.0f}s)"
    )
    for p in sim["points"]:
        print(
            f"  {p['requests']:4d} lab {p['labels']:4d} q {p['quality_share']:.3f} cost {p['router_cost_share']:.3f} curve {p['curve_cost_share']:.3f} expl {p['exploration_share']:.3f} tot {p['total_share']:.3f} ctot {p['curve_total_share']:.3f} hull {p['hull_cost_share']:.3f} htot {p['hull_total_share']:.3f} served {p['served_share']:.3f}"
        )
    sys.stdout.flush()
cp.write_bytes(pickle.dumps(emb._cache))
