"""A/B helper for routing_decision_shared_prefix.md: the saved router's decision time on
4-8k-token prompts behind a shared prefix, one process per run.

    python bench/results/routing_decide_ab.py setup DIR   # once: train, save router + prompts
    CODE=TREE PYTHONPATH=TREE python bench/results/routing_decide_ab.py run DIR
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np


def setup(out: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench import bench_routing as b
    from llm_cost_hooks.embeddings import default_embedder
    from llm_cost_hooks.routing import load_routellm, train_router
    from llm_cost_hooks.tokens import default_counter

    path = b._data_dir() / "routing" / "routellm_gsm8k_mtbench" / "gsm8k_responses.csv.gz"
    data = load_routellm(path, cost_per_call={b.MIXTRAL: 1e-4, b.GPT4: 1e-3})
    long, info = b._shared_prefix_prompts(data, default_counter())
    print(info)
    train_router(long.subset(np.arange(200)), default_embedder(int8_matmul=True), out=out / "router")
    (out / "prompts.txt").write_text("\n\x00\n".join(long.prompts[200:300]))


def run(out: Path) -> None:
    import llm_cost_hooks
    from llm_cost_hooks.embeddings import default_embedder
    from llm_cost_hooks.routing import RouteRequest, RouterModel, TrainedRouter

    assert llm_cost_hooks.__file__.startswith(os.environ["CODE"]), llm_cost_hooks.__file__
    prompts = (out / "prompts.txt").read_text().split("\n\x00\n")
    emb = default_embedder(int8_matmul=True)
    router = TrainedRouter(RouterModel.load(out / "router", embedder=emb), embedder=emb)
    tiers = router.model.tiers
    router.route(RouteRequest(prompts[0]), tiers)
    wall, cpu = [], []
    for p in prompts:
        t0, c0 = time.perf_counter(), time.process_time()
        router.route(RouteRequest(p), tiers)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(os.environ["CODE"], f"p50_ms={np.median(wall) * 1e3:.2f} cpu_p50_ms={np.median(cpu) * 1e3:.2f}")


if __name__ == "__main__":
    (setup if sys.argv[1] == "setup" else run)(Path(sys.argv[2]))
