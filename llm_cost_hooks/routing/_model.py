"""The trained router's classifier: per tier, the chance of a good answer and its cost.

Numpy-only kinds, saved as plain arrays (``router.npz``, loaded with
``allow_pickle=False``) plus ``router.json``; never pickle:

* ``logistic``: one L2-regularised logistic regression per tier (soft labels allowed),
  fitted by Newton's method; costs by ridge regression.
* ``ridge`` (default): a linear model of every tier's quality and cost on the embedding (ridge
  regression, quality clipped to [0, 1]); the L2 strength is chosen per fit from
  ``l2_grid`` by exact leave-one-out error on the training rows (closed form from one
  SVD), so nothing is tuned by hand. Fast to fit and to apply (one matrix product).
* ``ridge_guarded``: ``ridge`` plus a guard against the winner's curse of taking the best of
  many noisy per-tier predictions. The reference is the tier best on average in training.
  A tier's predicted advantage over it is believed only as far as it was realised: on the
  training rows where the tier's exact leave-one-out prediction beat the reference (the rows
  it would win at any price), the lower confidence bound (``guard_z`` standard errors) of its
  real advantage caps its predicted advantage; with no proven advantage the tier stays just
  below the reference (cost then decides). So at a high willingness to pay the router answers
  like the reference unless another tier has shown it does better on such prompts.

With ``group_cols`` (what :func:`~._train.train_router` passes: the template feature of
:class:`~._text.TextSelector`), the ``ridge`` kinds first learn a prior per group of
requests that share a template (the mean quality and cost of every tier on the group's
training rows, shrunk towards the overall mean by ``group_shrink`` pseudo-rows) and fit
the ridge model to what the question adds to that prior. A request of a template never
seen in training gets the overall mean as its prior.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._errors import ConfigurationError, RouterModelError
from ._data import OutcomeDataset
from ._files import replace_file
from ._text import TextSelector, embeddable

if TYPE_CHECKING:
    from ..embeddings import Embedder

__all__ = ["HashingEmbedder", "RouterModel", "RouterModelError"]

FORMAT_VERSION = 3
#: Files written before cross-fitting and text selection (1) or template priors (2) still load.
_READABLE_VERSIONS = (1, 2, 3)
#: Reads of the pair before a checksum mismatch is taken for a damaged file (a save under
#: way settles within one of them).
_PAIR_READS = 20

# Two template features are the same group when no coordinate differs by more than this.
_GROUP_TOL = 1e-3
_TEXT_KEY = "text.shared_lines"


def fold_of(text: str, folds: int) -> int:
    """The cross-fitting fold of a request: a stable hash of its text (independent of the
    hash that mixes two operating points), so a repeated prompt always lands in one fold."""
    digest = hashlib.blake2b(
        text.encode("utf-8", "surrogatepass"), digest_size=8, person=b"llmcost-fold"
    ).digest()
    return int.from_bytes(digest, "little") % folds


class HashingEmbedder:
    """A tiny dependency-free embedder: hashed word and character-trigram counts.

    Deterministic and fast (no model file); far weaker than MiniLM, meant for tests and
    as a fallback when ``llm-cost-hooks[embed]`` is not installed.

    >>> e = HashingEmbedder(dim=64)
    >>> e.embed(["hello world"]).shape
    (1, 64)
    """

    def __init__(self, dim: int = 256) -> None:
        if dim <= 0:
            raise ConfigurationError(f"dim must be positive, got {dim}.")
        self.dim = dim
        self.name = f"hashing-{dim}"

    def _row(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        low = text.lower()
        for w in low.split():
            v[zlib.crc32(w.encode()) % self.dim] += 1.0
        for i in range(max(len(low) - 2, 0)):
            v[zlib.crc32(low[i : i + 3].encode()) % self.dim] += 0.3
        n = float(np.linalg.norm(v))
        return v / n if n else v

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._row(t) for t in texts])

    def embed_one(self, text: str) -> np.ndarray:
        return self._row(text)


def embed_texts(
    embedder: Embedder, texts: Sequence[str], *, max_chars: int = 2000, batch: int = 32
) -> np.ndarray:
    """Embed in small batches (a padded batch of thousands of long prompts exhausts memory)."""
    texts = [embeddable(t[:max_chars]) for t in texts]
    out = [
        np.asarray(embedder.embed(texts[i : i + batch]), dtype=np.float32)
        for i in range(0, len(texts), batch)
    ]
    return np.concatenate(out) if out else np.zeros((0, int(embedder.dim)), dtype=np.float32)


L2_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


def _fit_ridge_loo(
    x: np.ndarray, y: np.ndarray, grid: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Ridge regression of every column of ``y`` on ``x`` (centred), with the L2 strength
    picked from ``grid`` by exact leave-one-out squared error (``(y - yhat) / (1 - h)``).
    Returns (weights (d, k), x mean, y mean, chosen l2)."""
    w, mu, ym, l2, _ = _fit_ridge_loo_preds(x, y, grid)
    return w, mu, ym, l2


