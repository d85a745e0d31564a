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
import sys
import time

sys.path.insert(0, os.getcwd())
from bench import bench_routing as b
from bench.results.routing_cal_emb import cached_embedder
from llm_cost_hooks.routing._shadow import simulate_shadow


def main(argv: list[str]) -> None:
    policy, seeds, marks = b.SHADOW_POLICY, "0,1,2", b.SHADOW_CHECKPOINTS
    if argv:
        policy = json.loads(argv[0])
    if len(argv) > 1:
        seeds = argv[1]
    if len(argv) > 2:
        marks = tuple(int(m) for m in argv[2].split(","))
    emb, save = cached_embedder()
    data = b._gsm8k_data(False)
    for seed in map(int, seeds.split(",")):
        t0 = time.time()
        sim = simulate_shadow(
            data, emb, seed=seed, target=b.shadow_target(data, seed), checkpoints=marks, **policy
        )
        print(
            json.dumps({"seed": seed, "policy": policy, "seconds": round(time.time() - t0), **sim}),
            flush=True,
        )
        save()
    print(f"# {b._load()}", flush=True)


main(sys.argv[1:])
