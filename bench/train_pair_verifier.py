"""Refit the shipped pair verifier (``llm_cost_hooks/cache/data/pair_verifier.json``).

``python bench/train_pair_verifier.py [--out PATH] [--lodo]``. Pairs, train splits only: each
Banking77 and HWU64 (fold 1) train query with its nearest other train query (same intent =
same question), and the MRPC train pairs (paraphrase label). Pairs a contrast check vetoes are
left out (the cache never asks the verifier about them). Each kind of data carries equal weight:
the paraphrase pairs as much as the two intent sets together (within a kind, each set alike).

``--lodo`` also reports leave-one-dataset-out: for each set, a verifier fitted on the other two
sets only, scored on the held-out set's test split (intent sets: each test query against its
nearest train query; MRPC: store sentence 1, look up sentence 2), beside the shipped fit (all
three train splits) on the same test split. Nothing is written with ``--lodo --dry-run``.
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
from llm_cost_hooks.cache._verifier import PAIR_FEATURE_NAMES, PairVerifier, pair_features

OUT = Path(__file__).resolve().parents[1] / "llm_cost_hooks" / "cache" / "data" / "pair_verifier.json"
THRESHOLDS = (0.8, 0.85, 0.9, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98)

Pair = tuple[str, str, float, bool]  # (query, stored, cosine, same question)


def _nearest_pairs(texts: list[str], labels: list[str]) -> list[Pair]:
    v = _embed_cached(texts)
    s = v @ v.T
    np.fill_diagonal(s, -np.inf)
    top = s.argmax(1)
    return [(texts[i], texts[j], float(s[i, j]), labels[i] == labels[j]) for i, j in enumerate(top)]


def _lookup_pairs(tr: list[str], trl: list[str], te: list[str], tel: list[str]) -> list[Pair]:
    s = _embed_cached(te) @ _embed_cached(tr).T
    top = s.argmax(1)
    return [(te[i], tr[j], float(s[i, j]), tel[i] == trl[j]) for i, j in enumerate(top)]


def _mrpc_pairs(split: str) -> list[Pair]:
    m = _read_mrpc(_semantic_cache_dir() / "mrpc" / f"msr_paraphrase_{split}.txt.gz")
    a, b = _embed_cached([r[0] for r in m]), _embed_cached([r[1] for r in m])
    return [(r[1], r[0], float(a[i] @ b[i]), r[2] == "1") for i, r in enumerate(m)]


class _Set:
    """One data set's pairs with their features, contrast vetoes and labels."""

    def __init__(self, pairs: list[Pair], weight: float = 1.0) -> None:
        self.weight = weight
        self.veto = np.array([bool(contrast_flags(q, c)) for q, c, _, _ in pairs])
        self.X = np.array([pair_features(q, c, s) for q, c, s, _ in pairs])
        self.y = np.array([same for *_, same in pairs], dtype=float)
        self.cos = np.array([s for _, _, s, _ in pairs])

    def subset(self, keep: np.ndarray) -> _Set:
        part = _Set([], weight=self.weight)
        part.X, part.y, part.veto, part.cos = self.X[keep], self.y[keep], self.veto[keep], self.cos[keep]
        return part


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


def _fit_sets(sets: list[_Set]) -> tuple[np.ndarray, float]:
    Xs, ys, ws = [], [], []
    for d in sets:
        keep = ~d.veto
        Xs.append(d.X[keep])
        ys.append(d.y[keep])
        ws.append(np.full(int(keep.sum()), d.weight / max(1, int(keep.sum()))))
    return _fit(np.concatenate(Xs), np.concatenate(ys), np.concatenate(ws))


def _scores(d: _Set, W: np.ndarray, bias: float) -> np.ndarray:
    z = np.clip(d.X @ W + bias, -50, 50)
    return np.where(d.veto, 0.0, 1 / (1 + np.exp(-z)))


