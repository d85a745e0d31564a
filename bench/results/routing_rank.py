"""RouterBench: how far the router's ranking is from the cost goal, and ranking variants.

Same splits as ``python -m bench routing`` (``OutcomeDataset.split(0.3, seed)``), same
text selection and features (``TextSelector.learn`` on the training rows, MiniLM with
int8 matmuls), same cross-fitting (5 folds by :func:`fold_of`, each test row answered by
its fold's model) and the same calibration (``calibrate_points``, 95 % of
gpt-4-1106-preview's quality at confidence 0.9, horizon = test size), so the baseline
row reproduces the saved-router path to the digit. Each variant swaps only the model
that maps features to per-tier predictions.

Embeddings are cached in ``bench/.cache/routing_rank_emb.pkl`` (gitignored).

    OMP_NUM_THREADS=1 PYTHONPATH=. python bench/results/routing_rank.py [--seeds 20] [--variants a,b]

(one BLAS thread: on a loaded 2-core machine threaded SVDs are ~10x slower.)
"""

from __future__ import annotations

import argparse
import os
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from llm_cost_hooks.routing import QualityTarget, load_routerbench
from llm_cost_hooks.routing._model import (
    L2_GRID,
    _fit_logistic,
    _fit_ridge_loo,
    _prior_of,
    fold_of,
    group_priors,
)
from llm_cost_hooks.routing._strategies import calibrate_points, choose_tiers, pick_tiers
from llm_cost_hooks.routing._text import TextSelector

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "bench" / ".cache" / "routing_rank_emb.pkl"
DATA = Path(os.environ.get("LLM_COST_HOOKS_DATA_DIR", ROOT / ".." / "shared" / "data"))
GPT4 = "gpt-4-1106-preview"
B = 16  # template-feature columns (TextSelector's default buckets)
Pred = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
Fit = Callable[[np.ndarray, np.ndarray, np.ndarray], Pred]


class CachedEmbedder:
    def __init__(self) -> None:
        self.cache: dict[str, np.ndarray] = pickle.loads(CACHE.read_bytes()) if CACHE.exists() else {}
        self.inner: Any = None
        self.name, self.dim = "", 384

    def embed(self, texts: Any) -> np.ndarray:
        out = []
        for t in texts:
            if t not in self.cache:
                if self.inner is None:
                    from llm_cost_hooks.embeddings import default_embedder

                    self.inner = default_embedder(int8_matmul=True)
                self.cache[t] = np.asarray(self.inner.embed_one(t), dtype=np.float32)
            out.append(self.cache[t])
        return np.stack(out) if out else np.zeros((0, self.dim), np.float32)

    def save(self) -> None:
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_bytes(pickle.dumps(self.cache))


def make_splits(seeds: range, max_tokens: int | None = 64) -> list[dict[str, Any]]:
    data = load_routerbench(DATA / "routing" / "routerbench_train")
    emb = CachedEmbedder()
    out = []
    for s in seeds:
        tr, te = data.split(0.3, seed=s)
        sel = TextSelector.learn(tr.prompts, max_tokens=max_tokens)
        out.append(
            {
                "seed": s,
                "tr": tr,
                "te": te,
                "xtr": sel.features(emb, tr.prompts),
                "xte": sel.features(emb, te.prompts),
            }
        )  # type: ignore[arg-type]
    emb.save()
    return out


def cross_fit(fit: Fit, sp: dict[str, Any], folds: int = 5) -> tuple[np.ndarray, ...]:
    tr, te, xtr, xte = sp["tr"], sp["te"], sp["xtr"], sp["xte"]
    a = np.array([fold_of(p, folds) for p in tr.prompts])
    b = np.array([fold_of(p, folds) for p in te.prompts])
    oq, oc = np.zeros(tr.quality.shape), np.zeros(tr.quality.shape)
    tq, tc = np.zeros(te.quality.shape), np.zeros(te.quality.shape)
    for k in range(folds):
        pred = fit(xtr[a != k], tr.quality[a != k], tr.cost[a != k])
        oq[a == k], oc[a == k] = pred(xtr[a == k])
        tq[b == k], tc[b == k] = pred(xte[b == k])
    return oq, oc, tq, tc


