"""A warm cached call through RoutedChatModel at its default (each tier's call cached under
that tier's model, the request routed every time), timed in the tree on PYTHONPATH, so two
trees can be compared run by run (alternate them: base, head, head, base, ...).

    PYTHONPATH=TREE python cached_call_tree.py [rules|trained] [rounds] [calls]

Prints per-call process CPU and wall time in ms, medians over rounds (min-max).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

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
    kind = sys.argv[1] if len(sys.argv) > 1 else "rules"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    calls = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    set_llm_cache(SemanticCache(path=":memory:", semantic=False))
    tiers = {t: FakeChatModelWithUsage(model_name=t, responses=["4"] * 5) for t in ("gpt-4o-mini", "gpt-4o")}
    m = RoutedChatModel(tiers=tiers, strategy=strategy(kind))
    q = "What is 2 plus 2?"
    m.invoke(q)
    m.invoke(q)
    cpu, wall = [], []
    for _ in range(rounds):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(calls):
            m.invoke(q)
        cpu.append((time.process_time() - c0) / calls * 1e3)
        wall.append((time.perf_counter() - w0) / calls * 1e3)
    c, w = sorted(cpu), sorted(wall)
    print(
        f"{kind} CPU ms/call median {statistics.median(c):.3f} ({c[0]:.3f}-{c[-1]:.3f}); "
        f"wall ms/call median {statistics.median(w):.3f} ({w[0]:.3f}-{w[-1]:.3f})"
    )
    set_llm_cache(None)


if __name__ == "__main__":
    main()