def _report(name: str, d: _Set, p: np.ndarray, pairs_kind: bool) -> list[str]:
    lines = []
    y = d.y.astype(bool)
    for t in THRESHOLDS:
        s = p >= t
        if pairs_kind:
            fh = int((s & ~y).sum())
            neg = np.sort(d.cos[~y])[::-1]
            thr = neg[fh] if fh < len(neg) else -1.0
            base = float((d.cos[y] > thr).mean())
            rec = float((s & y).sum() / y.sum())
            lines.append(
                f"  {name:<28} t={t:<5} false hits {fh:>3}/{int((~y).sum())} ({fh / (~y).sum():.4f})  recall {rec:.4f}"
                f"  | single cosine at the same false hits: recall {base:.4f} ({rec / base if base else float('inf'):.2f}x)"
            )
        else:
            n = int(s.sum())
            prec = f"{(s & y).sum() / n:.4f}" if n else "-"
            lines.append(f"  {name:<28} t={t:<5} hit rate {n / len(y):.4f} ({n}/{len(y)})  precision {prec}")
    return lines


def _out_of_fold(train: dict[str, _Set], k: int) -> list[str]:
    """MRPC train scored by fits that never saw the scored pair (the intent sets always in)."""
    m = train["mrpc"]
    fold = np.random.default_rng(0).integers(0, k, len(m.y))
    p = np.zeros(len(m.y))
    for f in range(k):
        keep = fold != f
        W, bias = _fit_sets([d for name, d in train.items() if name != "mrpc"] + [m.subset(keep)])
        p[~keep] = _scores(m, W, bias)[~keep]
    return [f"mrpc train, {k} folds, out of fold:", *_report("mrpc train, out of fold", m, p, True)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--lodo", action="store_true", help="also report leave-one-dataset-out scores")
    ap.add_argument("--dry-run", action="store_true", help="do not write the weights file")
    ap.add_argument(
        "--mrpc-folds", type=int, default=0, metavar="K", help="also score MRPC train out of fold (K folds)"
    )
    args = ap.parse_args()
    sets = _intent_sets(quick=False)
    mrpc = _semantic_cache_dir() / "mrpc" / "msr_paraphrase_train.txt.gz"
    if set(sets) != {"banking77", "hwu64"} or not mrpc.is_file():
        print(f"needs banking77, hwu64 and MRPC under {_semantic_cache_dir()}", file=sys.stderr)
        return 1
    train = {name: _Set(_nearest_pairs(tr, trl)) for name, (tr, trl, _, _) in sets.items()}
    train["mrpc"] = _Set(_mrpc_pairs("train"), weight=2.0)  # one kind against the two intent sets
    W, bias = _fit_sets(list(train.values()))
    print(f"fit on all three train splits: weights {np.round(W, 3).tolist()}, bias {bias:.3f}")
    if args.lodo:
        test = {name: _Set(_lookup_pairs(*sets[name])) for name in sets}
        test["mrpc"] = _Set(_mrpc_pairs("test"))
        for held in train:
            Wh, bh = _fit_sets([d for k, d in train.items() if k != held])
            print(f"held out {held}: fitted on {', '.join(k for k in train if k != held)} train only")
            for line in _report(
                f"{held} test, held out", test[held], _scores(test[held], Wh, bh), held == "mrpc"
            ):
                print(line)
            for line in _report(
                f"{held} test, all-sets fit", test[held], _scores(test[held], W, bias), held == "mrpc"
            ):
                print(line)
    if args.mrpc_folds:
        for line in _out_of_fold(train, args.mrpc_folds):
            print(line)
    if args.dry_run:
        return 0
    meta = json.loads(args.out.read_text()) if args.out.is_file() else {}
    meta.update(
        features=list(PAIR_FEATURE_NAMES),
        weights=W.tolist(),
        bias=bias,
        training="pairs a contrast check vetoes left out; each kind of data weighted equally (MRPC as much as "
        "Banking77 and HWU64 together); Newton steps, L2 1e-3",
    )
    args.out.write_text(json.dumps(meta, indent=2) + "\n")
    PairVerifier.from_json(args.out.read_text())  # the file loads as shipped
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