def _fit_ridge_loo_preds(
    x: np.ndarray, y: np.ndarray, grid: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray]:
    """:func:`_fit_ridge_loo` plus the exact leave-one-out predictions (n, k) at the chosen L2."""
    mu, ym = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mu, y - ym
    u, sv, vt = np.linalg.svd(xc, full_matrices=False)
    uty = u.T @ yc
    scale = np.maximum(yc.std(axis=0), 1e-12)  # every column counts equally in the LOO error
    best: tuple[float, float, np.ndarray] | None = None
    for l2 in grid:
        shrink = sv**2 / (sv**2 + l2)
        leverage = (u**2) @ shrink
        fitted = u @ (shrink[:, None] * uty)
        resid = (yc - fitted) / np.maximum(1.0 - leverage, 1e-9)[:, None]
        err = float(np.mean((resid / scale) ** 2))
        if best is None or err < best[0]:
            best = (err, float(l2), resid)
    assert best is not None
    _, l2, resid = best
    w = vt.T @ ((sv / (sv**2 + l2))[:, None] * uty)
    return w, mu, ym, l2, y - resid


def _advantage_caps(
    q_true: np.ndarray, q_loo: np.ndarray, ref: int, active: np.ndarray, z: float
) -> np.ndarray:
    """Per tier, the advantage over tier ``ref`` it proved on held-out rows: on the rows
    where its leave-one-out prediction is the best and above the reference's, the lower
    bound ``mean - z * standard error`` of its real advantage, floored at 0 (0 = none)."""
    adv = np.where(active[None, :], q_loo - q_loo[:, [ref]], -np.inf)
    win = np.argmax(adv, axis=1)
    caps = np.zeros(q_true.shape[1])
    for t in range(q_true.shape[1]):
        rows = (win == t) & (adv[:, t] > 0)
        if t == ref or int(rows.sum()) < 2:
            continue
        gain = q_true[rows, t] - q_true[rows, ref]
        caps[t] = max(float(gain.mean() - z * gain.std(ddof=1) / np.sqrt(rows.sum())), 0.0)
    return caps


def group_priors(
    keys: np.ndarray, q: np.ndarray, c: np.ndarray, shrink: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per distinct row of ``keys``: the mean quality and cost of every tier, each shrunk
    towards the overall mean by ``shrink`` pseudo-rows. Returns (group keys, quality, cost)."""
    uniq, inv = np.unique(np.round(keys, 4), axis=0, return_inverse=True)
    inv = np.asarray(inv).reshape(-1)
    n = np.bincount(inv, minlength=len(uniq)).astype(np.float64)[:, None]
    gq = np.zeros((len(uniq), q.shape[1]))
    gc = np.zeros((len(uniq), c.shape[1]))
    np.add.at(gq, inv, q)
    np.add.at(gc, inv, c)
    gq = (gq + shrink * q.mean(axis=0)) / (n + shrink)
    gc = (gc + shrink * c.mean(axis=0)) / (n + shrink)
    return uniq, gq, gc


def _prior_of(keys: np.ndarray, gkey: np.ndarray, gval: np.ndarray, overall: np.ndarray) -> np.ndarray:
    """Each row's group prior (``overall`` for a group not seen in training)."""
    if not len(gkey):
        return np.tile(overall, (len(keys), 1))
    dist = np.abs(keys[:, None, :] - gkey[None, :, :]).max(axis=2)
    near = np.argmin(dist, axis=1)
    known = dist[np.arange(len(keys)), near] <= _GROUP_TOL
    return np.where(known[:, None], gval[near], overall[None, :])


# A tier with no proven advantage is held this far below the reference: at the same
# predicted quality the reference wins a pure-quality decision, any price weight the cheaper.
_BELOW_REFERENCE = 1e-6


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))))


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, iters: int = 25) -> tuple[np.ndarray, float]:
    """Newton's method for L2 logistic regression with soft labels; returns (w, b)."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 1e-6  # do not shrink the intercept
    for _ in range(iters):
        p = _sigmoid(xb @ w)
        grad = xb.T @ (p - y) + reg * w
        h = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(reg)
        step = np.linalg.solve(h, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-6:
            break
    return w[:-1], float(w[-1])


def _staged(directory: Path, digest: str) -> Path:
    """Where a save stages its new arrays: named by their checksum's first 16 hex digits."""
    return directory / f"router.npz.{digest[:16]}"