def hindsight(te: Any, q: np.ndarray, c: np.ndarray, n: int = 400) -> float:
    """Cheapest single knob swept on the test rows reaching 95 % of gpt-4 (share of its cost)."""
    g, rows = te.tiers.index(GPT4), np.arange(len(te))
    sq, sc = te.quality[:, g].mean(), te.cost[:, g].mean()
    scale = float(np.median(c[c > 0])) if np.any(c > 0) else 1.0
    best = float("nan")
    for k in np.concatenate([[0.0], np.geomspace(1e-4, 1e5, n - 1) / scale]):
        p = choose_tiers(q, c, float(k))
        qq, cc = te.quality[rows, p].mean(), te.cost[rows, p].mean() / sc
        if qq >= 0.95 * sq and not cc >= best:
            best = cc
    return best


def calibrated(
    sp: dict[str, Any], oq: np.ndarray, oc: np.ndarray, tq: np.ndarray, tc: np.ndarray
) -> tuple[float, float]:
    tr, te = sp["tr"], sp["te"]
    g, rows = te.tiers.index(GPT4), np.arange(len(te))
    target = QualityTarget(share=0.95, of=GPT4, confidence=0.9, horizon=len(te))
    point = calibrate_points(tr.quality, tr.cost, oq, oc, tr.tiers, target, texts=tr.prompts)
    p = pick_tiers(tq, tc, point, te.prompts)
    return te.quality[rows, p].mean() / te.quality[:, g].mean(), te.cost[rows, p].mean() / te.cost[
        :, g
    ].mean()


# -- variants ------------------------------------------------------------------------------------
def _group_of(keys: np.ndarray, gkey: np.ndarray) -> np.ndarray:
    d = np.abs(keys[:, None, :] - gkey[None]).max(2)
    near = d.argmin(1)
    return np.where(d[np.arange(len(keys)), near] <= 1e-3, near, -1)


def _dominated(gq: np.ndarray, gc: np.ndarray) -> np.ndarray:
    """Per group and tier: another tier is at least as good and as cheap on the group's means."""
    return np.array(
        [
            [np.any((q >= q[t]) & (c <= c[t]) & ((q > q[t]) | (c < c[t]))) for t in range(len(q))]
            for q, c in zip(gq, gc)
        ]
    )


