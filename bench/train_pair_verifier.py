"""Refit the shipped pair verifier (``llm_cost_hooks/cache/data/pair_verifier.json``) and measure
stronger candidates.

``python bench/train_pair_verifier.py [--out PATH] [--lodo]``. Pairs, train splits only: each
Banking77 and HWU64 (fold 1) train query with its nearest other train query (same intent =
same question), and the MRPC train pairs (paraphrase label). Pairs a contrast check vetoes are
left out (the cache never asks the verifier about them). Each kind of data carries equal weight:
the paraphrase pairs as much as the two intent sets together (within a kind, each set alike).

``--lodo`` also reports leave-one-dataset-out: for each set, a verifier fitted on the other two
sets only, scored on the held-out set's test split (intent sets: each test query against its
nearest train query; MRPC: store sentence 1, look up sentence 2), beside the shipped fit (all
three train splits) on the same test split. Nothing is written with ``--lodo --dry-run``.

Candidates (measured, never written: ``--embedding`` implies ``--dry-run``):

- ``--neighbours K``: each intent train query with its K nearest other train queries, so the
  fit sees the near questions of another intent that the cache actually meets (hard negatives);
- ``--balance``: within each set, the two classes weigh the same;
- ``--embedding``: beside the hand features, the elementwise product and absolute difference
  of the two MiniLM vectors (a learned diagonal metric of the embedding space).

``--honest`` reports what a threshold chosen without the test split gives on it: each set's
train split is cut into a fitting part (80 %) and a validation slice (20 %, seeded; intent
slices looked up against the fitting part only). The threshold is the lowest that keeps
precision >= 0.99 on every intent validation slice in the fit (or false hits <= 1 % on the
MRPC slice when no intent set is in it), and the test split is scored at that threshold, for
the all-sets fit and for each leave-one-dataset-out fit. The oracle line beside it reads the
threshold off the test split itself: an upper bound, not a result.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_cache import _embed_cached, _intent_sets, _read_mrpc, _semantic_cache_dir
from llm_cost_hooks.cache._contrast import contrast_flags
from llm_cost_hooks.cache._verifier import PAIR_FEATURE_NAMES, PairVerifier, pair_features

OUT = Path(__file__).resolve().parents[1] / "llm_cost_hooks" / "cache" / "data" / "pair_verifier.json"
CACHE = Path(__file__).resolve().parent / ".cache"
THRESHOLDS = (0.8, 0.85, 0.9, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98)
GRID = np.round(np.arange(0.5, 0.9995, 0.001), 4)
PRECISION, FALSE_HITS = 0.99, 0.01

# (query, stored, cosine, same question, index of the query's vector, index of the stored one's)
Pair = tuple[str, str, float, bool, int, int]


class _Texts:
    """Texts with their (cached) embeddings, so pairs can carry vector indices."""

    def __init__(self, texts: list[str], vecs: np.ndarray | None = None) -> None:
        self.texts = texts
        self.vecs = _embed_cached(texts) if vecs is None else vecs

    def take(self, rows: np.ndarray) -> _Texts:
        return _Texts([self.texts[i] for i in rows], self.vecs[rows])


def _nearest_pairs(t: _Texts, labels: list[str], k: int = 1) -> list[Pair]:
    """Each text of ``t`` with its ``k`` nearest other texts of ``t``."""
    s = t.vecs @ t.vecs.T
    np.fill_diagonal(s, -np.inf)
    top = np.argsort(-s, 1, kind="stable")[:, :k]
    return [
        (t.texts[i], t.texts[j], float(s[i, j]), labels[i] == labels[j], i, int(j))
        for i in range(len(t.texts))
        for j in top[i]
    ]


def _lookup_pairs(tr: _Texts, trl: list[str], te: _Texts, tel: list[str], offset: int) -> list[Pair]:
    s = te.vecs @ tr.vecs.T
    top = s.argmax(1)
    return [
        (te.texts[i], tr.texts[j], float(s[i, j]), tel[i] == trl[j], offset + i, int(j))
        for i, j in enumerate(top)
    ]


def _mrpc_pairs(split: str) -> tuple[list[Pair], np.ndarray]:
    m = _read_mrpc(_semantic_cache_dir() / "mrpc" / f"msr_paraphrase_{split}.txt.gz")
    a, b = _embed_cached([r[0] for r in m]), _embed_cached([r[1] for r in m])
    n = len(m)
    pairs = [(r[1], r[0], float(a[i] @ b[i]), r[2] == "1", n + i, i) for i, r in enumerate(m)]
    return pairs, np.concatenate([a, b])


_SOURCES = ("_verifier.py", "_contrast.py")


def _hand_features(pairs: list[Pair]) -> tuple[np.ndarray, np.ndarray]:
    """Contrast vetoes and :func:`pair_features` of the pairs, cached on disk (bench/.cache,
    keyed by the pairs and the source of the feature code) so that each candidate run does
    not recompute them."""
    if not pairs:
        return np.zeros(0, dtype=bool), np.zeros((0, len(PAIR_FEATURE_NAMES)))
    h = hashlib.sha256()
    for name in _SOURCES:
        h.update((Path(__file__).resolve().parents[1] / "llm_cost_hooks" / "cache" / name).read_bytes())
    for q, c, s, *_ in pairs:
        h.update(f"{q}\t{c}\t{s:.6f}\n".encode())
    f = CACHE / f"pair_features_{h.hexdigest()[:16]}.npz"
    if f.is_file():
        with np.load(f, allow_pickle=False) as z:
            return z["veto"], z["X"]
    veto = np.array([bool(contrast_flags(q, c)) for q, c, *_ in pairs], dtype=bool)
    X = np.array([pair_features(q, c, s) for q, c, s, *_ in pairs])
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = f.with_name(f"{f.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, veto=veto, X=X)
    os.replace(tmp, f)  # runs in parallel never read a half-written file
    return veto, X


class _Set:
    """One data set's pairs with their features, contrast vetoes and labels."""

    def __init__(self, pairs: list[Pair], weight: float = 1.0, vecs: np.ndarray | None = None) -> None:
        self.weight = weight
        self.veto, self.X = _hand_features(pairs)
        self.y = np.array([p[3] for p in pairs], dtype=float)
        self.cos = np.array([p[2] for p in pairs])
        self.qi = np.array([p[4] for p in pairs], dtype=int)
        self.ci = np.array([p[5] for p in pairs], dtype=int)
        self.vecs = vecs

    def subset(self, keep: np.ndarray) -> _Set:
        part = _Set([], weight=self.weight, vecs=self.vecs)
        for f in ("X", "y", "veto", "cos", "qi", "ci"):
            setattr(part, f, getattr(self, f)[keep])
        return part

    def features(self, embedding: bool) -> np.ndarray:
        if not embedding or self.vecs is None:
            return self.X
        u, v = self.vecs[self.qi], self.vecs[self.ci]
        return np.c_[self.X, u * v, np.abs(u - v)]


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


