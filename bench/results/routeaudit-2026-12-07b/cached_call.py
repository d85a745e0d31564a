"""A cached routed call, before and after the routed model stopped caching its own answer.

A (router-level cache, the old default): RoutedChatModel(cache=None) under set_llm_cache,
so a repeated request is a hit on the router's own key, no routing decision.
B (the new default): the request is routed every time and the chosen tier's call hits.
Per round each variant answers the same warm, cached request `calls` times, alternating
A/B (and B/A) between rounds; per-call process CPU and wall time, medians over rounds.

    python bench/results/routeaudit-2026-12-07b/cached_call.py [trained|rules] [rounds] [calls]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from langchain_core.globals import set_llm_cache

from llm_cost_hooks.langchain import FakeChatModelWithUsage, RoutedChatModel, SemanticCache
from llm_cost_hooks.routing import RuleRouter, TrainedRouter


def strategy(kind: str):
    if kind == "rules":
        return RuleRouter([], default="gpt-4o-mini")
    import numpy as np

    from llm_cost_hooks.embeddings import default_embedder
    from llm_cost_hooks.routing import OutcomeDataset, QualityTarget, train_router

    rng = np.random.default_rng(0)
    prompts, quality = [], []
    for i in range(120):
        a, b = rng.integers(1, 99, size=2)
        prompts.append(
            f"Prove the conjecture about prime gaps number {a}{b}." if i % 2 else f"What is {a} plus {b}?"
        )
        quality.append([0.0, 1.0] if i % 2 else [1.0, 1.0])
    data = OutcomeDataset(
        prompts=prompts,
        tiers=["gpt-4o-mini", "gpt-4o"],
        quality=np.array(quality),
        cost=np.tile([1e-4, 2e-3], (120, 1)),
    )
    out = tempfile.mkdtemp()
    train_router(data, default_embedder(int8_matmul=True), target=QualityTarget(share=0.95), out=out)
    return TrainedRouter.load(out)


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "trained"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    calls = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    strat = strategy(kind)
    set_llm_cache(SemanticCache(path=":memory:", semantic=False))

    def model(router_cache: bool) -> RoutedChatModel:
        tiers = {
            t: FakeChatModelWithUsage(model_name=t, responses=["4"] * 5) for t in ("gpt-4o-mini", "gpt-4o")
        }
        return RoutedChatModel(tiers=tiers, strategy=strat, **({"cache": None} if router_cache else {}))

    models = {"A router-level": model(True), "B per tier": model(False)}
    q = "What is 2 plus 2?"
    for m in models.values():
        m.invoke(q)  # miss: written
        m.invoke(q)  # warm
    cpu: dict[str, list[float]] = {k: [] for k in models}
    wall: dict[str, list[float]] = {k: [] for k in models}
    for r in range(rounds):
        order = list(models) if r % 2 == 0 else list(reversed(models))
        for name in order:
            m = models[name]
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(calls):
                m.invoke(q)
            cpu[name].append((time.process_time() - c0) / calls * 1e3)
            wall[name].append((time.perf_counter() - w0) / calls * 1e3)
    print(f"strategy={kind} rounds={rounds} calls/round={calls}")
    for name in models:
        c, w = sorted(cpu[name]), sorted(wall[name])
        print(
            f"{name:16s} CPU ms/call median {statistics.median(c):.3f} (min {c[0]:.3f}, max {c[-1]:.3f}); "
            f"wall ms/call median {statistics.median(w):.3f} (min {w[0]:.3f}, max {w[-1]:.3f})"
        )
    set_llm_cache(None)


if __name__ == "__main__":
    main()