def ridge(grid: tuple[float, ...] = L2_GRID, prune: str = "none") -> Fit:
    """The shipped model (template prior shrunk by 30 pseudo-rows + ridge on the rest);
    ``prune``: 'global' drops tiers dominated on the overall means, 'template' per template."""

    def fit(x: np.ndarray, q: np.ndarray, c: np.ndarray) -> Pred:
        keys = x[:, -B:]
        gk, gq, gc = group_priors(keys, q, c, 30.0)
        qa, ca = q.mean(0), c.mean(0)
        wq, mu, qm, _ = _fit_ridge_loo(x, q - _prior_of(keys, gk, gq, qa), grid)
        wc, _, cm, _ = _fit_ridge_loo(x, c - _prior_of(keys, gk, gc, ca), grid)
        dom_all = _dominated(qa[None], ca[None]).astype(float)
        dom = _dominated(gq, gc).astype(float) if prune == "template" else np.tile(dom_all, (len(gk), 1))

        def pred(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            k = z[:, -B:]
            qq = np.clip((z - mu) @ wq + qm + _prior_of(k, gk, gq, qa), 0, 1)
            cc = np.maximum((z - mu) @ wc + cm + _prior_of(k, gk, gc, ca), 0)
            if prune != "none":
                qq = np.where(_prior_of(k, gk, dom, dom_all[0]) > 0.5, -1.0, qq)
            return qq, cc

        return pred

    return fit


def per_template_ridge() -> Fit:
    """One ridge model per template (the template id interacting with the embedding)."""

    def fit(x: np.ndarray, q: np.ndarray, c: np.ndarray) -> Pred:
        keys = x[:, -B:]
        gk, gq, gc = group_priors(keys, q, c, 30.0)
        g = _group_of(keys, gk)
        models = {}
        for j in range(len(gk)):
            m = g == j
            wq, mu, qm, _ = _fit_ridge_loo(x[m], q[m] - gq[j], L2_GRID)
            wc, _, cm, _ = _fit_ridge_loo(x[m], c[m] - gc[j], L2_GRID)
            models[j] = (wq, mu, qm, wc, cm)

        def pred(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            g2 = _group_of(z[:, -B:], gk)
            qq, cc = np.tile(q.mean(0), (len(z), 1)), np.tile(c.mean(0), (len(z), 1))
            for j, (wq, mu, qm, wc, cm) in models.items():
                m = g2 == j
                qq[m], cc[m] = (z[m] - mu) @ wq + qm + gq[j], (z[m] - mu) @ wc + cm + gc[j]
            return np.clip(qq, 0, 1), np.maximum(cc, 0)

        return pred

    return fit


def logistic(l2: float) -> Fit:
    """Per-tier L2 logistic regression on the embedding + a template one-hot; costs = template means."""

    def fit(x: np.ndarray, q: np.ndarray, c: np.ndarray) -> Pred:
        keys = x[:, -B:]
        gk, _, gc = group_priors(keys, q, c, 30.0)
        eye = np.eye(len(gk) + 1)
        xx = np.hstack([x[:, :-B], eye[_group_of(keys, gk)]]).astype(np.float64)
        ws = [_fit_logistic(xx, q[:, t].astype(np.float64), l2) for t in range(q.shape[1])]

        def pred(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            zz = np.hstack([z[:, :-B], eye[_group_of(z[:, -B:], gk)]])
            qq = np.stack([1 / (1 + np.exp(-(zz @ w + b))) for w, b in ws], 1)
            return qq, _prior_of(z[:, -B:], gk, gc, c.mean(0))

        return pred

    return fit


def knn_prior(k: int) -> Fit:
    """Per-prompt prior: mean outcomes of the k nearest training prompts of the same
    template, shrunk towards the template mean by 30 pseudo-rows."""

    def fit(x: np.ndarray, q: np.ndarray, c: np.ndarray) -> Pred:
        keys = x[:, -B:]
        gk, gq, gc = group_priors(keys, q, c, 30.0)
        g = _group_of(keys, gk)
        e = x[:, :-B] / np.linalg.norm(x[:, :-B], axis=1, keepdims=True)

        def pred(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            g2 = _group_of(z[:, -B:], gk)
            ez = z[:, :-B] / np.linalg.norm(z[:, :-B], axis=1, keepdims=True)
            qq = np.tile(q.mean(0), (len(z), 1))
            for j in range(len(gk)):
                m, mt = g2 == j, g == j
                if m.any():
                    near = np.argsort(-(ez[m] @ e[mt].T), 1)[:, :k]
                    qq[m] = (k * q[mt][near].mean(1) + 30.0 * gq[j]) / (k + 30.0)
            return qq, _prior_of(z[:, -B:], gk, gc, c.mean(0))

        return pred

    return fit


VARIANTS: dict[str, tuple[str, Fit]] = {
    "base": ("shipped: ridge (LOO L2) + template prior 30", ridge()),
    "l2_100": ("ridge, L2 fixed at 100", ridge(grid=(100.0,))),
    "log10": ("logistic per tier, L2 10", logistic(10.0)),
    "log30": ("logistic per tier, L2 30", logistic(30.0)),
    "per_template": ("one ridge per template", per_template_ridge()),
    "prune_template": ("drop tiers dominated within the template", ridge(prune="template")),
    "prune_global": ("drop tiers dominated overall (prune='pareto')", ridge(prune="global")),
    "knn10": ("kNN prior within template, k=10", knn_prior(10)),
}


def headroom(sp: dict[str, Any]) -> str:
    te = sp["te"]
    q, c = te.quality.astype(np.float64), te.cost
    g = te.tiers.index(GPT4)
    sq, sc, rows = q[:, g].mean(), c[:, g].mean(), np.arange(len(te))
    right = np.where(q > 0, c, np.inf)
    pick = np.argmin(right, 1)
    none = ~np.isfinite(right.min(1))
    pick[none] = np.argmin(c[none], 1)
    yi = te.tiers.index("zero-one-ai/Yi-34B-Chat")
    pair = np.where((q[:, yi] == 0) & (q[:, g] > 0), g, yi)
    return (
        f"oracle {q[rows, pick].mean() / sq:.1%} at {c[rows, pick].mean() / sc:.1%}, at 95 %: "
        f"{hindsight(te, q, c):.1%}; Yi-34B/gpt-4 oracle {q[rows, pair].mean() / sq:.1%} at "
        f"{c[rows, pair].mean() / sc:.1%}"
    )


def per_task(sp: dict[str, Any]) -> str:
    te, f = sp["te"], np.array(sp["te"].features)
    g = te.tiers.index(GPT4)
    out = []
    for task in sorted(set(f)):
        m = f == task
        best = max(range(len(te.tiers)), key=lambda t: te.quality[m, t].mean() - 1e9 * (t == g))
        out.append(
            f"{task}: gpt-4 {te.quality[m, g].mean():.3f}, best other {te.tiers[best]} "
            f"{te.quality[m, best].mean():.3f} at {te.cost[m, best].mean() / te.cost[m, g].mean():.1%} of gpt-4's cost"
        )
    return "; ".join(out)


def where_cost_goes(sp: dict[str, Any], q: np.ndarray, c: np.ndarray, n: int = 400) -> str:
    """Per task, at the hindsight knob: quality, share of gpt-4's total cost, gpt-4 calls."""
    te, f = sp["te"], np.array(sp["te"].features)
    g, rows = te.tiers.index(GPT4), np.arange(len(te))
    scale = float(np.median(c[c > 0]))
    best: tuple[float, np.ndarray] | None = None
    for k in np.concatenate([[0.0], np.geomspace(1e-4, 1e5, n - 1) / scale]):
        p = choose_tiers(q, c, float(k))
        if te.quality[rows, p].mean() >= 0.95 * te.quality[:, g].mean():
            cost = float(te.cost[rows, p].mean())
            if best is None or cost < best[0]:
                best = (cost, p)
    if best is None:
        return "95 % not reached"
    p = best[1]
    out = []
    for task in sorted(set(f)):
        m = f == task
        out.append(
            f"{task} {te.quality[m][np.arange(m.sum()), p[m]].mean():.3f} (gpt-4 {te.quality[m, g].mean():.3f}), "
            f"{te.cost[m][np.arange(m.sum()), p[m]].sum() / te.cost[:, g].sum():.1%} of gpt-4's cost, "
            f"{np.mean(p[m] == g):.0%} to gpt-4"
        )
    return "; ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--no-calibration", action="store_true")
    ap.add_argument("--max-tokens", type=int, default=64, help="of the selected text embedded; 0: no limit")
    args = ap.parse_args()
    splits = make_splits(range(args.seeds), args.max_tokens or None)
    print(f"load average {os.getloadavg()[0]:.1f}; seeds 0-{args.seeds - 1}; max tokens {args.max_tokens}")
    for sp in splits[:5]:
        print(f"seed {sp['seed']}: {headroom(sp)}")
    print(per_task(splits[0]) + " (seed 0 test rows)")
    base_h: list[float] = []
    base_c: list[float] = []
    for key in args.variants.split(","):
        name, fit = VARIANTS[key]
        t0 = time.process_time()
        hs, qs, cs = [], [], []
        for sp in splits:
            oq, oc, tq, tc = cross_fit(fit, sp)
            hs.append(hindsight(sp["te"], tq, tc))
            if not args.no_calibration:
                q9, c9 = calibrated(sp, oq, oc, tq, tc)
                qs.append(q9)
                cs.append(c9)
        if key == "base":
            base_h, base_c = hs, cs
            for sp in splits[:5]:
                print(
                    f"seed {sp['seed']}, shipped at its hindsight knob: {where_cost_goes(sp, *cross_fit(fit, sp)[2:])}"
                )
        line = f"| {name} | " + " / ".join(f"{h:.1%}" for h in hs[:5]) + f" | {np.mean(hs):.1%}"
        line += f", <= 25 % on {sum(h <= 0.25 for h in hs)}/{len(hs)}"
        if base_h and key != "base":
            line += f" | better than shipped on {sum(h < b - 1e-12 for h, b in zip(hs, base_h))}/{len(hs)}"
        else:
            line += " | -"
        if cs:
            line += (
                " | "
                + " / ".join(f"{q:.1%} at {c:.1%}" for q, c in zip(qs[:5], cs[:5]))
                + f" | mean cost {np.mean(cs):.1%}, >= 95 % on {sum(q >= 0.95 for q in qs)}/{len(qs)}"
                + (
                    f", cheaper on {sum(c < b - 1e-12 for c, b in zip(cs, base_c))}"
                    if base_c and key != "base"
                    else ""
                )
            )
        print(line + f" | {time.process_time() - t0:.0f} s CPU |", flush=True)


if __name__ == "__main__":
    main()