def _fit_sets(sets: list[_Set], balance: bool = False, embedding: bool = False) -> tuple[np.ndarray, float]:
    Xs, ys, ws = [], [], []
    for d in sets:
        keep = ~d.veto
        y = d.y[keep]
        n = max(1, len(y))
        if balance:  # each class half of the set's weight
            w = np.where(y > 0, 0.5 / max(1.0, y.sum()), 0.5 / max(1.0, n - y.sum()))
        else:
            w = np.full(len(y), 1.0 / n)
        Xs.append(d.features(embedding)[keep])
        ys.append(y)
        ws.append(d.weight * w)
    return _fit(np.concatenate(Xs), np.concatenate(ys), np.concatenate(ws))


def _scores(d: _Set, W: np.ndarray, bias: float, embedding: bool = False) -> np.ndarray:
    z = np.clip(d.features(embedding) @ W + bias, -50, 50)
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


def _at(d: _Set, p: np.ndarray, t: float, pairs_kind: bool) -> str:
    """One line: what threshold ``t`` serves on ``d``."""
    y, s = d.y.astype(bool), p >= t
    if pairs_kind:
        fh, neg = int((s & ~y).sum()), np.sort(d.cos[~y])[::-1]
        k = fh or int(FALSE_HITS * len(neg))  # as bench cache: 1 % when nothing false was served
        base = float((d.cos[y] > neg[k]).mean()) if k < len(neg) else 1.0
        rec = float((s & y).sum() / y.sum())
        ratio = f"{rec / base:.2f}x" if base else "-"
        return f"false hits {fh / (~y).sum():.4f} ({fh}/{int((~y).sum())}), recall {rec:.4f}; single cosine {base:.4f} ({ratio})"
    n = int(s.sum())
    prec = f"{(s & y).sum() / n:.4f}" if n else "-"
    return f"hit rate {n / len(y):.4f} ({n}/{len(y)}) at precision {prec}"


