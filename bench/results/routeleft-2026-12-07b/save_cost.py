"""What the whole-file replace costs a save: the old in-place save against RouterModel.save /
AnswerScorer.save, interleaved (A/B then B/A by round), per-save process CPU and wall time,
medians over rounds (min-max).

    python bench/results/routeleft-2026-12-07b/save_cost.py [rounds] [saves]
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import numpy as np

from llm_cost_hooks.routing import AnswerScorer, HashingEmbedder, OutcomeDataset, QualityTarget, train_router
from llm_cost_hooks.routing._model import FORMAT_VERSION, RouterModel
from llm_cost_hooks.routing._scorer import FEATURES


def old_router_save(model: RouterModel, d: Path) -> None:
    """RouterModel.save before this change: both files written in place."""
    npz = d / "router.npz"
    arrays: dict[str, Any] = {k: np.ascontiguousarray(v) for k, v in model.arrays.items()}
    np.savez(npz, **arrays)
    digest = hashlib.sha256(npz.read_bytes()).hexdigest()
    meta = {
        "format_version": FORMAT_VERSION if any(k.split(".")[-1] == "gkey" for k in arrays) else 2,
        "kind": model.kind,
        "tiers": model.tiers,
        "embedder": {"name": model.embedder_name, "dim": model.dim},
        "params": model.params,
        "info": model.info,
        "arrays_sha256": digest,
    }
    (d / "router.json").write_text(json.dumps(meta, indent=2))


def old_scorer_save(scorer: AnswerScorer, p: Path) -> None:
    p.write_text(json.dumps(scorer.to_dict()))


def router() -> RouterModel:
    rng = np.random.default_rng(0)
    prompts, quality = [], []
    for i in range(400):
        a, b = rng.integers(1, 99, size=2)
        prompts.append(
            f"Prove the conjecture about prime gaps number {a}{b}." if i % 2 else f"What is {a} plus {b}?"
        )
        quality.append([0.0, 1.0] if i % 2 else [1.0, 1.0])
    data = OutcomeDataset(
        prompts=prompts,
        tiers=["gpt-4o-mini", "gpt-4o"],
        quality=np.array(quality),
        cost=np.tile([1e-4, 2e-3], (400, 1)),
    )
    return train_router(data, HashingEmbedder(256), target=QualityTarget(share=0.95)).model


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    saves = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    model = router()
    n = len(FEATURES)
    scorer = AnswerScorer(mean=np.zeros(n), scale=np.ones(n), weights=np.linspace(0, 1, n), bias=0.1, l2=1.0)
    root = Path(tempfile.mkdtemp())
    rd, sp = root / "router", root / "scorer.json"
    rd.mkdir()
    variants = {
        "router old (in place)": lambda: old_router_save(model, rd),
        "router new (replace)": lambda: model.save(rd),
        "scorer old (in place)": lambda: old_scorer_save(scorer, sp),
        "scorer new (replace)": lambda: scorer.save(sp),
    }
    for v in variants.values():
        v()
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    wall: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(rounds):
        for name in list(variants) if r % 2 == 0 else list(reversed(variants)):
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(saves):
                variants[name]()
            cpu[name].append((time.process_time() - c0) / saves * 1e3)
            wall[name].append((time.perf_counter() - w0) / saves * 1e3)
    size = (rd / "router.npz").stat().st_size
    print(f"rounds={rounds} saves/round={saves} router.npz={size} bytes")
    for name in variants:
        c, w = sorted(cpu[name]), sorted(wall[name])
        print(
            f"{name:22s} CPU ms/save median {statistics.median(c):.3f} ({c[0]:.3f}-{c[-1]:.3f}); "
            f"wall ms/save median {statistics.median(w):.3f} ({w[0]:.3f}-{w[-1]:.3f})"
        )
    RouterModel.load(rd)  # the last save loads


if __name__ == "__main__":
    main()