@dataclass
class RouterModel:
    """Predicts, per tier, the chance that tier answers well and what it costs.

    Fit from an :class:`OutcomeDataset` and the prompts' embeddings; save/load as
    ``router.npz`` + ``router.json`` in a directory.

    >>> from llm_cost_hooks.routing import OutcomeDataset, HashingEmbedder
    >>> ds = OutcomeDataset(prompts=["2+2?", "prove fermat"], tiers=["small", "large"],
    ...     quality=np.array([[1, 1], [0, 1.0]]), cost=np.array([[1e-4, 1e-3], [1e-4, 1e-3]]))
    >>> m = RouterModel.fit(ds, HashingEmbedder(64))
    >>> q, c = m.predict(HashingEmbedder(64).embed(["2+2?"]))
    >>> q.shape
    (1, 2)
    """

    kind: Literal["logistic", "ridge", "ridge_guarded"]
    tiers: list[str]
    embedder_name: str
    dim: int
    arrays: dict[str, np.ndarray]
    params: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def selector(self) -> TextSelector | None:
        """What the router reads of a request (None: the raw text, for older files)."""
        if _TEXT_KEY not in self.arrays:
            return None
        cache = self.__dict__.setdefault("_fold_cache", {})
        if "selector" not in cache:
            cache["selector"] = TextSelector.from_saved(
                self.arrays[_TEXT_KEY], dict(self.params.get("text") or {})
            )
        return cache["selector"]  # type: ignore[no-any-return]

    def set_selector(self, selector: TextSelector) -> None:
        """Save ``selector`` with this router (its line hashes and settings)."""
        self.arrays[_TEXT_KEY] = selector.shared_array()
        self.params["text"] = selector.params()
        self.__dict__.pop("_fold_cache", None)

    # -- fitting ---------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        data: OutcomeDataset,
        embedder: Embedder,
        *,
        kind: Literal["logistic", "ridge", "ridge_guarded"] = "ridge",
        l2: float = 1.0,
        embeddings: np.ndarray | None = None,
        prune: Literal["pareto", "none"] = "none",
        l2_grid: Sequence[float] = L2_GRID,
        guard_z: float = 1.2816,
        group_cols: int = 0,
        group_shrink: float = 30.0,
        question_weight: float = 1.0,
    ) -> RouterModel:
        """Train on ``data``; ``embeddings`` (n, dim) may be given to skip embedding.

        ``prune="pareto"`` never routes to a tier that, on the training data, is both
        dearer and worse on average than another tier (its per-prompt wins are mostly
        noise); ``"none"`` keeps every tier. ``guard_z`` (``ridge_guarded``): how many
        standard errors below its measured advantage a tier's advantage is capped (1.2816:
        a one-sided 90% lower bound).

        ``group_cols`` (``ridge`` kinds): the last this many columns of the embeddings name a
        request's group (a template); the model learns a prior per group, shrunk towards the
        overall mean by ``group_shrink`` pseudo-rows, and the ridge fit learns the rest.
        ``question_weight`` (``ridge``): how much of what the ridge fit learns is added to the
        prior (0: the per-template table alone, no ridge fit; see :meth:`with_question_weight`).
        """
        if str(kind) == "knn":
            raise ConfigurationError(
                "the 'knn' router was removed (it did not keep its quality promise on the "
                "development sets); use kind='ridge', the default."
            )
        if len(data) < 2:
            raise ConfigurationError(f"need at least 2 training rows, got {len(data)}.")
        emb = embeddings if embeddings is not None else embed_texts(embedder, data.prompts)
        emb = np.asarray(emb, dtype=np.float32)
        if emb.shape[0] != len(data):
            raise ConfigurationError(f"embeddings have {emb.shape[0]} rows for {len(data)} prompts.")
        q = data.quality.astype(np.float32)
        c = data.cost.astype(np.float32)
        mq, mc = data.tier_quality(), data.tier_cost()
        if prune == "pareto":
            active = np.array(
                [
                    not np.any((mq >= mq[t]) & (mc <= mc[t]) & ((mq > mq[t]) | (mc < mc[t])))
                    for t in range(len(data.tiers))
                ]
            )
        elif prune == "none":
            active = np.ones(len(data.tiers), dtype=bool)
        else:
            raise ConfigurationError(f"prune must be 'pareto' or 'none', got {prune!r}.")
        info = {
            "trained_rows": len(data),
            "active_tiers": [t for t, a in zip(data.tiers, active) if a],
            "source": data.source,
            "tier_mean_quality": data.tier_quality().tolist(),
            "tier_mean_cost": data.tier_cost().tolist(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if kind == "logistic":
            x = emb.astype(np.float64)
            ws, bs = [], []
            for t in range(len(data.tiers)):
                w, b = _fit_logistic(x, q[:, t].astype(np.float64), l2)
                ws.append(w)
                bs.append(b)
            # Ridge regression for costs (closed form).
            xb = np.hstack([x, np.ones((len(x), 1))])
            reg = np.eye(xb.shape[1]) * l2
            reg[-1, -1] = 0.0
            wc = np.linalg.solve(xb.T @ xb + reg, xb.T @ c.astype(np.float64))
            arrays = {
                "w": np.array(ws, dtype=np.float32),
                "b": np.array(bs, dtype=np.float32),
                "wc": wc.astype(np.float32),
                "prior_c": c.mean(axis=0),
                "active": active,
            }
            params = {"l2": float(l2)}
        elif kind in ("ridge", "ridge_guarded"):
            if not l2_grid or any(v <= 0 for v in l2_grid):
                raise ConfigurationError(f"l2_grid must hold positive values, got {list(l2_grid)}.")
            if not 0.0 <= question_weight <= 1.0 or (kind != "ridge" and question_weight != 1.0):
                raise ConfigurationError(
                    f"question_weight must be in [0, 1] (and 1 unless kind='ridge'), got {question_weight}."
                )
            if group_cols < 0 or group_cols > emb.shape[1] or not group_shrink > 0:
                raise ConfigurationError(
                    f"group_cols must be in [0, {emb.shape[1]}] and group_shrink > 0, got "
                    f"{group_cols} and {group_shrink}."
                )
            x = emb.astype(np.float64)
            qy, cy = q.astype(np.float64), c.astype(np.float64)
            group: dict[str, np.ndarray] = {}
            pq = np.zeros_like(qy)
            if group_cols:
                keys = x[:, -group_cols:]
                gkey, gq, gc = group_priors(keys, qy, cy, group_shrink)
                group = {
                    "gkey": gkey,
                    "gq": gq,
                    "gc": gc,
                    "gq_all": qy.mean(axis=0),
                    "gc_all": cy.mean(axis=0),
                }
                pq = _prior_of(keys, gkey, gq, group["gq_all"])
                qy, cy = qy - pq, cy - _prior_of(keys, gkey, gc, group["gc_all"])
            if question_weight > 0.0:
                wq, mu, qm, l2q, q_loo = _fit_ridge_loo_preds(x, qy, l2_grid)
                q_loo = q_loo + pq
                wc, _, cm, l2c = _fit_ridge_loo(x, cy, l2_grid)
                if question_weight < 1.0:
                    wq, qm, wc, cm = (v * question_weight for v in (wq, qm, wc, cm))
            else:  # the template table alone: no ridge fit to pay for
                mu = x.mean(axis=0)
                wq, wc = np.zeros((x.shape[1], qy.shape[1])), np.zeros((x.shape[1], cy.shape[1]))
                qm, cm = np.zeros(qy.shape[1]), np.zeros(cy.shape[1])
                l2q = l2c = 0.0
            arrays = {
                "mu": mu.astype(np.float32),
                "wq": wq.astype(np.float32),
                "bq": qm.astype(np.float32),
                "wc": wc.astype(np.float32),
                "bc": cm.astype(np.float32),
                "active": active,
                **{k: v.astype(np.float32) for k, v in group.items()},
            }
            params = {"l2_quality": l2q, "l2_cost": l2c}
            if question_weight != 1.0:
                params["question_weight"] = float(question_weight)
            if group_cols:
                params.update(group_cols=int(group_cols), group_shrink=float(group_shrink))
                info["template_groups"] = len(group["gkey"])
            if kind == "ridge_guarded":
                if not guard_z >= 0:
                    raise ConfigurationError(f"guard_z must be >= 0, got {guard_z}.")
                # The reference: best mean quality among the routable tiers (ties: cheaper).
                ref = max((t for t in range(len(data.tiers)) if active[t]), key=lambda t: (mq[t], -mc[t]))
                caps = _advantage_caps(q.astype(np.float64), np.clip(q_loo, 0.0, 1.0), ref, active, guard_z)
                arrays["cap"] = caps.astype(np.float32)
                params.update(reference=int(ref), guard_z=float(guard_z))
                info["proven_advantage"] = {
                    data.tiers[t]: float(caps[t]) for t in range(len(caps)) if caps[t] > 0
                }
        else:
            raise ConfigurationError(
                f"unknown router kind {kind!r}; use 'ridge', 'ridge_guarded' or 'logistic'."
            )
        return cls(
            kind=kind,
            tiers=list(data.tiers),
            embedder_name=str(embedder.name),
            dim=int(emb.shape[1]),
            arrays=arrays,
            params=params,
            info=info,
        )

    # -- prediction ------------------------------------------------------------------------
    # -- cross-fitting -------------------------------------------------------------------------
    @property
    def n_folds(self) -> int:
        """How many cross-fitted models this router holds (0: one model fitted on all rows)."""
        return int(self.params.get("folds") or 0)

    def fold_model(self, k: int) -> RouterModel:
        """The ``k``-th cross-fitted model (fitted without the rows of fold ``k``)."""
        cache = self.__dict__.setdefault("_fold_cache", {})
        if k not in cache:
            prefix = f"f{k}."
            arrays = {name[len(prefix) :]: v for name, v in self.arrays.items() if name.startswith(prefix)}
            params = dict(self.params.get("fold_params", [{}] * self.n_folds)[k])
            cache[k] = RouterModel(
                kind=self.kind,
                tiers=self.tiers,
                embedder_name=self.embedder_name,
                dim=self.dim,
                arrays=arrays,
                params=params,
            )
        return cache[k]  # type: ignore[no-any-return]

    def _fold_names(self) -> list[str]:
        return [f"f{k}." for k in range(self.n_folds)] if self.n_folds else [""]

    def with_question_weight(self, weight: float) -> RouterModel:
        """A copy of this ``ridge`` router whose question part counts ``weight`` times (0-1):
        a blend of its predictions with its template prior (the per-template table)."""
        if self.kind != "ridge" or not 0.0 <= weight <= 1.0:
            raise ConfigurationError(
                f"only a 'ridge' router takes a question weight in [0, 1], got {weight}."
            )
        arrays = dict(self.arrays)
        for pre in self._fold_names():
            for name in ("wq", "bq", "wc", "bc"):
                arrays[pre + name] = (self.arrays[pre + name] * np.float32(weight)).astype(np.float32)
        params = json.loads(json.dumps(self.params))
        for p in params.get("fold_params") or [params]:
            p["question_weight"] = float(p.get("question_weight", 1.0)) * weight
        return RouterModel(
            self.kind, self.tiers, self.embedder_name, self.dim, arrays, params, dict(self.info)
        )

    def with_tiers(self, tiers: Sequence[str]) -> RouterModel:
        """A copy of this router that routes only to ``tiers`` (the others are never chosen)."""
        unknown = [t for t in tiers if t not in self.tiers]
        if unknown or not tiers:
            raise ConfigurationError(f"tiers {list(tiers)} must be some of the router's {self.tiers}.")
        active = np.array([t in tiers for t in self.tiers])
        arrays = dict(self.arrays)
        for pre in self._fold_names():
            arrays[pre + "active"] = active & self.arrays.get(pre + "active", active)
        info = dict(self.info, active_tiers=[t for t in self.tiers if t in tiers])
        return RouterModel(
            self.kind, self.tiers, self.embedder_name, self.dim, arrays, dict(self.params), info
        )

    @classmethod
    def cross_fit(
        cls,
        data: OutcomeDataset,
        embedder: Embedder,
        features: np.ndarray,
        *,
        folds: int = 5,
        kind: Literal["logistic", "ridge", "ridge_guarded"] = "ridge",
        **fit_kwargs: Any,
    ) -> tuple[RouterModel, np.ndarray, np.ndarray]:
        """Fit one model per fold on the other folds' rows; return the router holding all of
        them and every row's prediction by the model that did not see it.

        A row's fold is :func:`fold_of` its prompt, and a new request is answered by the model
        of its own fold, so the held-out predictions are draws of exactly what the saved
        router does on unseen requests: an operating point calibrated on them is the one
        the file delivers.
        """
        if folds < 2:
            raise ConfigurationError(f"folds must be at least 2, got {folds}.")
        assign = np.array([fold_of(p, folds) for p in data.prompts])
        sizes = np.bincount(assign, minlength=folds)
        if np.any(sizes == 0) or np.any(len(data) - sizes < 2):
            raise ConfigurationError(
                f"{len(data)} rows are too few for {folds} cross-fitting folds; "
                "give more outcomes or fewer folds."
            )
        q = np.zeros(data.quality.shape)
        c = np.zeros(data.cost.shape)
        arrays: dict[str, np.ndarray] = {}
        fold_params = []
        infos = []
        for k in range(folds):
            tr, te = np.nonzero(assign != k)[0], np.nonzero(assign == k)[0]
            m = cls.fit(data.subset(tr), embedder, kind=kind, embeddings=features[tr], **fit_kwargs)
            q[te], c[te] = m.predict(features[te])
            arrays.update({f"f{k}.{name}": v for name, v in m.arrays.items()})
            fold_params.append(m.params)
            infos.append(m.info)
        params = {"folds": folds, "fold_params": fold_params}
        info = {"fold_rows": sizes.tolist(), "fold_info": infos}
        return (
            cls(
                kind=kind,
                tiers=list(data.tiers),
                embedder_name=str(embedder.name),
                dim=int(features.shape[1]),
                arrays=arrays,
                params=params,
                info=info,
            ),
            q,
            c,
        )

    def predict(
        self, emb: np.ndarray, folds: Sequence[int] | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(quality, cost)`` predictions, each (n, tiers), for embeddings (n, dim).
        A pruned tier's quality is -1 (never chosen). A cross-fitted router answers each
        row with the model of its fold (``folds``, see :func:`fold_of`); without ``folds``
        it averages its models."""
        emb = np.asarray(emb, dtype=np.float32)
        if emb.ndim == 1:
            emb = emb[None, :]
        if emb.shape[1] != self.dim:
            raise ConfigurationError(f"embedding dim {emb.shape[1]} != router dim {self.dim}.")
        if self.n_folds:
            outs = [self.fold_model(k) for k in range(self.n_folds)]
            if folds is None:
                preds = [m.predict(emb) for m in outs]
                return np.mean([p[0] for p in preds], axis=0), np.mean([p[1] for p in preds], axis=0)
            folds = np.asarray(folds, dtype=np.int64)
            q = np.zeros((len(emb), len(self.tiers)))
            c = np.zeros((len(emb), len(self.tiers)))
            for k in np.unique(folds):
                rows = np.nonzero(folds == k)[0]
                q[rows], c[rows] = outs[int(k)].predict(emb[rows])
            return q, c
        a = self.arrays
        if self.kind in ("ridge", "ridge_guarded"):
            x = emb - a["mu"]
            q, c = x @ a["wq"] + a["bq"], x @ a["wc"] + a["bc"]
            if "gkey" in a:
                keys = emb[:, -a["gkey"].shape[1] :]
                q = q + _prior_of(keys, a["gkey"], a["gq"], a["gq_all"])
                c = c + _prior_of(keys, a["gkey"], a["gc"], a["gc_all"])
            q = np.clip(q, 0.0, 1.0)
            c = np.maximum(c, 0.0)
            if self.kind == "ridge_guarded":
                ref = int(self.params["reference"])
                cap = np.where(a["cap"] > 0, a["cap"], -_BELOW_REFERENCE)
                limit = q[:, ref : ref + 1] + cap[None, :]
                limit[:, ref] = q[:, ref]
                q = np.minimum(q, limit)
        else:
            q = _sigmoid(emb @ a["w"].T + a["b"])
            xb = np.hstack([emb, np.ones((len(emb), 1), dtype=np.float32)])
            c = np.maximum(xb @ a["wc"], 0.0)
        if "active" in a and not a["active"].all():
            q = np.where(a["active"][None, :], q, -1.0)  # a pruned tier is never worth choosing
        return q, c

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``router.npz`` and ``router.json`` into ``directory`` (created).

        The pair is replaced as one: the new arrays are staged under their checksum's name,
        then ``router.json`` is renamed into place (the moment the new router counts), then
        the arrays. A reader, or a save cut short, sees the old router or the new one, never
        the json of one with the arrays of the other (:meth:`load` finds the staged arrays
        until they are renamed)."""
        d = Path(directory)
        try:
            d.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ConfigurationError(f"{d} is a file: give a directory to save the router in.") from None
        arrays: dict[str, Any] = {k: np.ascontiguousarray(v) for k, v in self.arrays.items()}
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        data = buf.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        meta = {
            # Without template priors (in no fold) the file is what version 2 readers read right.
            "format_version": FORMAT_VERSION if any(k.split(".")[-1] == "gkey" for k in arrays) else 2,
            "kind": self.kind,
            "tiers": self.tiers,
            "embedder": {"name": self.embedder_name, "dim": self.dim},
            "params": self.params,
            "info": self.info,
            "arrays_sha256": digest,
        }
        staged = _staged(d, digest)
        replace_file(staged, data)
        replace_file(d / "router.json", json.dumps(meta, indent=2).encode("utf-8"))
        os.replace(staged, d / "router.npz")
        return d

    @staticmethod
    def _read_meta(jpath: Path) -> dict[str, Any]:
        """``router.json``, checked to be a router description this version reads."""
        try:
            meta = json.loads(jpath.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RouterModelError(f"{jpath} is not valid JSON: {exc.msg}.") from None
        except UnicodeDecodeError:
            raise RouterModelError(f"{jpath} is not valid JSON: it is not UTF-8 text.") from None
        if not isinstance(meta, dict):
            raise RouterModelError(
                f"{jpath} does not describe a router (expected a JSON object); restore the file "
                "written by `llm-cost route train` or retrain."
            )
        version = meta.get("format_version")
        if isinstance(version, int) and version > FORMAT_VERSION:
            raise RouterModelError(
                f"{jpath}: format_version {version} was written by a newer version of llm-cost-hooks "
                f"(this one reads {_READABLE_VERSIONS}); upgrade llm-cost-hooks, or retrain with this version."
            )
        if version not in _READABLE_VERSIONS:
            raise RouterModelError(
                f"{jpath}: format_version {version!r}, expected one of "
                f"{_READABLE_VERSIONS}; retrain with this version of llm-cost-hooks."
            )
        return meta

    @classmethod
    def _read_pair(cls, jpath: Path, npath: Path) -> tuple[dict[str, Any], bytes]:
        """``router.json`` and the arrays its checksum names. While a save is under way the
        arrays may still be staged, or already the next save's: then both are read again."""
        for attempt in range(_PAIR_READS):
            meta = cls._read_meta(jpath)
            want = meta.get("arrays_sha256")
            raw = npath.read_bytes()
            if not want or hashlib.sha256(raw).hexdigest() == want:
                return meta, raw
            try:
                raw = _staged(npath.parent, str(want)).read_bytes()
            except OSError:
                pass
            else:
                if hashlib.sha256(raw).hexdigest() == want:
                    return meta, raw
            time.sleep(0.001 * attempt)
        raise RouterModelError(
            f"{npath} does not match the checksum in {jpath}; retrain or restore both files."
        )

    @classmethod
    def load(cls, directory: str | Path, *, embedder: Embedder | None = None) -> RouterModel:
        """Load a saved router; with ``embedder``, check it is the one it was trained with.

        Any file this version cannot use (damaged, edited, older or newer) raises
        :class:`RouterModelError` saying what to do; nothing in it is executed (no pickle)."""
        d = Path(directory)
        if d.is_file() and d.name in ("router.json", "router.npz"):
            d = d.parent  # the path of one of its two files names the router too
        jpath, npath = d / "router.json", d / "router.npz"
        for p in (jpath, npath):
            if not p.is_file():
                raise RouterModelError(
                    f"{p} is missing; train one with `llm-cost route train DATA --out {d}`."
                )
        meta, raw = cls._read_pair(jpath, npath)
        if meta.get("kind") not in ("logistic", "ridge", "ridge_guarded"):
            raise RouterModelError(
                f"{jpath}: router kind {meta.get('kind')!r} is not supported by this version "
                "(kNN routers were removed; 'ridge' replaces them); retrain with `llm-cost route train`."
            )
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except ValueError as exc:
            if "allow_pickle" not in str(exc):
                raise RouterModelError(
                    f"{npath} cannot be read ({exc}); retrain or restore both files."
                ) from None
            raise RouterModelError(
                f"{npath} holds Python objects, which are never loaded (they would need pickle); "
                "retrain with `llm-cost route train`."
            ) from None
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise RouterModelError(
                f"{npath} cannot be read ({exc}); retrain or restore both files."
            ) from None
        emb_meta = meta.get("embedder") or {}
        if embedder is not None and isinstance(emb_meta, dict) and emb_meta.get("name") != embedder.name:
            raise RouterModelError(
                f"router in {d} was trained with embedder {emb_meta.get('name')!r} but "
                f"{embedder.name!r} was given; use the same embedder or retrain."
            )
        try:
            model = cls._from_saved(meta, arrays)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            # A file edited by hand or cut short: numpy's and json's own messages say nothing
            # about what to do.
            raise RouterModelError(
                f"{d}: router.json and router.npz do not describe a router this version can use "
                f"({type(exc).__name__}: {exc}); retrain with `llm-cost route train` or restore both files."
            ) from None
        return model

    @classmethod
    def _from_saved(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> RouterModel:
        """The router ``meta`` and ``arrays`` describe, checked end to end: every fold
        predicts one quality and one cost per tier, and the operating point reads."""
        from ._strategies import OperatingPoint

        tiers = meta["tiers"]
        if not isinstance(tiers, list) or len(tiers) < 1 or not all(isinstance(t, str) for t in tiers):
            raise TypeError(f"tiers must be a list of model names, got {tiers!r}")
        if len(set(tiers)) != len(tiers):
            raise ValueError(f"tiers repeat a name: {tiers}")
        emb_meta = meta.get("embedder") or {}
        model = cls(
            kind=meta["kind"],
            tiers=list(tiers),
            embedder_name=str(emb_meta.get("name", "")),
            dim=int(emb_meta.get("dim", 0)),
            arrays=arrays,
            params=dict(meta.get("params") or {}),
            info=dict(meta.get("info") or {}),
        )
        if model.n_folds:
            saved = {name.split(".", 1)[0] for name in arrays if name[:1] == "f" and "." in name}
            if saved != {f"f{k}" for k in range(model.n_folds)}:
                raise ValueError(f"params.folds is {model.n_folds} but the arrays hold folds {sorted(saved)}")
        probe = np.zeros((1, model.dim), dtype=np.float32)
        for k in range(model.n_folds) if model.n_folds else [None]:
            q, c = model.predict(probe, None if k is None else [k])
            if q.shape != (1, len(tiers)) or c.shape != (1, len(tiers)) or not np.isfinite(q).all():
                raise ValueError(f"the arrays give {q.shape[1]} predictions for {len(tiers)} tiers")
        model.__dict__.pop("_fold_cache", None)
        if _TEXT_KEY in arrays:
            _ = model.selector
        cal = model.info.get("operating_point")
        if cal is not None:
            OperatingPoint(**cal)
            float(cal["knob"])
        return model
