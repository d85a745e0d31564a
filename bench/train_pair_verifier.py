"""Refit the shipped pair verifier (``llm_cost_hooks/cache/data/pair_verifier.json``).

``python bench/train_pair_verifier.py [--out PATH]``. Pairs: each Banking77 and HWU64 (fold 1)
train query with its nearest other train query (same intent = same question), and the MRPC
train pairs (paraphrase label). Pairs a contrast check vetoes are left out (the cache never
asks the verifier about them); each set carries equal weight.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_cache import _embed_cached, _intent_sets, _read_mrpc, _semantic_cache_dir
from llm_cost_hooks.cache._contrast import contrast_flags
from llm_cost_hooks.cache._verifier import PAIR_FEATURE_NAMES, pair_features

OUT = Path(__file__).resolve().parents[1] / "llm_cost_hooks" / "cache" / "data" / "pair_verifier.json"


def _nearest_pairs(texts: list[str], labels: list[str]) -> list[tuple[str, str, float, bool]]:
    v = _embed_cached(texts)
    s = v @ v.T
    np.fill_diagonal(s, -np.inf)
    top = s.argmax(1)
    return [(texts[i], texts[j], float(s[i, j]), labels[i] == labels[j]) for i, j in enumerate(top)]


def _fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1e-3) -> tuple[np.ndarray, float]:
    """Weighted logistic regression by Newton steps; weights in raw feature space and bias."""
    mu, sd = X.mean(0), X.std(0)
    sd[sd == 0] = 1.0
    Z = np.c_[(X - mu) / sd, np.ones(len(X))]
    b = np.zeros(Z.shape[1])
    w = w / w.sum()
    for _ in range(60):
        p = 1 / (1 + np.exp(-np.clip(Z @ b, -50, 50)))
        g = Z.T @ ((p - y) * w) + l2 * np.r_[b[:-1], 0]
        H = (Z * (w * p * (1 - p))[:, None]).T @ Z + l2 * np.eye(len(b))
        step = np.linalg.solve(H, g)
        b -= step
        if np.abs(step).max() < 1e-9:
            break
    return b[:-1] / sd, float(b[-1] - (b[:-1] * mu / sd).sum())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    sets = _intent_sets(quick=False)
    mrpc = _semantic_cache_dir() / "mrpc" / "msr_paraphrase_train.txt.gz"
    if set(sets) != {"banking77", "hwu64"} or not mrpc.is_file():
        print(f"needs banking77, hwu64 and MRPC under {_semantic_cache_dir()}", file=sys.stderr)
        return 1
    groups = [_nearest_pairs(tr, trl) for tr, trl, _, _ in sets.values()]
    m = _read_mrpc(mrpc)
    a, b = _embed_cached([r[0] for r in m]), _embed_cached([r[1] for r in m])
    groups.append([(r[1], r[0], float(a[i] @ b[i]), r[2] == "1") for i, r in enumerate(m)])
    Xs, ys, ws = [], [], []
    for pairs in groups:
        kept = [p for p in pairs if not contrast_flags(p[0], p[1])]
        Xs.append(np.array([pair_features(q, c, s) for q, c, s, _ in kept]))
        ys.append(np.array([float(same) for *_, same in kept]))
        ws.append(np.full(len(kept), 1.0 / len(kept)))
    W, bias = _fit(np.concatenate(Xs), np.concatenate(ys), np.concatenate(ws))
    meta = json.loads(args.out.read_text()) if args.out.is_file() else {}
    meta.update(features=list(PAIR_FEATURE_NAMES), weights=W.tolist(), bias=bias)
    args.out.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {args.out}: weights {np.round(W, 3).tolist()}, bias {bias:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
