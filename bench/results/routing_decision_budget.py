"""Decision CPU time on 4-8k-token prompts behind a shared prefix, by token budget and
embedder threads, interleaved in one process (for routing_decision_budget.md).

    python bench/results/routing_decide_ab.py setup DIR     # once: train, save router + prompts
    PYTHONPATH=. python bench/results/routing_decision_budget.py DIR
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np


def main(out: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench._common import percentile
    from bench.bench_routing import _UNITS_RE, _interleaved_best, _load
    from llm_cost_hooks.embeddings import default_embedder
    from llm_cost_hooks.embeddings._onnx import OnnxEmbedder
    from llm_cost_hooks.routing import RouteRequest, RouterModel, TrainedRouter

    prompts = (out / "prompts.txt").read_text().split("\n\x00\n")
    two = default_embedder(int8_matmul=True)
    one = OnnxEmbedder(int8_matmul=True, threads=1)
    configs = [(None, two), (64, two), (None, one), (64, one), (48, one), (32, one)]
    routers = [TrainedRouter(RouterModel.load(out / "router", embedder=e), embedder=e) for _, e in configs]
    for (budget, _), r in zip(configs, routers):
        assert r.model.selector is not None
        r.model.selector.max_tokens = budget
    tiers = routers[0].model.tiers
    print(_load())
    base = 0
    for k in range(1, len(configs)):
        pair = (routers[base], routers[k])
        cpu = _interleaved_best(
            prompts, lambda j, p: pair[j].route(RouteRequest(p), tiers), clock=time.process_time
        )
        sel = routers[k].model.selector
        units = np.median([len(_UNITS_RE.findall(sel.select(p)[0])) for p in prompts])
        b, e = configs[k]
        print(
            f"budget {b} threads {e.threads}: CPU p50 {percentile(list(cpu[1]), 0.5) * 1e3:.2f} ms "
            f"(p95 {percentile(list(cpu[1]), 0.95) * 1e3:.2f}) vs budget None threads 2 in the same "
            f"blocks {percentile(list(cpu[0]), 0.5) * 1e3:.2f} ms; median per-prompt ratio "
            f"{float(np.median(cpu[1] / cpu[0])):.3f}; median words+marks embedded {units:.0f}",
            flush=True,
        )
    print(_load())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
