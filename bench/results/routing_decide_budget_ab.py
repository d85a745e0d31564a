"""Decision time of one saved router with its selector budget at 64 and at 32 words and
marks, interleaved per prompt, 2 rounds (routing_decision_budget32.md):

    python bench/results/routing_decide_ab.py setup DIR
    PYTHONPATH=. python bench/results/routing_decide_budget_ab.py DIR THREADS
"""

import os
import sys
import time
from pathlib import Path

import numpy as np

from llm_cost_hooks.embeddings import OnnxEmbedder
from llm_cost_hooks.routing import RouteRequest, RouterModel, TrainedRouter

out = Path(sys.argv[1])
th = int(sys.argv[2])
prompts = (out / "prompts.txt").read_text().split("\n\x00\n")
emb = OnnxEmbedder(int8_matmul=True, threads=th)
router = TrainedRouter(RouterModel.load(out / "router", embedder=emb), embedder=emb)
tiers = router.model.tiers
sel = router.model.selector
router.route(RouteRequest(prompts[0]), tiers)
res = {64: ([], []), 32: ([], [])}
for r in range(2):
    for p in prompts:
        for b in (64, 32):
            sel.max_tokens = b
            t0, c0 = time.perf_counter(), time.process_time()
            router.route(RouteRequest(p), tiers)
            res[b][0].append(time.perf_counter() - t0)
            res[b][1].append(time.process_time() - c0)
for b, (w, c) in res.items():
    print(
        f"threads {th} budget {b}: decision wall p50 {np.median(w) * 1e3:.2f} ms, cpu p50 {np.median(c) * 1e3:.2f} ms (n={len(w)})"
    )
print("load", os.getloadavg())
