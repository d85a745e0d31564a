"""Replays the shadow-learning stream (simulate_shadow) on RouteLLM GSM8K at the confidence a
user ships (0.9, judged on as many requests as the test rows hold), printing every checkpoint
as JSON lines; used for routing_cal.md:

    LLM_COST_HOOKS_DATA_DIR=/work/shared/data PYTHONPATH=. python bench/results/routing_cal_shadow.py \
        '{"share":0.02,"cheap_share":1.0}' 0,1,2 [CHECKPOINTS]

The embedding of each text is kept in bench/.cache/routecal_emb.pkl between runs (the same
vectors: the router's embedder embeds one text per call).
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
from llm_cost_hooks.routing._shadow import simulate_shadow

emb = b._CachedEmbedder(default_embedder(int8_matmul=True))
cp = Path(os.environ.get("EMB_CACHE", "bench/.cache/routecal_emb.pkl"))
if cp.exists():
    emb._cache = pickle.loads(cp.read_bytes())
data = b._gsm8k_data(False)
policy = json.loads(sys.argv[1]) if len(sys.argv) > 1 else b.SHADOW_POLICY
seeds = [int(s) for s in (sys.argv[2].split(",") if len(sys.argv) > 2 else ["0", "1", "2"])]
marks = tuple(int(s) for s in sys.argv[3].split(",")) if len(sys.argv) > 3 else b.SHADOW_CHECKPOINTS
for seed in seeds:
    t0 = time.time()
    sim = simulate_shadow(
        data,
        emb,
        seed=seed,
        target=b.shadow_target(data, seed),
        checkpoints=marks,
        **policy,
    )
    print(json.dumps({"seed": seed, "policy": policy, "seconds": round(time.time() - t0), **sim}), flush=True)
    cp.parent.mkdir(parents=True, exist_ok=True)
    cp.write_bytes(pickle.dumps(emb._cache))
print(f"# {b._load()}", flush=True)
