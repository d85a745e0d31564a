"""Replays the shadow-learning stream (simulate_shadow) on a longer real outcome set of the
same two models, Mixtral-8x7B (the cheap tier) and GPT-4-1106 (the reference): RouterBench's
ARC-Challenge, Winogrande and MBPP train prompts and RouteLLM's GSM8K prompts, 3,512 in
all, 2,458 streamed and 1,054 held out per seed (see ``_shadow_stream_data``). Every router is calibrated as a user ships it (95 % of GPT-4's
quality at confidence 0.9, judged on as many requests as the held-out rows hold). Prints
every checkpoint as JSON lines:

    LLM_COST_HOOKS_DATA_DIR=/work/shared/data PYTHONPATH=. python bench/results/routing_shadow_stream.py \
        '{"share":0.02,"cheap_share":1.0}' 0,1,2,3,4 [CHECKPOINTS]

The embedding of each text is kept in bench/.cache/routerbench_emb.pkl between runs
(``EMB_CACHE``; the same vectors: the router's embedder embeds one text per call).
"""

import json
import os
import sys
import time

sys.path.insert(0, os.getcwd())
os.environ.setdefault("EMB_CACHE", "bench/.cache/routerbench_emb.pkl")
from bench import bench_routing as b
from bench.results.routing_cal_emb import cached_embedder
from llm_cost_hooks.routing._shadow import simulate_shadow


def main(argv: list[str]) -> None:
    policy: dict = {}
    seeds, marks = "0,1,2,3,4", b.SHADOW_STREAM_CHECKPOINTS
    if argv:
        policy = json.loads(argv[0])
    if len(argv) > 1:
        seeds = argv[1]
    if len(argv) > 2:
        marks = tuple(int(m) for m in argv[2].split(","))
    emb, save = cached_embedder()
    data = b._shadow_stream_data()
    if data is None:
        return
    for seed in map(int, seeds.split(",")):
        t0, c0 = time.time(), time.process_time()
        sim = simulate_shadow(
            data, emb, seed=seed, target=b.shadow_target(data, seed), checkpoints=marks, **policy
        )
        print(
            json.dumps(
                {
                    "seed": seed,
                    "policy": policy,
                    "seconds": round(time.time() - t0),
                    "cpu_seconds": round(time.process_time() - c0),
                    **sim,
                }
            ),
            flush=True,
        )
        save()
    print(f"# {b._load()}", flush=True)


main(sys.argv[1:])