def _oracle(d: _Set, p: np.ndarray, pairs_kind: bool) -> str:
    """The best the scores allow, threshold read off the scored split itself (an upper bound)."""
    y = d.y.astype(bool)
    if pairs_kind:
        neg = np.sort(p[~y])[::-1]
        k = int(FALSE_HITS * len(neg))
        return f"oracle at false hits <= {FALSE_HITS:.0%}: " + _at(
            d, p, float(np.nextafter(neg[k], 2.0)), True
        )
    o = np.argsort(-p, kind="stable")
    cum = np.cumsum(y[o]) / np.arange(1, len(y) + 1)
    parts = []
    for target in (0.99, 0.98, 0.95):
        ok = np.where((cum >= target) & (p[o] > 0))[0]
        parts.append(f"{target}: {(ok.max() + 1) / len(y) if len(ok) else 0.0:.4f}")
    return "oracle hit rate at precision " + ", ".join(parts)


def _pick_threshold(val: dict[str, _Set], scores: dict[str, np.ndarray]) -> float | None:
    """The lowest grid threshold meeting the target on every validation slice given."""
    intent = [k for k in val if k != "mrpc"]
    for t in GRID:
        ok = True
        for k in intent or list(val):
            y, s = val[k].y.astype(bool), scores[k] >= t
            if k == "mrpc":
                ok &= bool((s & ~y).sum() <= FALSE_HITS * (~y).sum())
            else:
                ok &= bool(s.sum() > 0 and (s & y).sum() / s.sum() >= PRECISION)
        if ok:
            return float(t)
    return None


def _honest(sets: dict, args: argparse.Namespace) -> None:
    """Thresholds from validation slices of train, scored on test; all-sets and leave-one-out fits."""
    rng = np.random.default_rng(0)
    fit: dict[str, _Set] = {}
    val: dict[str, _Set] = {}
    test: dict[str, _Set] = {}
    for name, (tr, trl, te, tel) in sets.items():
        trt = _Texts(tr)
        perm = rng.permutation(len(tr))
        vi, fi = np.sort(perm[: len(tr) // 5]), np.sort(perm[len(tr) // 5 :])
        # Fitting pairs and validation lookups only ever see the fitting part as the cache.
        sub = _Texts([tr[i] for i in fi])
        sub_l = [trl[i] for i in fi]
        both = _Texts([tr[i] for i in fi] + [tr[i] for i in vi])
        fit[name] = _Set(_nearest_pairs(sub, sub_l, args.neighbours), vecs=sub.vecs)
        val[name] = _Set(
            _lookup_pairs(sub, sub_l, _Texts([tr[i] for i in vi]), [trl[i] for i in vi], len(fi)),
            vecs=both.vecs,
        )
        tet = _Texts(te)
        test[name] = _Set(
            _lookup_pairs(trt, trl, tet, tel, len(tr)), vecs=np.concatenate([trt.vecs, tet.vecs])
        )
    mtr, mvecs = _mrpc_pairs("train")
    m = _Set(mtr, weight=2.0, vecs=mvecs)
    mv = np.zeros(len(m.y), dtype=bool)
    mv[rng.permutation(len(m.y))[: len(m.y) // 5]] = True
    fit["mrpc"], val["mrpc"] = m.subset(~mv), m.subset(mv)
    mte, mtvecs = _mrpc_pairs("test")
    test["mrpc"] = _Set(mte, vecs=mtvecs)
    print(
        f"honest thresholds (neighbours {args.neighbours}, balance {args.balance}, embedding {args.embedding}): "
        f"target precision {PRECISION} on intent validation slices, false hits <= {FALSE_HITS:.0%} on MRPC's"
    )
    for held in [None, *fit]:
        names = [k for k in fit if k != held]
        W, b = _fit_sets([fit[k] for k in names], args.balance, args.embedding)
        vs = {k: _scores(val[k], W, b, args.embedding) for k in names}
        t = _pick_threshold({k: val[k] for k in names}, vs)
        label = f"fit on {', '.join(names)} (80 % of train)"
        print(f"{label}: threshold {t if t is not None else 'none meets the target'}")
        for k in names:
            print(
                f"  {k} validation slice: " + (_at(val[k], vs[k], t, k == "mrpc") if t is not None else "-")
            )
        for k in [held] if held else list(test):
            p = _scores(test[k], W, b, args.embedding)
            tag = "held out" if held else "in the fit"
            shown = _at(test[k], p, t, k == "mrpc") if t is not None else "-"
            print(f"  {k} test ({tag}): {shown} | {_oracle(test[k], p, k == 'mrpc')}")


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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--lodo", action="store_true", help="also report leave-one-dataset-out scores")
    ap.add_argument("--dry-run", action="store_true", help="do not write the weights file")
    ap.add_argument(
        "--mrpc-folds", type=int, default=0, metavar="K", help="also score MRPC train out of fold (K folds)"
    )
    ap.add_argument(
        "--neighbours", type=int, default=1, metavar="K", help="intent pairs: K nearest per query"
    )
    ap.add_argument("--balance", action="store_true", help="class-balanced weights within each set")
    ap.add_argument(
        "--embedding",
        action="store_true",
        help="add u*v and |u-v| of the embeddings (measured, never written)",
    )
    ap.add_argument(
        "--honest",
        action="store_true",
        help="only: thresholds from validation slices of train, scored on test",
    )
    args = ap.parse_args()
    sets = _intent_sets(quick=False)
    mrpc = _semantic_cache_dir() / "mrpc" / "msr_paraphrase_train.txt.gz"
    if set(sets) != {"banking77", "hwu64"} or not mrpc.is_file():
        print(f"needs banking77, hwu64 and MRPC under {_semantic_cache_dir()}", file=sys.stderr)
        return 1
    if args.honest:
        _honest(sets, args)
        return 0
    emb = args.embedding
    train: dict[str, _Set] = {}
    for name, (tr, trl, _, _) in sets.items():
        t = _Texts(tr)
        train[name] = _Set(_nearest_pairs(t, trl, args.neighbours), vecs=t.vecs)
    mtr, mvecs = _mrpc_pairs("train")
    train["mrpc"] = _Set(mtr, weight=2.0, vecs=mvecs)  # one kind against the two intent sets
    W, bias = _fit_sets(list(train.values()), args.balance, emb)
    print(f"fit on all three train splits: {len(W)} weights, bias {bias:.3f}")
    if args.lodo:
        test: dict[str, _Set] = {}
        for name, (tr, trl, te, tel) in sets.items():
            trt, tet = _Texts(tr), _Texts(te)
            vecs = np.concatenate([trt.vecs, tet.vecs])
            test[name] = _Set(_lookup_pairs(trt, trl, tet, tel, len(tr)), vecs=vecs)
        mte, mtvecs = _mrpc_pairs("test")
        test["mrpc"] = _Set(mte, vecs=mtvecs)
        for held in train:
            Wh, bh = _fit_sets([d for k, d in train.items() if k != held], args.balance, emb)
            print(f"held out {held}: fitted on {', '.join(k for k in train if k != held)} train only")
            for tag, (w_, b_) in (("held out", (Wh, bh)), ("all-sets fit", (W, bias))):
                p = _scores(test[held], w_, b_, emb)
                for line in _report(f"{held} test, {tag}", test[held], p, held == "mrpc"):
                    print(line)
                print(f"  {held} test, {tag}: {_oracle(test[held], p, held == 'mrpc')}")
    if args.mrpc_folds:
        for line in _out_of_fold(train, args.mrpc_folds):
            print(line)
    if args.dry_run or emb:
        return 0
    meta = json.loads(args.out.read_text()) if args.out.is_file() else {}
    meta.update(
        features=list(PAIR_FEATURE_NAMES),
        weights=W.tolist(),
        bias=bias,
        training="pairs a contrast check vetoes left out; each kind of data weighted equally (MRPC as much as "
        f"Banking77 and HWU64 together); {args.neighbours} nearest per intent query"
        + ("; classes balanced within each set" if args.balance else "")
        + "; Newton steps, L2 1e-3",
    )
    args.out.write_text(json.dumps(meta, indent=2) + "\n")
    PairVerifier.from_json(args.out.read_text())  # the file loads as shipped
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
